"""The forms and what they post: the fast tab (``/``, ``POST /stylize``: a photo, or a clip
queued), the slow tab (``/slow``, ``POST /slow``: queued), the region painter's proposed masks
(``POST /propose``), and every error page. What the site serves back (job progress, results,
thumbnails) is in :mod:`pipeline.web.served`."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path, PurePath
from typing import Any

from flask import (
    Flask,
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from PIL import Image
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.utils import secure_filename
from werkzeug.wrappers import Response as BaseResponse

from pipeline import io
from pipeline.errors import InputError
from pipeline.fast.model import labels_of
from pipeline.web import regions
from pipeline.web import served as _served  # noqa: F401  (its routes join the blueprint when the app imports these)
from pipeline.web.blueprint import bp
from pipeline.web.blueprint import state as _web
from pipeline.web.catalog import Style
from pipeline.web.clips import MAX_FPS, check_clip, spool
from pipeline.web.settings import STRENGTHS, WebState
from pipeline.web.stylist import Busy, decode_upload

log = logging.getLogger(__name__)


class FormError(Exception):
    """A mistake in the submitted form: the form is shown again with this sentence."""


def _form_page(*, error: str | None = None, status: int = 200, chosen: dict[str, Any] | None = None) -> Response:
    web = _web()
    sizes = web.settings.sizes()
    chosen = {**unchosen("style", sizes), **(chosen or {})}
    html = render_template(
        "index.html",
        styles=list(web.styles.values()),
        sizes=sizes,
        chosen=chosen,
        error=error,
        max_upload_mb=web.settings.max_upload_mb,
        max_side=web.settings.max_side,
        strengths=STRENGTHS,
        clip_seconds=web.settings.clip_seconds,
        clip_side=web.settings.clip_side,
        max_megapixels=web.settings.max_pixels / 1e6,
        max_fps=MAX_FPS,
    )
    return Response(html, status=status)


def unchosen(field: str, sizes: list[int]) -> dict[str, Any]:
    """A fresh form's choices: nothing picked in ``field``, 512 px (or the nearest size below),
    the full style strength."""
    size = max((s for s in sizes if s <= 512), default=sizes[0])
    return {field: None, "size": size, "keep_colours": False, "strength": 1.0}


def _chosen(field: str, options: Mapping[str, Any], sizes: list[int]) -> tuple[Any, int, dict[str, Any]]:
    """What the form asks for: the style or painting named in ``field`` (looked up in ``options``,
    never used as a path), the size (-1 when not a number), and the choices to show again should
    the form come back with an error."""
    form = request.form  # a body over the limit raises 413 here
    key = form.get(field, "")
    item = options.get(key)
    chosen: dict[str, Any] = {field: key if item else None, "keep_colours": form.get("keep_colours") == "on"}
    size = int(form["size"]) if form.get("size", "").isdigit() else -1
    if size in sizes:
        chosen["size"] = size
    return item, size, chosen


def _required(item: Any, field: str, size: int, sizes: list[int]) -> FileStorage:
    """The uploaded photo, once the form has a known ``field`` choice and an offered size."""
    if item is None:
        raise FormError(
            f"Please choose one of the {field}s shown." if request.form.get(field) else f"Please choose a {field}."
        )
    if size not in sizes:
        raise FormError("Please choose one of the output sizes offered.")
    photo = request.files.get("photo")
    if photo is None or not photo.filename:
        raise FormError("Please choose a photo to upload.")
    return photo


def _busy(response: Response) -> Response:
    response.status_code = 503
    response.headers["Retry-After"] = "30"
    return response


def _fast_tab_or_404() -> WebState:
    web = _web()
    if not web.styles:
        abort(404, description="This site has no fast styles; try its best-quality tab.")
    return web


@bp.get("/")
def index() -> BaseResponse:
    if not _web().styles:  # a site without the fast tab opens on the slow tab, else on the own-painting one
        return redirect(url_for("web.slow" if _web().paintings else "web.own"))
    return _form_page()


@bp.post("/stylize")
def stylize() -> BaseResponse:
    web = _fast_tab_or_404()
    style, size, chosen = _chosen("style", web.styles, web.settings.sizes())
    try:
        strength = chosen_strength(chosen)
        photo = _required(style, "style", size, web.settings.sizes())
        if not io.is_picture(photo.stream):  # a clip: queued, painted frame by frame (pipeline.web.clips)
            return _clip_job(web, style, photo, size, chosen, strength)
        mask = request.files.get("mask")
        has_mask = mask is not None and bool(mask.filename)
        made = web.stylist.stylize(
            style,
            photo.stream,
            size=size,
            keep_colours=chosen["keep_colours"],
            strength=strength,
            mask=mask.stream if mask is not None and has_mask and style.guided else None,
        )
    except (FormError, InputError) as exc:
        return _form_page(error=str(exc), status=400, chosen=chosen)
    except Busy:
        return _busy(_form_page(error="The site is busy right now; please try again in a minute.", chosen=chosen))

    meta = {
        "method": "johnson2016",
        "style": style.key,
        "style_name": style.name,
        "size": size,
        "keep_colours": chosen["keep_colours"],
        "strength": strength,
        "mask": bool(style.guided and has_mask),
        "photo": _stem(photo.filename),
        "width": made.result.width,
        "height": made.result.height,
        "seconds": round(made.seconds, 3),
    }
    files = {
        "original.png": io.encode_image(made.original, "original.png"),
        "result.png": io.encode_image(made.result, "result.png", metadata={"stylesnake": json.dumps(meta)}),
    }
    if made.mask is not None:  # kept: which label each region had, e.g. as painted in the page
        files["mask.png"] = io.encode_image(made.mask, "mask.png")
    rid = web.store.put(files, meta)
    # POST–redirect–GET: reloading the result page must not upload and stylise again.
    return redirect(url_for("web.result", rid=rid), code=303)


def _clip_job(
    web: WebState, style: Style, upload: FileStorage, size: int, chosen: dict[str, Any], strength: float
) -> BaseResponse:
    """Queue the uploaded clip (checked: readable, short enough, frames small enough; a guided
    style's first-frame mask checked too) and send the visitor to its progress page."""
    assert web.clips is not None  # a fast tab has its clip queue
    path = spool(upload.stream, web.clips)
    try:
        info = check_clip(path, max_seconds=web.settings.clip_seconds, max_pixels=web.settings.max_pixels)
        files: dict[str, bytes | Path] = {"clip": path}
        mask = request.files.get("mask")
        if style.guided:
            if mask is None or not mask.filename:
                raise FormError(
                    f"The style “{style.name}” paints region by region: please add the mask of the clip’s first frame."
                )
            painted = decode_upload(mask.stream, "mask", web.settings.max_pixels)
            labels = regions.uploaded_mask(
                painted,
                (info.width, info.height),
                labels_of(style.model.info),
                picture="the clip’s frames",
                drawn_on="the clip’s first frame",
            )
            files["mask.png"] = io.encode_image(labels.to_image().convert("RGB"), "mask.png")
        jid = web.clips.submit_files(
            style,
            files,
            size=min(size, web.settings.clip_side, max(info.width, info.height)),  # never enlarged, as photos
            keep_colours=chosen["keep_colours"],
            photo_name=_stem(upload.filename),
            strength=strength,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return redirect(url_for("web.job", jid=jid), code=303)


def chosen_strength(chosen: dict[str, Any]) -> float:
    """The style strength asked for (absent: full, as before the form offered any), kept in
    ``chosen`` for the form should it come back."""
    text = request.form.get("strength", "1")
    strength = next((s for s in STRENGTHS if text in (str(s), f"{s:g}")), None)
    if strength is None:
        raise FormError("Please choose one of the style strengths offered.")
    chosen["strength"] = strength
    return strength


def _stem(filename: str | None) -> str:
    """The upload's name as a safe download-name stem."""
    return secure_filename(PurePath(filename or "").stem)[:60] or "photo"


# --- proposed masks, painted in the browser ---------------------------------------------------------


def _json_error(message: str, status: int) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


@bp.post("/propose")
def propose_regions() -> Response:
    """A proposed mask of the uploaded photo in the style's label colours, as JSON, for the page's
    region painter; errors are ``{"error": sentence}`` with the form's status codes."""
    return proposal_response(*regions.answer(_web(), request.form, request.files))  # a body over the limit: 413


def proposal_response(answer: dict[str, object], status: int) -> Response:
    """A proposal's JSON (or its error) as the region painter reads it: never cached."""
    response = jsonify(answer)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"  # one visitor's photo
    if status == 503:
        response.headers["Retry-After"] = "30"
    return response


# --- the slow tab -----------------------------------------------------------------------------------


def _slow_tab_or_404() -> WebState:
    web = _web()
    if not web.paintings:
        abort(404, description="This site has no slow, best-quality tab.")
    return web


def _slow_page(*, error: str | None = None, status: int = 200, chosen: dict[str, Any] | None = None) -> Response:
    web = _slow_tab_or_404()
    sizes = web.settings.slow_sizes()
    chosen = {**unchosen("painting", sizes), **(chosen or {})}
    html = render_template(
        "slow.html",
        paintings=list(web.paintings.values()),
        sizes=sizes,
        chosen=chosen,
        error=error,
        unavailable=web.slow_unavailable,
        steps=web.settings.slow_steps,
        max_upload_mb=web.settings.max_upload_mb,
    )
    return Response(html, status=status)


@bp.get("/slow")
def slow() -> Response:
    return _slow_page()


@bp.post("/slow")
def slow_submit() -> BaseResponse:
    web = _slow_tab_or_404()
    painting, size, chosen = _chosen("painting", web.paintings, web.settings.slow_sizes())
    if web.jobs is None:
        return _busy(_slow_page(error="Best quality is not available on this site right now.", chosen=chosen))
    try:
        photo = _required(painting, "painting", size, web.settings.slow_sizes())
        image = decode_upload(photo.stream, "photo", web.settings.max_pixels)
        if max(image.size) > size:
            image = io.resize_long_side(image, size)
        upload = request.files.get("mask")
        mask = None
        if painting.palette is not None and upload is not None and upload.filename:
            painted = decode_upload(upload.stream, "mask", web.settings.max_pixels)
            labels = regions.uploaded_mask(
                painted, image.size, painting.palette, picture="the photo", drawn_on="the photo itself"
            )
            mask = labels.to_image().convert("RGB").resize(image.size, Image.Resampling.NEAREST)
        jid = web.jobs.submit(
            painting,
            image,
            mask=mask,
            size=size,
            keep_colours=chosen["keep_colours"],
            photo_name=_stem(photo.filename),
        )
    except (FormError, InputError) as exc:
        return _slow_page(error=str(exc), status=400, chosen=chosen)
    except Busy:
        message = "Several paintings are already waiting here; please try again in a few minutes."
        return _busy(_slow_page(error=message, chosen=chosen))
    return redirect(url_for("web.job", jid=jid), code=303)


#: The form page each tab's POST shows its errors on (the fast tab's for the rest), and the
#: endpoints that answer the region painter in JSON; the own-painting tab adds its own.
FORM_PAGES: dict[str, Callable[..., Response]] = {"web.slow_submit": _slow_page}
JSON_ENDPOINTS = {"web.propose_regions"}


def register_errors(app: Flask) -> None:
    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> Response:
        limit = _web().settings.max_upload_mb
        error = f"The upload is too large: photo and mask together may be at most {limit:g} MB."
        if request.endpoint in JSON_ENDPOINTS:
            return _json_error(error, 413)
        return FORM_PAGES.get(request.endpoint or "", _form_page)(error=error, status=413)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str, int]:
        return render_template("error.html", code=exc.code, title=exc.name, message=exc.description), exc.code or 500

    @app.errorhandler(Exception)
    def crash(exc: Exception) -> tuple[str, int]:
        # The traceback goes to the log, never to the browser.
        log.exception("unhandled error on %s %s", request.method, request.path)
        message = "Something went wrong on our side. Please try again; if it keeps happening, tell the site's owner."
        return render_template("error.html", code=500, title="Server error", message=message), 500
