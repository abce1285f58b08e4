"""The web app as it is deployed: ``stylesnake serve`` (its refusals in one line, a busy port),
stylising bounded to its slots, a burst of uploads to the real server (pipeline/web/loadtest.py),
gunicorn as README runs it, and the default results folder (private, and never one that another
user could have prepared)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.arbitrary import networks as instant_networks
from pipeline.cli import main
from pipeline.cli.options import flag
from pipeline.errors import InputError
from pipeline.fast import model as fast_model
from pipeline.web import create_app, loadtest, state
from pipeline.web.store import ResultStore, default_root

from support.web import JPEG, post_photo

pytestmark = pytest.mark.usefixtures("plain_pipeline_logger")


# --- serving --------------------------------------------------------------------------------------


def test_stylising_is_bounded_and_a_long_wait_is_a_503(models: Path, tmp_path: Path, monkeypatch) -> None:
    app = create_app(models, results=tmp_path / "r", slots=2, wait=30)
    running, peak, lock = 0, 0, threading.Lock()
    real = fast_model.stylize

    def counting(*args, **kwargs):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.2)
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(fast_model, "stylize", counting)
    codes: list[int] = []
    threads = [
        threading.Thread(target=lambda: codes.append(post_photo(app.test_client(), photo=JPEG).status_code))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [303] * 6 and peak == 2  # all answered, never more than two at once

    busy = create_app(models, results=tmp_path / "r", slots=1, wait=0.05)
    with state(busy).stylist.slot():  # someone else's photo is being painted
        response = post_photo(busy.test_client(), photo=JPEG)
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert "busy right now" in response.get_data(as_text=True)


def test_serve_refuses_a_site_with_nothing_to_serve_in_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(instant_networks, "installed", lambda: False)  # no own-painting tab either
    assert main(["serve", "--models", str(tmp_path / "nope"), "--paintings", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing to serve: no such models folder" in err


def test_serve_on_a_busy_port_is_one_line_and_exit_2(models: Path, tmp_path: Path, capsys) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["serve", "--models", str(models), "--results", str(tmp_path / "r"), "--port", str(port)])
    assert code == 2
    err = capsys.readouterr().err
    assert err == f"stylesnake: error: port {port} is in use on 127.0.0.1; choose another with --port\n"
    assert not (tmp_path / "r").exists()  # refused before anything was loaded or made
    assert main(["serve", "--models", str(models), "--port", "70000"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.fixture
def served(models: Path, tmp_path: Path) -> Iterator[str]:
    """`stylesnake serve` in a subprocess on a free port of 127.0.0.1; yields its base URL."""
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "pipeline", "serve", "--models", str(models), "--port", "0"]
    command += ["--results", str(tmp_path / "results"), "--slots", "2"]
    with log.open("w") as fh:
        server = subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(r"serving on (http://127\.0\.0\.1:\d+)/", log.read_text())):
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield found.group(1)
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.slow  # `stylesnake serve` started in a subprocess, then a burst: about 5 s
def test_sixteen_concurrent_uploads_are_all_answered_correctly(served: str, capsys) -> None:
    report = loadtest.run(served, "ink", requests=16, concurrency=16, size=256)
    with capsys.disabled():  # the figures belong in CI's log, pass or fail
        print(f"\nload test, 16 concurrent uploads to `stylesnake serve` (2 slots): {report.summary()}")
    assert report.failures == 0 and len(report.latencies) == 16, report.errors


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.slow  # two gunicorn workers, each loading the models: 4-7 s
def test_gunicorn_serves_the_app_as_readme_says(models: Path, tmp_path: Path) -> None:
    pytest.importorskip("gunicorn")
    import socket

    with socket.socket() as probe:  # a free port (gunicorn does not report one it chose itself)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    factory = f"pipeline.web:create_app(models={str(models)!r}, results={str(tmp_path / 'results')!r})"
    command = [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", factory]
    log = tmp_path / "gunicorn.log"
    with log.open("w") as fh:
        server = subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 90
        while log.read_text().count("Booting worker") < 2 or not _answers(f"http://127.0.0.1:{port}/"):
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        # Two visits: the workers share the results folder, so either may serve either result.
        for seed in (1, 2):
            loadtest.upload(f"http://127.0.0.1:{port}", "pastel", 200, 150, seed, size=256, timeout=60)
    finally:
        server.terminate()
        server.wait(20)


# --- the results folder: private, and never one another user prepared -----------------------------


@pytest.fixture
def own_temp(tmp_path: Path, monkeypatch) -> Path:
    """The system temp folder, as the default results folder sees it, is this test's."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _prepared_by_someone_else(case: str, monkeypatch) -> str:
    """Make the default results folder exist as another user could have left it; the refusal's words."""
    if case == "their folder":
        monkeypatch.setattr(os, "getuid", lambda: os.stat(tempfile.gettempdir()).st_uid + 1)
        default_root().mkdir(mode=0o700)
        return "belongs to another user"
    if case == "open to all":  # what `mkdir -m 777` by anyone leaves
        default_root().mkdir()
        os.chmod(default_root(), 0o777)
        return "other users can write to the default results folder (mode 0777)"
    target = Path(tempfile.gettempdir()) / "elsewhere"
    target.mkdir(mode=0o700)
    default_root().symlink_to(target)
    return "is a symbolic link"


@pytest.mark.parametrize("case", ["their folder", "open to all", "a link"])
def test_a_default_results_folder_someone_else_could_have_made_is_refused(own_temp: Path, monkeypatch, case) -> None:
    words = _prepared_by_someone_else(case, monkeypatch)
    with pytest.raises(InputError) as refused:
        ResultStore()
    message = str(refused.value)
    assert words in message and str(default_root()) in message and "with results" in message
    assert "--results" in refused.value.worded(flag) and "\n" not in message  # as `stylesnake serve` says it


def test_serve_refuses_a_default_results_folder_open_to_all_in_one_line(
    models: Path, own_temp: Path, monkeypatch, capsys
) -> None:
    words = _prepared_by_someone_else("open to all", monkeypatch)
    good = own_temp / "models"  # no broken model: its warning would be a second line
    good.mkdir()
    shutil.copy(models / "pastel.pth", good)
    from werkzeug.serving import BaseWSGIServer

    monkeypatch.setattr(BaseWSGIServer, "serve_forever", lambda *_: None)  # were it accepted: fail, not hang
    assert main(["serve", "-q", "--models", str(good), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"stylesnake: error: {default_root()}: ") and words in err
    assert list(default_root().iterdir()) == []  # nothing written into it


def test_the_default_results_folder_is_made_private_and_a_named_one_is_judged(own_temp: Path, caplog) -> None:
    assert ResultStore().root == default_root() and stat.S_IMODE(default_root().stat().st_mode) == 0o700
    os.chmod(default_root(), 0o755)  # as an older version left it
    ResultStore()
    assert stat.S_IMODE(default_root().stat().st_mode) == 0o700
    named = own_temp / "mine"
    named.mkdir(mode=0o755)
    ResultStore(named)  # the user's own folder, readable by others: kept as it is, with a warning
    assert stat.S_IMODE(named.stat().st_mode) == 0o755 and "other users can list the results" in caplog.text
    os.chmod(named, 0o775)
    with pytest.raises(InputError, match=r"other users can write to the results folder .*with results"):
        ResultStore(named)
