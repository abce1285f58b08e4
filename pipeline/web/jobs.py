"""Slow, best-quality jobs: a (guided) Gatys transfer queued behind the page, run one at a time.

A Gatys transfer takes minutes, far longer than a request may, so ``POST /slow`` only decodes the
upload, writes it into a job folder and queues the job; a worker thread (one per server
process: the transfer already uses every core) runs them in turn. Each job's state lives on
disk in ``<root>/<id>/status.json``, rewritten atomically as the optimisation goes, so any server
process can show any job's progress; when it is done its images move into the
:class:`~pipeline.web.store.ResultStore` and the job page sends the visitor to the usual result
page. Job folders are removed a time to live after they end.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from pipeline import io
from pipeline.errors import InputError
from pipeline.web.store import ResultStore, write_private
from pipeline.web.stylist import Busy

if TYPE_CHECKING:
    from pipeline.web.paintings import Painting

log = logging.getLogger(__name__)

#: Name prefix of an upload spooled to disk before its job exists (:meth:`Jobs.spool`).
SPOOLED = ".upload-"

_ID = re.compile(r"[0-9a-f]{32}")
STATUS = "status.json"
LOST = "The server restarted before your photo was painted; please queue it again."
#: The transfer's snapshots (``--save-every``) in the job folder, the newest shown on the job
#: page: :func:`pipeline.gatys.snapshots.steps_folder` of the job's ``result.png``.
SNAPSHOTS = "result.png.steps"
#: About this many snapshots per job: enough to watch it work, few enough to cost nothing.
SNAPSHOTS_PER_JOB = 10


@dataclass(frozen=True)
class Job:
    id: str
    folder: Path
    painting: Any  # the slow tab's Painting, or a clip's fast Style (pipeline.web.catalog)
    size: int
    keep_colours: bool
    guided: bool
    photo_name: str
    strength: float = 1.0


#: ``run(job, progress)`` → (the result's files for the store, its metadata); ``progress(step, steps)``.
Run = Callable[[Job, Callable[[int, int], None]], tuple[dict[str, bytes], dict[str, Any]]]


class Jobs:
    """The queue of slow jobs of one server process, and every process's job folders under ``root``."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        store: ResultStore,
        run: Run,
        *,
        max_pending: int = 4,
        ttl: float = 3600.0,
        kind: str = "slow",
    ) -> None:
        self.kind = kind  # "slow" (a photo into a painting) or "clip" (a clip through a fast style)
        self.root = Path(root)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)  # visitors' photos wait here: ours only
        self.store, self.run, self.max_pending, self.ttl = store, run, max_pending, ttl
        self._queue: queue.Queue[Job] = queue.Queue()
        self._pending = 0  # queued or running in this process
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def submit(
        self,
        painting: Painting,
        photo: Image.Image,
        *,
        mask: Image.Image | None,
        size: int,
        keep_colours: bool,
        photo_name: str,
    ) -> str:
        """Queue a transfer of ``photo`` (already upright and at its output size) into
        ``painting``; returns the job's id. :class:`Busy` when ``max_pending`` wait already."""
        files = {"photo.png": io.encode_image(photo, "photo.png")}
        if mask is not None:
            files["mask.png"] = io.encode_image(mask, "mask.png")
        return self.submit_files(painting, files, size=size, keep_colours=keep_colours, photo_name=photo_name)

    def submit_files(
        self,
        painting: Any,
        files: Mapping[str, bytes | Path],
        *,
        size: int,
        keep_colours: bool,
        photo_name: str,
        strength: float = 1.0,
    ) -> str:
        """Queue a job whose inputs are ``files`` (name → bytes, or a file of ours moved in), a
        ``mask.png`` among them making it guided; returns its id (:class:`Busy` as :meth:`submit`)."""
        with self._lock:
            if self._pending >= self.max_pending:
                raise Busy
            self._pending += 1
        folder = None
        try:
            self.sweep()
            jid = secrets.token_hex(16)
            folder = self.root / jid
            folder.mkdir(mode=0o700)
            for name, data in files.items():
                if isinstance(data, Path):
                    os.replace(data, folder / name)  # an upload spooled into our private root
                else:
                    write_private(folder / name, data)
            job = Job(jid, folder, painting, size, keep_colours, "mask.png" in files, photo_name, strength)
            self._write(
                job.folder, {"state": "queued", "step": 0, "steps": 0, "painting": painting.name, "kind": self.kind}
            )
            self._queue.put(job)
            self._start_worker()
        except BaseException:
            with self._lock:
                self._pending -= 1
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        log.info("queued %s job %s: %s into %s", self.kind, jid, photo_name, painting.key)
        return jid

    def status(self, jid: str) -> dict[str, Any] | None:
        """The job's state (``queued``, ``running``, ``done`` with its ``result`` id, or ``failed``
        with an ``error`` sentence), or None for a malformed, unknown or expired id."""
        if not _ID.fullmatch(jid):
            return None  # never let a malformed id near the filesystem
        try:
            status = json.loads((self.root / jid / STATUS).read_text())
        except (OSError, ValueError):
            return None
        if status.get("state") in ("queued", "running") and not _alive(status.get("pid")):
            # Its server process is gone (restarted, or killed mid-transfer): the job never ends.
            return {**status, "state": "failed", "error": LOST}
        return status

    def snapshot(self, jid: str) -> tuple[bytes, int] | None:
        """The newest image of the job's transfer so far (PNG) and its evaluation, or None (a
        malformed or unknown id, no snapshot yet, or the job just ended and took it away)."""
        if not _ID.fullmatch(jid):
            return None  # never let a malformed id near the filesystem
        folder = self.root / jid / SNAPSHOTS
        try:
            newest = json.loads((folder / "index.json").read_text())["snapshots"][-1]
            name, evaluation = str(newest["file"]), int(newest["evaluation"])
            if not re.fullmatch(r"\d+\.png", name):
                return None
            return (folder / name).read_bytes(), evaluation
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return None

    def spool(self, data: bytes) -> Path:
        """``data`` in a private file of ours under the root, for :meth:`submit_files` to move into
        a job; one a crash left behind is swept like an abandoned job."""
        path = self.root / f"{SPOOLED}{secrets.token_hex(8)}"
        write_private(path, data)
        return path

    def sweep(self) -> None:
        """Remove job folders that ended (or were abandoned) more than ``ttl`` seconds ago, and
        spooled uploads as old (a process that ended between spooling and submitting)."""
        now = time.time()
        for entry in self.root.iterdir():
            if entry.name.startswith(SPOOLED):
                with contextlib.suppress(FileNotFoundError):
                    if now - entry.stat().st_mtime > self.ttl:
                        entry.unlink()
                continue
            if not _ID.fullmatch(entry.name):
                continue
            status = entry / STATUS
            with contextlib.suppress(FileNotFoundError):  # another process swept it first
                # A folder without a status is a submit that failed half-way: judge it by its own age.
                if now - (status if status.exists() else entry).stat().st_mtime > self.ttl:
                    shutil.rmtree(entry, ignore_errors=True)

    def _start_worker(self) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name=f"stylesnake-{self.kind}-jobs", daemon=True)
                self._worker.start()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                self._run(job)
            finally:
                with self._lock:
                    self._pending -= 1

    def _run(self, job: Job) -> None:
        base = {"painting": job.painting.name, "kind": self.kind}
        last = [0.0]

        def progress(step: int, steps: int) -> None:
            # A status write per second at most: the page polls every few seconds.
            if step == steps or time.monotonic() - last[0] >= 1.0:
                last[0] = time.monotonic()
                self._write(job.folder, {**base, "state": "running", "step": step, "steps": steps})

        self._write(job.folder, {**base, "state": "running", "step": 0, "steps": 0})
        try:
            files, meta = self.run(job, progress)
            rid = self.store.put(files, meta)
        except InputError as exc:
            log.info("%s job %s refused: %s", self.kind, job.id, exc)
            self._end(job, {**base, "state": "failed", "error": str(exc)})
            return
        except Exception:
            log.exception("%s job %s failed", self.kind, job.id)
            error = "Something went wrong on our side while painting; please try again later."
            self._end(job, {**base, "state": "failed", "error": error})
            return
        log.info("%s job %s done: result %s", self.kind, job.id, rid)
        self._end(job, {**base, "state": "done", "result": rid})

    def _end(self, job: Job, status: Mapping[str, Any]) -> None:
        for entry in job.folder.iterdir():  # the inputs and working files: only the status stays
            if entry.is_dir():  # the snapshots
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name != STATUS:
                with contextlib.suppress(OSError):
                    entry.unlink()
        self._write(job.folder, status)

    @staticmethod
    def _write(folder: Path, status: Mapping[str, Any]) -> None:
        # The pid: a job lives in its server process's queue, and dies with it.
        write_private(folder / STATUS, io.json_bytes({**status, "pid": os.getpid(), "updated": time.time()}))


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def gatys_runner(weights: str | os.PathLike[str], steps: int, *, device: str = "auto") -> Run:
    """Jobs as :func:`pipeline.gatys.transfer_files` runs them from the command line: the photo at
    its own size (the page already shrank it), ``steps`` evaluations, luminance-only transfer for
    "keep my colours", region by region when the job has a mask (cleaned onto the painting's
    labels when it was uploaded)."""

    def run(job: Job, progress: Callable[[int, int], None]) -> tuple[dict[str, bytes], dict[str, Any]]:
        from pipeline import gatys  # loaded with the app
        from pipeline.masks.pairs import Guidance  # loaded with the app

        # transfer_files writes out and its sidecar with the umask's modes: the job folder (0700)
        # keeps them private until _end removes them.
        photo, out = job.folder / "photo.png", job.folder / "result.png"
        long_side = max(io.read_image(photo).original_size)  # io's guard, as for every image we open
        config = gatys.GatysConfig(
            size=long_side, steps=steps, color="preserve" if job.keep_colours else "none", device=device
        )
        guidance = None
        if job.guided:
            assert job.painting.mask is not None
            guidance = Guidance.from_options(
                str(job.folder / "mask.png"), [str(job.painting.mask)], palette=job.painting.palette
            )
        record = gatys.transfer_files(
            photo,
            job.painting.image,
            out,
            config,
            weights=weights,
            progress=lambda step, total, _losses: progress(step, total),
            guidance=guidance,
            save_every=max(1, steps // SNAPSHOTS_PER_JOB),  # the job page shows the newest
        )
        meta = {
            "method": record["method"],
            "style": job.painting.key,
            "style_name": job.painting.name,
            "size": job.size,
            "keep_colours": job.keep_colours,
            "mask": job.guided,
            "photo": job.photo_name,
            "width": record["output"]["width"],
            "height": record["output"]["height"],
            "steps": record["evaluations"],
            "weights": record["weights"].get("kind", "?"),
            "seconds": round(record["timings_s"]["total"], 3),
        }
        return {"original.png": photo.read_bytes(), "result.png": out.read_bytes()}, meta

    return run
