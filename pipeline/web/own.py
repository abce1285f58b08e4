"""The "your own painting" tab: upload a photo and any painting, get the photo in its style in about a
second (instant style, :mod:`pipeline.arbitrary`: Magenta's pretrained networks, the ``instant`` extra);
with a mask of each in the same flat colours (uploaded, or painted in the page's region painter from
a first guess, ``POST /own/propose``), region by region.

Shown where the networks are installed. The work runs inside the stylist's slots, like the fast tab's,
and the result is kept and served like every other (``/result/<id>``).
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
from flask import Response, abort, redirect, render_template, request, url_for
from PIL import Image
from werkzeug.wrappers import Response as BaseResponse

from pipeline import io
from pipeline.errors import InputError
from pipeline.masks.label_maps import named_like
from pipeline.web.blueprint import bp
from pipeline.web.blueprint import state as _web
from pipeline.web.regions import answer_own, uploaded_mask
from pipeline.web.settings import STRENGTHS, WebState
from pipeline.web.stylist import Busy, decode_upload
from pipeline.web.views import FORM_PAGES, JSON_ENDPOINTS, FormError, chosen_strength, proposal_response, unchosen


def _own_tab_or_404() -> WebState:
    web = _web()
    if not web.instant:
        abort(404, description="This site cannot paint in your own painting’s style (its networks are not installed).")
    return web


def _own_page(*, error: str | None = None, status: int = 200, chosen: dict[str, Any] | None = None) -> Response:
    web = _own_tab_or_404()
    sizes = web.settings.sizes()
    chosen = {**unchosen("painting", sizes), **(chosen or {})}
    html = render_template(
        "own.html", sizes=sizes, chosen=chosen, error=error, strengths=STRENGTHS,
        max_upload_mb=web.settings.max_upload_mb,
    )  # fmt: skip
    return Response(html, status=status)


@bp.get("/own")
def own() -> Response:
    return _own_page()


@bp.post("/own/propose")
def own_propose() -> Response:
    """The region painter's first guess for the uploaded painting and photo, as JSON: the painting's
    regions, and the photo's paired with them in the same colours."""
    return proposal_response(*answer_own(_own_tab_or_404(), request.files))  # a body over the limit: 413


FORM_PAGES["web.own_submit"] = _own_page
JSON_ENDPOINTS.add("web.own_propose")


@bp.post("/own")
def own_submit() -> BaseResponse:
    web = _own_tab_or_404()
    form = request.form  # a body over the limit raises 413 here
    sizes = web.settings.sizes()
    size = int(form["size"]) if form.get("size", "").isdigit() else -1
    chosen: dict[str, Any] = {"keep_colours": form.get("keep_colours") == "on"}
    if size in sizes:
        chosen["size"] = size
    try:
        strength = chosen_strength(chosen)
        if size not in sizes:
            raise InputError("Please choose one of the output sizes offered.")
        uploads = {name: request.files.get(name) for name in ("photo", "painting", "photo_mask", "painting_mask")}
        given = {name: upload for name, upload in uploads.items() if upload is not None and upload.filename}
        for name in ("photo", "painting"):
            if name not in given:
                raise InputError(f"Please choose a {name} to upload.")
        if ("photo_mask" in given) != ("painting_mask" in given):
            raise InputError(
                "For regions, please upload both masks: your photo’s and the painting’s, in the same colours."
            )
        with web.stylist.slot():
            meta, files = _paint(web, given, size=size, strength=strength, keep_colours=chosen["keep_colours"])
    except (FormError, InputError) as exc:
        return _own_page(error=str(exc), status=400, chosen=chosen)
    except Busy:
        response = _own_page(error="The site is busy right now; please try again in a minute.", chosen=chosen)
        response.status_code, response.headers["Retry-After"] = 503, "30"
        return response
    rid = web.store.put(files, meta)
    return redirect(url_for("web.result", rid=rid), code=303)


def _paint(
    web: WebState, given: dict[str, Any], *, size: int, strength: float, keep_colours: bool
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The uploads decoded and painted: the result's record and its files."""
    from pipeline.arbitrary.stills import instant  # loads onnxruntime: with the first painting

    max_pixels = web.settings.max_pixels
    photo = decode_upload(given["photo"].stream, "photo", max_pixels)
    if max(photo.size) > size:
        photo = io.resize_long_side(photo, size)
    painting = decode_upload(given["painting"].stream, "painting", max_pixels)
    masks: dict[str, Any] = {}
    if "photo_mask" in given:
        photo_labels = uploaded_mask(
            decode_upload(given["photo_mask"].stream, "mask", max_pixels), photo.size, None,
            picture="your photo", drawn_on="your photo itself", resized=True,
        )  # fmt: skip
        painting_labels = uploaded_mask(
            decode_upload(given["painting_mask"].stream, "mask", max_pixels), painting.size, None,
            picture="the painting", drawn_on="the painting itself", resized=True,
        )  # fmt: skip
        masks = {"content_mask": photo_labels, "style_masks": [named_like(painting_labels, photo_labels)]}
    started = time.perf_counter()
    result = instant(photo, painting, strength=strength, preserve_color=keep_colours, **masks)
    seconds = time.perf_counter() - started
    stem = (given["painting"].filename or "painting").rsplit(".", 1)[0][:60]
    meta = {
        "method": "ghiasi2017-instant", "style": "own", "style_name": f"your painting ({stem})", "size": size,
        "keep_colours": keep_colours, "strength": strength, "mask": bool(masks), "photo": given["photo"].filename,
        "width": photo.width, "height": photo.height, "seconds": round(seconds, 3),
    }  # fmt: skip
    files = {
        "original.png": io.encode_image(photo, "original.png"),
        "result.png": io.encode_image(
            Image.fromarray(np.asarray(result)), "result.png", metadata={"stylesnake": json.dumps(meta)}
        ),
    }
    if masks:  # the photo's regions as they were used, kept with the result as the other tabs keep theirs
        files["mask.png"] = io.encode_image(masks["content_mask"].to_image().convert("RGB"), "mask.png")
    return meta, files
