"""The site's one blueprint, and the state its pages share (set up by ``create_app``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, current_app

if TYPE_CHECKING:
    from pipeline.web.settings import WebState

bp = Blueprint("web", __name__)


def state() -> WebState:
    return current_app.extensions["stylesnake"]
