"""The workflow's config checked against ``schemas/config.schema.yaml`` before Snakemake's own
validation, so that a mistake is one line: which key, what is wrong, and for a misspelt key the
nearest valid one (Snakemake's message prints the whole schema and config, hundreds of lines)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.errors import InputError

SCHEMA = Path("schemas") / "config.schema.yaml"


def check_config(config: Mapping[str, Any], schema: str | Path | Mapping[str, Any]) -> None:
    """An :class:`InputError` in one line for the first thing in ``config`` the schema refuses."""
    import jsonschema
    import yaml

    if not isinstance(schema, Mapping):
        schema = yaml.safe_load(Path(schema).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(dict(config)))
    if error is None:
        return
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    place = f"config key {where}" if where else "config"
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = list((error.schema.get("properties") or {}) if isinstance(error.schema, Mapping) else {})
        unknown = [key for key in error.instance if key not in known]
        if unknown:
            key = str(unknown[0])
            inside = f" in {where}" if where else ""
            nearest = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"did you mean '{nearest[0]}'?" if nearest else f"known keys: {', '.join(known)}"
            raise InputError(f"unknown config key '{key}'{inside}; {hint} (schemas/config.schema.yaml lists them)")
    message = error.message if len(error.message) <= 160 else error.message[:157] + "..."
    raise InputError(f"{place}: {message} (see schemas/config.schema.yaml)")
