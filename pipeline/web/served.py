"""What the site serves back: a queued job's progress (``/job/<id>``, with the newest snapshot at
``/job/<id>/latest.png``), a result's page, images, clip and download (``/result/<id>``), and the
thumbnails of styles and paintings."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, redirect, render_template, send_file, url_for
from werkzeug.wrappers import Response as BaseResponse

from pipeline.web.blueprint import bp
from pipeline.web.blueprint import state as _web
from pipeline.web.store import Result


def _job_status(jid: str) -> tuple[Any, dict[str, Any] | None]:
    """The queue that knows the job (slow transfers, or clips) and its status."""
    for jobs in (_web().jobs, _web().clips):
        status = jobs.status(jid) if jobs is not None else None
        if status is not None:
            return jobs, status
    return None, None


@bp.get("/job/<jid>")
def job(jid: str) -> BaseResponse:
    jobs, status = _job_status(jid)
    if status is None:
        abort(404, description="This job does not exist, or it ended a while ago (results are kept for a while only).")
    if status["state"] == "done":
        return redirect(url_for("web.result", rid=status["result"]), code=303)
    snapshot = jobs.snapshot(jid) if status["state"] == "running" else None
    html = render_template("job.html", status=status, jid=jid, snapshot=snapshot[1] if snapshot else None)
    response = Response(html, status=200)
    response.headers["Cache-Control"] = "no-store"  # the page changes until the job is done
    return response


@bp.get("/job/<jid>/latest.png")
def job_snapshot(jid: str) -> Response:
    """The running job's newest snapshot: the photo as painted so far."""
    web = _web()
    snapshot = web.jobs.snapshot(jid) if web.jobs is not None else None
    if snapshot is None:
        abort(404, description="This job has no picture yet, or it has ended.")
    response = Response(snapshot[0], mimetype="image/png")
    response.headers["Cache-Control"] = "no-store"  # a newer one comes with every round
    return response


@bp.get("/paintings/<key>.png")
def painting_thumbnail(key: str) -> Response:
    painting = _web().paintings.get(key)
    if painting is None:
        abort(404, description="There is no such painting.")
    return _png(painting.thumbnail_png)


@bp.get("/paintings/<key>/mask.png")
def painting_mask(key: str) -> Response:
    painting = _web().paintings.get(key)
    if painting is None or painting.mask_png is None:
        abort(404, description="There is no such painting, or it has no mask.")
    return _png(painting.mask_png)


def _png(data: bytes) -> Response:
    response = Response(data, mimetype="image/png")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


# --- results ------------------------------------------------------------------------------------------


def _result_or_404(rid: str) -> Result:
    result = _web().store.get(rid)
    if result is None:
        abort(404, description="This result does not exist, or it has expired (results are kept for a while only).")
    return result


@bp.get("/result/<rid>")
def result(rid: str) -> str:
    found = _result_or_404(rid)
    return render_template("result.html", result=found, meta=found.meta, ttl_minutes=round(_web().settings.ttl / 60))


@bp.get("/result/<rid>/<any(original, result):which>.png")
def result_image(rid: str, which: str) -> Response:
    found = _result_or_404(rid)
    response = send_file(found.file(f"{which}.png"), mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=300"  # one visitor's photo: no shared caches
    return response


@bp.get("/result/<rid>/result.mp4")
def result_video(rid: str) -> Response:
    found = _result_or_404(rid)
    if found.meta.get("kind") != "clip":
        abort(404, description="This result is a picture, not a clip.")
    # conditional: Range requests, so a browser can seek and start playing before the end arrives.
    response = send_file(found.file("result.mp4"), mimetype="video/mp4", conditional=True)
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.get("/result/<rid>/download")
def download(rid: str) -> Response:
    found = _result_or_404(rid)
    clip = found.meta.get("kind") == "clip"
    name = f"{found.meta.get('photo', 'photo')}-{found.meta.get('style', 'style')}.{'mp4' if clip else 'png'}"
    file, mimetype = ("result.mp4", "video/mp4") if clip else ("result.png", "image/png")
    return send_file(found.file(file), mimetype=mimetype, as_attachment=True, download_name=name)


@bp.get("/styles/<key>.png")
def thumbnail(key: str) -> Response:
    style = _web().styles.get(key)
    if style is None:
        abort(404, description="There is no such style.")
    return _png(style.thumbnail_png)
