"""The web app under a burst: N uploads at once, each checked end to end (redirect, result page,
PNG download of the right size); prints requests, failures and the p50/p95 latency. The uploads
and their checks are ``pipeline/web/loadtest.py``.

Without ``--url`` it serves the app itself on 127.0.0.1 (Werkzeug's threaded server, as
``stylesnake serve`` does) from ``--models``, or from a freshly made random model of full width
(the speed of a network does not depend on its weights). With ``--url`` it loads a server that is
already running there, e.g. gunicorn as README starts it; aim it only at your own machine.

    python benchmarks/bench_web.py                          # 16 at once, 256 px, 2 slots
    python benchmarks/bench_web.py --requests 64 --concurrency 16 --size 512 --slots 2
    python benchmarks/bench_web.py --url http://127.0.0.1:8000 --style starry_night
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import threading
from pathlib import Path

from pipeline.web import loadtest


def random_model(folder: Path) -> None:
    import torch
    from PIL import Image

    from pipeline.fast import model as fast_model
    from pipeline.fast.network import TransformerNet

    torch.manual_seed(0)
    network = TransformerNet(width=1.0).eval()
    thumbnail = fast_model.thumbnail_of(Image.new("RGB", (64, 64), (90, 120, 200)))
    fast_model.save(
        fast_model.FastModel(network, "random", thumbnail, {"weights": {"kind": "random"}}), folder / "random.pth"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server to load (default: serve one here)")
    parser.add_argument("--models", type=Path, help="models folder to serve (default: one random full-width model)")
    parser.add_argument("--style", help="style key to use (default: the first served)")
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--size", type=int, default=256, help="output size asked for (long side, px)")
    parser.add_argument("--slots", type=int, default=2, help="stylisations at once (served here only)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request otherwise

    with tempfile.TemporaryDirectory() as tmp:
        server = None
        if args.url:
            url, style = args.url.rstrip("/"), args.style
            if style is None:
                parser.error("--style is needed with --url")
        else:
            from werkzeug.serving import make_server

            from pipeline.web import create_app, state

            models = args.models
            if models is None:
                models = Path(tmp) / "models"
                models.mkdir()
                random_model(models)
            max_side = max(1024, args.size)
            app = create_app(models, results=Path(tmp) / "results", slots=args.slots, max_side=max_side)
            style = args.style or next(iter(state(app).styles))
            server = make_server("127.0.0.1", 0, app, threaded=True)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            url = f"http://127.0.0.1:{server.server_port}"
        try:
            report = loadtest.run(url, style, requests=args.requests, concurrency=args.concurrency, size=args.size)
        finally:
            if server is not None:
                server.shutdown()
    where = args.url or f"this process ({args.slots} slots)"
    print(f"{args.requests} uploads, {args.concurrency} at once, {args.size} px, style {style}, served by {where}")
    print(report.summary())
    for error in report.errors[:5]:
        print(f"  {error}")


if __name__ == "__main__":
    main()
