"""The web app: upload a photo, pick a trained style, get the result and download it.

``create_app`` builds the Flask app: the models are loaded once here and kept; the forms are in
``views``, what the site serves back (progress, results, thumbnails) in ``served``, the styles in
``catalog``, stylising (bounded) in ``stylist``, results in ``store``, visitors' clips in ``clips``;
the optional slow tab (a queued Gatys transfer into a painting) in ``paintings`` and ``jobs``;
the region painter's proposed masks in ``regions`` (its script is ``static/paint.js``).
``stylesnake serve`` runs it on Werkzeug's threaded server; in production run it under gunicorn
(``gunicorn 'pipeline.web:create_app(models="results/fast")'``, see docs/guides/web.md).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import InputError, option
from pipeline.web.settings import Settings, WebState

if TYPE_CHECKING:  # Flask and torch load in create_app: `stylesnake serve --help` stays quick
    from flask import Flask

    from pipeline.masks.parsers import Parser
    from pipeline.masks.semantic import Groups
    from pipeline.web.catalog import Style
    from pipeline.web.jobs import Jobs
    from pipeline.web.paintings import Painting
    from pipeline.web.store import ResultStore

log = logging.getLogger(__name__)

#: Every page: no MIME sniffing, no framing (clickjacking), and only our own images, CSS, form
#: target and scripts: the region painter (static/paint.js, from our origin, never inline) and
#: its calls to /propose. The pages work without it: the painter only adds to the mask upload.
#: ``media-src blob:`` lets the painter decode a chosen clip's first frame in the page itself.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; media-src 'self' blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
}


def create_app(
    models: str | os.PathLike[str] | None = None,
    *,
    results: str | os.PathLike[str] | None = None,
    paintings: str | os.PathLike[str] | None = None,
    painting_masks: str | os.PathLike[str] | None = None,
    weights: str | os.PathLike[str] = "imagenet",
    semantic: str | os.PathLike[str] | None = None,
    groups: str | os.PathLike[str] | None = None,
    **settings: float,
) -> Flask:
    """The app serving every model in ``models`` (default: the workflow's ``results/fast``) on its
    fast tab, keeping results under ``results`` (default: a folder in the system's temp dir shared by all
    of this user's processes). ``settings`` override :class:`Settings` fields.

    With ``paintings`` (a folder of style images, e.g. the workflow's ``images/style``; masks in
    ``painting_masks``, default ``results/masks/style``) the app also has a slow tab: a queued
    Gatys transfer on VGG-19 ``weights``. If those weights cannot be loaded the tab says so.
    ``semantic`` (a scene parser, see :func:`pipeline.masks.parsers.load_parser`) makes the region
    painter's proposals named groups (sky, water, …) of the table ``groups`` (default ours, see
    :func:`pipeline.masks.semantic.load_groups`); loaded at start, an :class:`InputError` if it
    cannot be.
    Where instant style's networks are installed every site has the "your own painting" tab. A
    site may have any one tab alone; with none (no models, no paintings, no networks) it is an
    :class:`InputError`."""
    # Flask, torch and the models load here, not on import (`stylesnake serve --help` stays quick).
    from pipeline.arbitrary.networks import installed
    from pipeline.web import own, views  # noqa: F401  (own's routes join the blueprint)
    from pipeline.web.catalog import DEFAULT_MODELS, load_styles
    from pipeline.web.paintings import DEFAULT_MASKS, load_paintings
    from pipeline.web.store import ResultStore
    from pipeline.web.stylist import Stylist

    config = Settings(**settings)  # type: ignore[arg-type]
    _log_like_gunicorn()
    app = _flask(config)
    styles = load_styles(Path(models) if models is not None else DEFAULT_MODELS)  # first: the fast tab is the site
    store = ResultStore(results, ttl=config.ttl)
    found = load_paintings(paintings, painting_masks or DEFAULT_MASKS) if paintings is not None else {}
    instant = installed()
    _say_what_is_served(styles, found, Path(models) if models is not None else DEFAULT_MODELS, paintings, instant)
    parser = _semantic(semantic, groups)
    jobs, unavailable = _slow_jobs(store, config, weights) if found else (None, None)
    web = WebState(
        styles=styles,
        store=store,
        stylist=Stylist(slots=config.slots, wait=config.wait, max_pixels=config.max_pixels),
        settings=config,
        paintings=found,
        jobs=jobs,
        slow_unavailable=unavailable,
        semantic=parser,
        clips=_clip_jobs(store, config) if styles else None,
        instant=instant,
    )
    app.extensions["stylesnake"] = web
    # Every page's header links the tabs, when there are two.
    app.context_processor(
        lambda: {"slow_tab": bool(web.paintings), "fast_tab": bool(web.styles), "own_tab": web.instant}
    )
    app.register_blueprint(views.bp)
    views.register_errors(app)
    log.info("serving %d style(s); results kept %g s in %s", len(web.styles), config.ttl, web.store.root)
    if jobs is not None:
        log.info("slow tab: %d painting(s), %d evaluations per job", len(found), config.slow_steps)
    return app


def _flask(config: Settings) -> Flask:
    """The bare Flask app: its request limit, no tracebacks, and :data:`SECURITY_HEADERS` on every page."""
    from flask import Flask, Response

    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=int(config.max_upload_mb * 1024 * 1024),
        # Never show a traceback, whatever FLASK_DEBUG says: errors become our 500 page.
        PROPAGATE_EXCEPTIONS=False,
        TRAP_HTTP_EXCEPTIONS=False,
    )

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return app


def _say_what_is_served(
    styles: dict[str, Style],
    found: dict[str, Painting],
    models: Path,
    paintings: str | os.PathLike[str] | None,
    instant: bool,
) -> None:
    """Say which tabs the site has; with none (no models, no paintings, no instant networks), an
    :class:`InputError`."""
    fast = f"no fast-style models (*.pth) in {models}" if models.is_dir() else f"no such models folder {models}"
    if not styles and not found and not instant:
        slow = f", no paintings in {paintings}" if paintings is not None else ""
        raise InputError(
            f"nothing to serve: {fast}{slow}; train styles with the workflow (results/fast/), "
            f"give {option('models')} (the fast tab) or {option('paintings')} (the slow tab), "
            "or pip install 'stylesnake[instant]' (any painting, the \"your own painting\" tab)"
        )
    if paintings is not None and not found:
        log.info("no paintings in %s: no slow tab", paintings)
    if not styles:
        log.info("%s: %s", fast, "the slow tab" if found else 'the "your own painting" tab only')


def _semantic(
    semantic: str | os.PathLike[str] | None, groups: str | os.PathLike[str] | None
) -> tuple[Parser, Groups] | None:
    """``--semantic``'s parser and ``--groups``' table (the table first: reading it is cheap, and a
    mistake in it is better said before a parser of hundreds of MB loads)."""
    if semantic is None:
        if groups is not None:
            raise InputError(f"{option('groups')} only works with {option('semantic')}")
        return None
    from pipeline.masks.parsers import load_parser  # loaded with the app
    from pipeline.masks.semantic import load_groups  # loaded with the app

    table = load_groups(groups)
    return load_parser(semantic), table


def _slow_jobs(store: ResultStore, config: Settings, weights: str | os.PathLike[str]) -> tuple[Jobs | None, str | None]:
    """The slow tab's job queue, or None and why not (its VGG-19 ``weights`` cannot be loaded)."""
    from pipeline.core.features import load_weights  # loaded with the app
    from pipeline.web.jobs import Jobs, gatys_runner  # loaded with the app

    try:
        load_weights(weights)  # once, now: a missing download should not wait for the first job
        return Jobs(store.root / "jobs", store, gatys_runner(weights, config.slow_steps),
                    max_pending=config.slow_pending, ttl=config.ttl), None  # fmt: skip
    except InputError as exc:
        log.warning("the slow tab is off: %s", exc)
        return None, str(exc)


def _clip_jobs(store: ResultStore, config: Settings) -> Jobs:
    """The fast tab's queue of clips, each painted by the style's network."""
    from pipeline.web.clips import clip_runner  # loaded with the app
    from pipeline.web.jobs import Jobs  # loaded with the app

    return Jobs(
        store.root / "clips", store, clip_runner(), max_pending=config.clip_pending, ttl=config.ttl, kind="clip"
    )


def _log_like_gunicorn() -> None:
    """Under gunicorn nobody configures our logger (``stylesnake serve`` does): send its records,
    tracebacks of crashed requests included, to gunicorn's error log at gunicorn's level."""
    ours, theirs = logging.getLogger("pipeline"), logging.getLogger("gunicorn.error")
    if not ours.handlers and theirs.handlers:
        ours.handlers[:] = theirs.handlers
        ours.setLevel(theirs.level)
        ours.propagate = False


def state(app: Flask) -> WebState:
    """The app's styles, results store, stylist and settings."""
    return app.extensions["stylesnake"]
