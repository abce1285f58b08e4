"""A small load test of a running web app: N uploads at once, each checked end to end.

Each upload is a different photo (its own width), so a result can be checked against the request
that made it: the POST must redirect to a result page, and that page's download must be a PNG of
exactly the size the photo should give. For people deploying the app (``benchmarks/bench_web.py``
runs it against a server of its own or a ``--url``) and for the web app's tests; only ever aim it
at a server you run yourself.

    from pipeline.web import loadtest
    print(loadtest.run("http://127.0.0.1:8000", "starry_night", requests=32, concurrency=8).summary())
"""

from __future__ import annotations

import io as _bytes_io
import math
import secrets
import statistics
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from PIL import Image


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body and its content type (what a browser's form sends)."""
    boundary = f"----stylesnake{secrets.token_hex(12)}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def photo(width: int, height: int, seed: int) -> bytes:
    """A JPEG of smooth colour and noise, ``width`` × ``height``."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    base = np.stack([np.sin(6 * x + seed), np.cos(5 * y - seed), np.sin(4 * (x + y))], axis=-1) * 0.4 + 0.5
    array = ((base + rng.normal(0, 0.05, base.shape)).clip(0, 1) * 255).astype(np.uint8)
    buffer = _bytes_io.BytesIO()
    Image.fromarray(array, "RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def expected_size(width: int, height: int, size: int) -> tuple[int, int]:
    """The result's size for a ``width`` × ``height`` photo at output size ``size`` (never enlarged)."""
    if max(width, height) <= size:
        return width, height
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


@dataclass
class Report:
    requests: int
    failures: int
    latencies: list[float] = field(default_factory=list)  # s, of the successful uploads
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the successful requests' latencies (s)."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]

    def summary(self) -> str:
        return (
            f"requests {self.requests}, failures {self.failures}, "
            f"p50 {self.percentile(50):.2f} s, p95 {self.percentile(95):.2f} s, "
            f"mean {statistics.fmean(self.latencies) if self.latencies else math.nan:.2f} s, wall {self.wall:.2f} s"
        )


def upload(base_url: str, style: str, width: int, height: int, seed: int, *, size: int, timeout: float) -> float:
    """One user's visit: upload, follow the redirect, download the result and check it; returns
    the seconds it took, or raises ``AssertionError``/``OSError`` saying what went wrong."""
    body, content_type = multipart(
        {"style": style, "size": str(size)}, {"photo": (f"photo{seed}.jpg", photo(width, height, seed))}
    )
    request = urllib.request.Request(
        f"{base_url}/stylize", data=body, method="POST", headers={"Content-Type": content_type}
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=timeout) as response:  # follows the 303 with a GET
        page_url, status = response.geturl(), response.status
        response.read()
    assert status == 200 and "/result/" in page_url, f"upload {seed}: ended at {page_url} with {status}"
    with urllib.request.urlopen(f"{page_url}/download", timeout=timeout) as response:
        data = response.read()
        disposition = response.headers.get("Content-Disposition", "")
    elapsed = time.perf_counter() - started
    assert disposition.startswith("attachment"), f"upload {seed}: download is not an attachment"
    image = Image.open(_bytes_io.BytesIO(data))
    want = expected_size(width, height, size)
    assert image.format == "PNG" and image.size == want, f"upload {seed}: got {image.format} {image.size}, want {want}"
    return elapsed


def run(
    base_url: str,
    style: str,
    *,
    requests: int = 16,
    concurrency: int = 16,
    size: int = 256,
    timeout: float = 120.0,
) -> Report:
    """``requests`` uploads, ``concurrency`` at a time, all released together."""
    report = Report(requests=requests, failures=0)
    gate = threading.Barrier(min(requests, concurrency))
    lock = threading.Lock()

    def one(i: int) -> None:
        if i < gate.parties:
            gate.wait(timeout)  # the first wave starts together: a burst, not a trickle
        try:
            seconds = upload(base_url, style, 200 + 8 * i, 150 + 4 * i, seed=i, size=size, timeout=timeout)
        except (AssertionError, OSError, urllib.error.URLError, ValueError) as exc:
            with lock:
                report.failures += 1
                report.errors.append(f"{type(exc).__name__}: {exc}")
        else:
            with lock:
                report.latencies.append(seconds)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(requests)))
    report.wall = time.perf_counter() - started
    return report
