"""Results on disk under random ids, gone after a time to live.

A result is a folder ``<root>/<id>/`` with ``original.png``, ``result.png`` and ``meta.json`` (and
``result.mp4`` for a clip).
It is written as a hidden folder and renamed into place, so a reader sees all of it or none.
The store keeps no state in memory: several server processes (gunicorn workers) can share one
root, and any of them may serve a result another made or sweep out expired ones.

The results are visitors' photos: the root and every folder in it are made 0700, every file 0600,
and a root another user could have prepared (theirs, or writable by them) is refused, because
whoever can write into it can plant results (links to any file we can read) for us to serve.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import io
from pipeline.errors import InputError, option

log = logging.getLogger(__name__)

_ID = re.compile(r"[0-9a-f]{32}")  # secrets.token_hex(16)
#: What a store leaves while it writes (``.ID.tmp``) or removes (``.ID.XXXXXXXX.del``) a result.
_LEFTOVER = re.compile(r"\.[0-9a-f]{32}(\.tmp|\.[0-9a-f]{8}\.del)")
FILES = ("original.png", "result.png")
#: Kept beside them when there is one: the cleaned mask a guided style painted with (a record of
#: which region got which label, e.g. as painted in the browser), and a clip's result (its
#: pictures are then the clip's middle frame, as given and as painted).
OPTIONAL_FILES = ("mask.png", "result.mp4")


def default_root() -> Path:
    """Shared by every process of one user on this machine (so gunicorn's workers agree)."""
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"stylesnake-web-{uid}"


def private_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The results folder ``root`` (None: :func:`default_root`), created 0700 if it is missing.

    An existing one must be a folder of this user's that nobody else can write to, else an
    :class:`InputError`. The default, in the shared temp folder, must also not be a link (anyone
    could have made it), and is made 0700 if an older version left it readable; a folder the user
    named is theirs to link and to open to others, so that only draws a warning."""
    named = root is not None
    path = Path(root) if root is not None else default_root()
    what = "the results folder" if named else "the default results folder"
    elsewhere = (
        f"choose another with {option('results')}" if named else f"choose a folder of your own with {option('results')}"
    )
    try:
        path.mkdir(mode=0o700, parents=named)
        return path
    except FileExistsError:
        pass
    except OSError as exc:
        raise InputError(f"{path}: cannot create {what} ({exc.strerror or exc}); {elsewhere}") from None
    if not hasattr(os, "getuid"):
        return path  # Windows: no owners or modes to judge (and its temp folder is per user)
    try:
        info = os.stat(path) if named else os.lstat(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot use {what} ({exc.strerror or exc}); {elsewhere}") from None
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.getuid():
        raise InputError(f"{path}: {what} belongs to another user (uid {info.st_uid}); {elsewhere}")
    if stat.S_ISLNK(info.st_mode):
        raise InputError(f"{path}: {what} is a symbolic link, not a folder; remove it, or {elsewhere}")
    if not stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path}: {what} exists and is not a folder; remove it, or {elsewhere}")
    if mode & 0o022:
        raise InputError(f"{path}: other users can write to {what} (mode {mode:04o}); chmod 700 it, or {elsewhere}")
    if mode & 0o077 and named:
        log.warning("%s: other users can list the results (mode %04o); chmod 700 it to keep them private", path, mode)
    elif mode & 0o077:
        os.chmod(path, 0o700)  # ours, left readable by an older version: visitors' photos are private
        log.info("%s: made private (it was mode %04o)", path, mode)
    return path


def write_private(path: Path, data: bytes) -> None:
    """:func:`pipeline.io.write_bytes`, the file readable by this user only (0600)."""
    try:
        with io.atomic_write(path) as fh:
            if hasattr(os, "fchmod"):  # before the first byte: nobody else sees the photo, even mid-write
                os.fchmod(fh.fileno(), 0o600)
            fh.write(data)
    except OSError as exc:
        raise InputError(
            f"{path}: cannot write ({exc.strerror or exc}); check the folder is writable and the disk has space"
        ) from None


@dataclass(frozen=True)
class Result:
    id: str
    folder: Path
    meta: dict[str, Any]

    def file(self, name: str) -> Path:
        if name not in FILES + OPTIONAL_FILES:  # the caller's route allows only these; a second guard costs nothing
            raise ValueError(name)
        return self.folder / name


class ResultStore:
    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        ttl: float = 3600.0,
        sweep_every: float = 60.0,
        clock: Callable[[], float] = time.time,
    ):
        self.root = private_root(root)
        self.ttl, self.sweep_every, self.clock = ttl, sweep_every, clock
        self._last_sweep = float("-inf")
        self._sweep_lock = threading.Lock()

    def put(self, files: Mapping[str, bytes], meta: Mapping[str, Any]) -> str:
        """Store one result; returns its new id."""
        if not set(FILES) <= set(files) <= set(FILES + OPTIONAL_FILES):
            raise ValueError(f"a result has {FILES} and maybe {OPTIONAL_FILES}, got {sorted(files)}")
        self.maybe_sweep()
        rid = secrets.token_hex(16)
        staging = self.root / f".{rid}.tmp"
        staging.mkdir(mode=0o700)
        try:
            for name, data in files.items():
                write_private(staging / name, data)
            write_private(staging / "meta.json", io.json_bytes({**meta, "id": rid, "created": self.clock()}))
            os.replace(staging, self.root / rid)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return rid

    def get(self, rid: str) -> Result | None:
        """The result, or None when the id is malformed, unknown or expired."""
        if not _ID.fullmatch(rid):
            return None  # never let a malformed id near the filesystem
        folder = self.root / rid
        try:
            meta = json.loads((folder / "meta.json").read_text())
        except (OSError, ValueError):
            return None
        if self.clock() - float(meta.get("created", 0)) > self.ttl:
            self._remove(folder)
            return None
        return Result(rid, folder, meta)

    def maybe_sweep(self) -> None:
        """:meth:`sweep`, at most once per ``sweep_every`` seconds (it lists the whole root)."""
        with self._sweep_lock:
            if self.clock() - self._last_sweep < self.sweep_every:
                return
            self._last_sweep = self.clock()
        self.sweep()

    def sweep(self) -> int:
        """Remove expired results, and the staging or half-removed folders a crashed process left;
        returns how many."""
        removed = 0
        for entry in self.root.iterdir():
            if _ID.fullmatch(entry.name):
                created = self._created(entry)
                if created is None:
                    continue  # no record of ours (results appear whole, by rename): not ours to remove
                expired = self.clock() - created > self.ttl
            elif _LEFTOVER.fullmatch(entry.name):
                # Leftovers have no trustworthy meta.json: judge them by the real clock.
                try:
                    expired = time.time() - entry.stat().st_mtime > self.ttl
                except FileNotFoundError:  # another process swept it first
                    continue
            else:
                continue  # not ours: leave it alone
            if expired:
                self._remove(entry)
                removed += 1
        if removed:
            log.info("removed %d expired result(s)", removed)
        return removed

    @staticmethod
    def _created(folder: Path) -> float | None:
        try:
            return float(json.loads((folder / "meta.json").read_text())["created"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @staticmethod
    def _remove(folder: Path) -> None:
        # Rename first so a concurrent reader never sees a half-deleted result.
        doomed = folder.with_name(f".{folder.name}.{secrets.token_hex(4)}.del")
        with contextlib.suppress(FileNotFoundError):
            os.replace(folder, doomed)
            shutil.rmtree(doomed, ignore_errors=True)
