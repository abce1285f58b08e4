"""The public Python API: the names at the top of ``pipeline``, loaded on first use, and the kinds of
error a caller can tell apart without reading their words."""

from __future__ import annotations

import doctest
import inspect
import io as bytes_io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pipeline
from pipeline import io
from pipeline.errors import Damaged, Empty, InputError, TooLarge, Unsupported


def test_importing_the_package_loads_no_torch_and_every_public_name_resolves() -> None:
    script = (
        "import sys, pipeline\n"
        "assert 'torch' not in sys.modules, 'torch loaded by import pipeline'\n"
        "from pipeline import InputError, GatysConfig\n"
        "missing = [n for n in pipeline.__all__ if getattr(pipeline, n, None) is None]\n"
        "assert not missing, missing\n"
        "print(len(pipeline.__all__))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(pipeline.__all__) >= 20


def test_the_public_names_are_the_definitions_and_nothing_else_is_there() -> None:
    from pipeline.gatys.stills import transfer_files

    assert pipeline.transfer_files is transfer_files and pipeline.InputError is InputError
    assert {"transfer", "train", "stylize_files", "video_files", "clean_mask", "propose_mask_file"} <= set(
        dir(pipeline)
    )
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = pipeline.nothing_here


def _png(width: int, height: int) -> bytes:
    out = bytes_io.BytesIO()
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"hello, I am a text file", Unsupported),
        (_png(64, 48)[:60], Damaged),
        (_png(300, 300), TooLarge),
    ],
)
def test_a_picture_we_cannot_use_is_an_error_of_its_kind(data: bytes, kind: type[InputError]) -> None:
    with pytest.raises(kind) as raised:
        io.decode_image(bytes_io.BytesIO(data), max_pixels=10_000, name="upload")
    assert isinstance(raised.value, InputError) and str(raised.value).startswith("upload: ")
    if kind is TooLarge:
        assert raised.value.limit == 10_000 and raised.value.argument == "max_pixels"


def test_an_empty_file_is_empty(tmp_path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(Empty):
        io.load_image(tmp_path / "empty.png")


@pytest.mark.slow
@pytest.mark.parametrize("page", ["README.md", "docs/api.md"])
def test_the_python_example_of_the_readme_and_the_api_page_runs(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.samples import sample_image

    text = (Path(__file__).resolve().parents[1] / page).read_text()
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    sample_image("chelsea").save(tmp_path / "photo.jpg")
    sample_image("hubble_deep_field").save(tmp_path / "painting.jpg")
    monkeypatch.chdir(tmp_path)
    exec(compile(example, page, "exec"), {})
    record = (tmp_path / "out.png.json").read_text()
    assert (tmp_path / "out.png").exists() and '"kind": "random"' in record


def test_an_error_names_options_as_its_reader_spells_them() -> None:
    from pipeline.cli.options import flag
    from pipeline.errors import option

    error = InputError(f"a mask of 3 colours; give {option('label_map')} or {option('k')}")
    assert str(error) == "a mask of 3 colours; give label_map or k"
    assert error.worded(flag) == "a mask of 3 colours; give --label-map or --k"


#: The public calls: every function at the top of the package (the classes are their arguments and results).
CALLS = sorted(name for name in pipeline.__all__ if inspect.isfunction(getattr(pipeline, name)))


@pytest.mark.parametrize("name", CALLS)
def test_every_public_call_has_an_example_and_the_example_runs(
    name: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the examples write their files where they run
    found = [test for test in doctest.DocTestFinder(recurse=False).find(getattr(pipeline, name), name) if test.examples]
    assert found, f"{name}'s docstring has no example"
    said: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in found:
        runner.run(test, out=said.append)
    assert runner.failures == 0, "".join(said)


def test_the_command_line_loads_no_network_to_parse_its_arguments() -> None:
    script = (
        "import sys, pipeline.cli\nloaded = {'torch', 'cv2', 'sklearn'} & set(sys.modules)\nassert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_an_option_with_a_value_is_spelt_for_each_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.cli.options import flag
    from pipeline.errors import option

    error = InputError(f"no weights here; give {option('weights', 'PATH')}")
    monkeypatch.delenv("STYLESNAKE_WORKFLOW", raising=False)
    assert str(error) == "no weights here; give weights=PATH"
    assert error.worded(flag) == "no weights here; give --weights PATH"
    monkeypatch.setenv("STYLESNAKE_WORKFLOW", "1")  # a workflow's job: the weights come from its config
    assert error.worded(flag) == "no weights here; give --config weights=PATH"
