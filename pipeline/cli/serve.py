"""The web app's verb: ``serve``."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
from typing import Any

from pipeline.cli.options import Help, add, add_verbosity
from pipeline.errors import InputError
from pipeline.web.settings import Settings

log = logging.getLogger("pipeline")


def register(verbs: Any, *, full: bool) -> None:
    from pipeline.workflow import Paths  # loads the paths alone (the workflow package is lazy)

    sv = verbs.add_parser(
        "serve",
        help="the web app: upload a photo, pick a trained style, download the result",
        description="Serve every fast-style model in --models on a web page (Werkzeug's threaded server; "
        "for production run gunicorn, see docs/guides/web.md). Binds 127.0.0.1 unless told otherwise.",
        formatter_class=Help,
    )
    add_verbosity(sv)
    d = Settings()
    sv.add_argument("--models", default=Paths.models, metavar="DIR", help="folder of model files (*.pth)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    sv.add_argument("--port", type=int, default=8000, help="port to listen on")
    sv.add_argument(
        "--results",
        default=None,
        metavar="DIR",
        help="folder for results (default: stylesnake-web-UID in the temp folder)",
    )
    sv.add_argument("--max-side", type=int, default=d.max_side, help="largest output long side, px")
    sv.add_argument("--max-upload-mb", type=float, default=d.max_upload_mb, help="largest request (photo + mask), MB")
    add(sv, "max_pixels", help="refuse uploads that decode to more pixels", default=d.max_pixels)
    sv.add_argument("--slots", type=int, default=d.slots, help="stylisations at once (more wait their turn)")
    sv.add_argument("--ttl", type=float, default=d.ttl, help="seconds a result is kept")
    slow = sv.add_argument_group("the slow tab (a queued Gatys transfer into a painting; off without paintings)")
    slow.add_argument(
        "--paintings", default=Paths.images.format(kind="style"), metavar="DIR", help="folder of style images"
    )
    slow.add_argument(
        "--painting-masks",
        default=Paths.masks.format(kind="style"),
        metavar="DIR",
        help="their cleaned masks, same stems",
    )
    add(slow, "weights")
    slow.add_argument("--slow-steps", type=int, default=d.slow_steps, help="loss evaluations per slow job")
    slow.add_argument("--slow-max-side", type=int, default=d.slow_max_side, help="largest slow output long side, px")
    clips = sv.add_argument_group("clips on the fast tab (painted frame by frame by the style's network, queued)")
    clips.add_argument("--clip-seconds", type=float, default=d.clip_seconds, help="longest clip, seconds")
    clips.add_argument("--clip-side", type=int, default=d.clip_side, help="largest long side of a clip's frames, px")
    sv.add_argument(
        "--semantic",
        nargs="?",
        const="upernet-convnext-tiny",
        metavar="MODEL",
        help="the region painter proposes named regions (sky, water, ...) from a scene parser (as propose-mask)",
    )
    sv.add_argument(
        "--groups", metavar="FILE", help="with --semantic: the group table (default: pipeline/masks/groups.yaml)"
    )
    sv.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from pipeline.web import create_app  # Flask: for serve only

    listener = _listen(args.host, args.port)  # first: a busy port is known before the models load
    with listener:  # the server works on its own copy of the socket
        app = create_app(
            args.models,
            results=args.results,
            max_side=args.max_side,
            max_upload_mb=args.max_upload_mb,
            max_pixels=args.max_pixels,
            slots=args.slots,
            ttl=args.ttl,
            paintings=args.paintings,
            painting_masks=args.painting_masks,
            weights=args.weights,
            slow_steps=args.slow_steps,
            slow_max_side=args.slow_max_side,
            clip_seconds=args.clip_seconds,
            clip_side=args.clip_side,
            semantic=args.semantic,
            groups=args.groups,
        )
        if args.verbosity < 0:
            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # its access log is INFO
        server = make_server(args.host, args.port, app, threaded=True, fd=listener.fileno())
    log.info("serving on http://%s:%d/ (Ctrl-C stops)", args.host, server.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopped")
    finally:
        server.server_close()
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port``, or an :class:`InputError` in one line. Werkzeug
    binds its own only to print two lines and exit 1 when that fails, so we bind and hand it over."""
    from werkzeug.serving import LISTEN_QUEUE, get_sockaddr, select_address_family

    if not 0 <= port <= 65535:
        raise InputError(f"--port {port} is not a port number; choose one from 1 to 65535 (0: any free port)")
    family = select_address_family(host, port)
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name != "nt" and family != getattr(socket, "AF_UNIX", None):
            # As Werkzeug's own server does: a restart need not wait out the old connections'
            # TIME_WAIT. (On Windows the option would let two servers share the port.)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(get_sockaddr(host, port, family))
        listener.listen(LISTEN_QUEUE)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise InputError(f"port {port} is in use on {host}; choose another with --port") from None
        raise InputError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); check --host and --port") from None
    return listener
