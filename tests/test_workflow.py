"""The workflow: its decisions (pipeline.workflow, no Snakemake needed), its config schema, and
Snakemake itself on a tiny project: caching, new files, changed parameters, interruptions."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from PIL import Image

from pipeline import workflow as wf
from pipeline.errors import InputError
from pipeline.samples import SAMPLES, sample_image
from pipeline.synthetic import painted_mask
from pipeline.workflow import planning

from support.workflow import snakemake, snakemake_command

ROOT = Path(__file__).resolve().parents[1]
LABELS = {"subject": "#e6194b", "background": "#4363d8"}
PALETTE = np.array([(230, 25, 75), (67, 99, 216), (60, 180, 75)], np.uint8)  # subject, background, extra


def _config(**overrides) -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config.update(overrides)
    return config


def _paint(path: Path, size: tuple[int, int], k: int = 2, seed: int = 0) -> None:
    """A hand-painted-looking mask of the first k palette labels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = painted_mask(seed, size=size, k=k, palette=PALETTE, jpeg_quality=85, dabs=2)
    Image.fromarray(mask.painted).save(path)


def _image(path: Path, size: tuple[int, int], seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)


# --- decisions ---------------------------------------------------------------------------------


def test_plan_finds_images_masks_and_pairs(tmp_path: Path) -> None:
    _image(tmp_path / "images/content/street.jpg", (60, 40))
    _paint(tmp_path / "masks/content/street.png", (60, 40))
    _paint(tmp_path / "masks/style/ihc.png", (64, 64))
    _image(tmp_path / "images/style/.hidden.png", (8, 8))  # dotfiles are not inputs
    (tmp_path / "images/style/notes.txt").write_text("not an image")
    plan = wf.plan(_config(demo={"content": ["coffee"], "style": ["ihc", "retina"]}, labels=LABELS), tmp_path)
    assert plan.images["content"] == {"coffee": "images/content/coffee.png", "street": "images/content/street.jpg"}
    assert list(plan.images["style"]) == ["ihc", "retina"]
    assert plan.masks == {"content": {"street": "masks/content/street.png"}, "style": {"ihc": "masks/style/ihc.png"}}
    assert plan.pairs == [("coffee", "ihc"), ("coffee", "retina"), ("street", "ihc"), ("street", "retina")]
    assert plan.guided == {("street", "ihc")}  # both masks painted; anything else runs unguided


def test_instant_style_runs_every_pair_where_its_networks_are_installed(tmp_path: Path, monkeypatch) -> None:
    _image(tmp_path / "images/content/street.jpg", (60, 40))
    _paint(tmp_path / "masks/content/street.png", (60, 40))
    _paint(tmp_path / "masks/style/ihc.png", (64, 64))
    config = _config(demo={"content": [], "style": ["ihc", "retina"]}, labels=LABELS)
    plan = wf.plan(config, tmp_path)
    assert plan.instant["enabled"] is True  # auto, and the test extra installs the networks
    assert wf.instant_results(plan) == ["results/instant/street__ihc.png", "results/instant/street__retina.png"]
    guided, plain = wf.instant_args(plan, "street", "ihc"), wf.instant_args(plan, "street", "retina")
    assert "--size 512" in plain and "--colors" not in plain
    assert "--colors 'subject=#e6194b,background=#4363d8'" in guided
    sized = wf.plan({**config, "instant": {"enabled": "auto", "size": 200}}, tmp_path)
    assert "--size 200" in wf.instant_args(sized, "street", "retina")
    assert wf.instant_results(wf.plan({**config, "instant": {"enabled": False}}, tmp_path)) == []
    monkeypatch.setattr(planning, "instant_installed", lambda: False)
    assert wf.plan(config, tmp_path).instant["enabled"] is False  # auto, not installed: off, quietly
    with pytest.raises(InputError, match=r"pip install 'stylesnake\[instant\]'"):
        wf.plan({**config, "instant": {"enabled": True}}, tmp_path)


def test_method_paints_a_pair_or_the_run_in_instant_style_alone_or_by_gatys_alone(tmp_path: Path, monkeypatch) -> None:
    _image(tmp_path / "images/content/street.jpg", (60, 40))
    config = _config(demo={"content": [], "style": ["ihc", "retina"]})
    both = wf.plan(config, tmp_path)  # the default: every pair both ways, instant style first
    assert wf.gatys_pairs(both) == both.pairs == [("street", "ihc"), ("street", "retina")]
    assert len(wf.instant_results(both)) == 2
    alone = wf.plan({**config, "method": "instant"}, tmp_path)  # a cheap run: no optimisation at all
    assert wf.gatys_pairs(alone) == [] and len(wf.instant_results(alone)) == 2
    slow = wf.plan({**config, "method": "gatys"}, tmp_path)
    assert wf.gatys_pairs(slow) == slow.pairs and wf.instant_results(slow) == []
    pairs = [{"content": "street", "style": "ihc", "method": "instant"}, {"content": "street", "style": "retina"}]
    mixed = wf.plan({**config, "pairs": pairs, "method": "gatys"}, tmp_path)  # a pair's own method wins
    assert wf.gatys_pairs(mixed) == [("street", "retina")]
    assert wf.instant_results(mixed) == ["results/instant/street__ihc.png"]
    with pytest.raises(InputError, match=r"method instant \(street × ihc\), but instant.enabled is false"):
        wf.plan({**config, "pairs": pairs, "instant": {"enabled": False}}, tmp_path)
    monkeypatch.setattr(planning, "instant_installed", lambda: False)
    with pytest.raises(InputError, match=r"not installed: pip install 'stylesnake\[instant\]'"):
        wf.plan({**config, "method": "instant"}, tmp_path)
    with pytest.raises(InputError, match="method"):
        wf.check_config({**config, "method": "fast"}, str(ROOT / wf.SCHEMA))


def test_pairs_all_skips_label_mismatch_unless_mapped(tmp_path: Path) -> None:
    labels = {**LABELS, "sky": "#3cb44b"}
    _image(tmp_path / "images/content/a.png", (64, 64))
    _paint(tmp_path / "masks/content/a.png", (64, 64), k=3)  # subject, background, sky
    for style in ("two", "three"):
        _image(tmp_path / f"images/style/{style}.png", (64, 64))
    _paint(tmp_path / "masks/style/two.png", (64, 64), k=2)
    _paint(tmp_path / "masks/style/three.png", (64, 64), k=3, seed=1)
    config = _config(demo={}, labels=labels)
    plan = wf.plan(config, tmp_path)
    assert plan.pairs == [("a", "three")]
    assert plan.skipped == ["a × two: the style mask lacks sky"]
    config["per_style"] = {"two": {"label_map": {"sky": "plain"}}}
    assert wf.plan(config, tmp_path).pairs == [("a", "three"), ("a", "two")]


def test_explicit_pairs_and_clear_errors(tmp_path: Path) -> None:
    config = _config(demo={"content": ["coffee"], "style": ["ihc"]}, pairs=[{"content": "coffee", "style": "ihc"}])
    assert wf.plan(config, tmp_path).pairs == [("coffee", "ihc")]
    with pytest.raises(InputError, match=r"pairs: no style image 'monet' \(there are: ihc\)"):
        wf.plan({**config, "pairs": [{"content": "coffee", "style": "monet"}]}, tmp_path)
    with pytest.raises(InputError, match="preset 'fast' is not defined"):
        wf.plan({**config, "preset": "fast"}, tmp_path)
    with pytest.raises(InputError, match=r"weights 'vgg\.pth': no such file"):
        wf.plan({**config, "weights": "vgg.pth"}, tmp_path)
    _image(tmp_path / "images/content/my photo.jpg", (8, 8))
    with pytest.raises(InputError, match=r"my photo\.jpg: rename it"):
        wf.plan(config, tmp_path)


def test_per_style_settings_change_only_that_styles_arguments(tmp_path: Path) -> None:
    config = _config(demo={"content": ["coffee"], "style": ["ihc", "retina"]}, preset="quick")
    before = wf.plan(config, tmp_path)
    config["per_style"] = {"ihc": {"style_weight": 1e3, "pooling": "avg"}}
    after = wf.plan(config, tmp_path)
    assert wf.transfer_args(after, "coffee", "retina") == wf.transfer_args(before, "coffee", "retina")
    assert wf.targets_args(after, "retina") == wf.targets_args(before, "retina")
    assert "--style-weight 1000.0" in wf.transfer_args(after, "coffee", "ihc")
    assert "--pooling avg" in wf.targets_args(after, "ihc")
    assert "--size 128" in wf.targets_args(after, "retina")  # the preset
    # A weight that only the optimisation uses does not touch the style targets.
    config["per_style"] = {"ihc": {"style_weight": 1e3}}
    assert wf.targets_args(wf.plan(config, tmp_path), "ihc") == wf.targets_args(before, "ihc")


def test_masks_propose_fills_in_masks_and_painted_ones_win(tmp_path: Path) -> None:
    _image(tmp_path / "images/content/street.jpg", (60, 40))
    _paint(tmp_path / "masks/content/street.png", (60, 40))
    _paint(tmp_path / "masks/style/ihc.png", (64, 64))
    config = _config(demo={"content": ["coffee"], "style": ["ihc", "hubble_deep_field"]}, labels=LABELS)
    plan = wf.plan({**config, "masks": "propose"}, tmp_path)
    proposal = "results/masks/proposed/{}/{}.png"
    assert plan.masks == {
        "content": {"coffee": proposal.format("content", "coffee"), "street": "masks/content/street.png"},
        "style": {"hubble_deep_field": proposal.format("style", "hubble_deep_field"), "ihc": "masks/style/ihc.png"},
    }
    assert plan.guided == set(plan.pairs) and len(plan.pairs) == 4  # every pair guided
    jobs = wf.Jobs(plan)
    wildcards = type("W", (), {"kind": "style", "name": "hubble_deep_field"})
    assert jobs.painted_mask(wildcards) == proposal.format("style", "hubble_deep_field")
    assert jobs.clean_args(wildcards) == ""  # a proposal is exact, in its own colours
    assert jobs.propose_args(wildcards) == "--k 2"  # as many regions as the project has labels
    # Painted pairs keep the project's labels and shared targets; a proposal's regions are paired.
    assert "--colors" in wf.transfer_args(plan, "street", "ihc") and plan.uses_targets("street", "ihc")
    assert "--colors" not in wf.transfer_args(plan, "street", "hubble_deep_field")
    assert not plan.uses_targets("coffee", "ihc")
    assert wf.plan(config, tmp_path).masks["style"] == {"ihc": "masks/style/ihc.png"}  # default: painted only


def test_a_pair_can_start_from_an_image_of_its_own(tmp_path: Path) -> None:
    config = _config(demo={"content": ["coffee"], "style": ["ihc", "retina"]})
    config["per_pair"] = {"coffee__ihc": {"init": "image:starts/coffee.png"}}
    _image(tmp_path / "starts/coffee.png", (32, 32))
    plan = wf.plan(config, tmp_path)
    jobs = wf.Jobs(plan)
    pair = type("W", (), {"content": "coffee", "style": "ihc"})
    assert jobs.transfer_inputs(pair)["init"] == "starts/coffee.png"  # a changed start reruns the pair
    assert "--init image:starts/coffee.png" in wf.transfer_args(plan, "coffee", "ihc")
    assert "init" not in jobs.transfer_inputs(type("W", (), {"content": "coffee", "style": "retina"}))


def test_a_start_image_that_does_not_exist_is_one_line_naming_it(tmp_path: Path) -> None:
    """Snakemake skips a finished pair whose new input is missing ("Nothing to be done"): the plan
    must refuse the setting instead of letting it be ignored."""
    config = _config(demo={"content": ["coffee"], "style": ["ihc"]})
    config["per_pair"] = {"coffee__ihc": {"init": "image:starts/coffee.png"}}
    with pytest.raises(InputError, match=r"per_pair coffee__ihc: init image:starts/coffee\.png: no such file"):
        wf.plan(config, tmp_path)
    with pytest.raises(InputError, match=r"per_style ihc: init image:x\.png: no such file"):
        wf.plan({**config, "per_pair": {}, "per_style": {"ihc": {"init": "image:x.png"}}}, tmp_path)
    with pytest.raises(InputError, match=r"^gatys: init image:y\.png: no such file"):
        wf.plan({**config, "per_pair": {}, "gatys": {**config["gatys"], "init": "image:y.png"}}, tmp_path)
    _image(tmp_path / "starts/coffee.png", (32, 32))
    assert wf.plan(config, tmp_path).pair_settings("coffee", "ihc")["init"] == "image:starts/coffee.png"


def test_a_config_mistake_is_one_line_naming_the_key() -> None:
    schema = ROOT / wf.SCHEMA
    wf.check_config(_config(), schema)
    for bad, message in [
        ({"weigths": "random"}, "unknown config key 'weigths'; did you mean 'weights'?"),
        (
            {"gatys": {**_config()["gatys"], "stile_weight": 3}},
            "unknown config key 'stile_weight' in gatys; did you mean 'style_weight'?",
        ),
        ({"per_style": {"ihc": {"pooling": "median"}}}, "config key per_style.ihc.pooling: 'median' is not one of"),
        ({"zzz": 1}, "unknown config key 'zzz'; known keys: weights, demo,"),
    ]:
        with pytest.raises(InputError) as error:
            wf.check_config({**_config(), **bad}, schema)
        assert message in str(error.value) and "\n" not in str(error.value), str(error.value)


def test_plan_reads_masks_through_the_guarded_loader_and_warns_about_strays(tmp_path: Path, caplog) -> None:
    (tmp_path / "masks/content").mkdir(parents=True)
    Image.new("RGB", (40, 40), (230, 25, 75)).save(tmp_path / "masks/content/astronot.png")  # no such image
    config = _config(demo={"content": ["coffee"], "style": ["ihc"]}, labels=LABELS)
    with caplog.at_level("WARNING"):
        wf.plan(config, tmp_path)
    assert "masks/content/astronot.png matches no image in images/content" in caplog.text
    Image.new("P", (20000, 20000)).save(tmp_path / "masks/content/coffee.png")  # a decompression bomb
    _paint(tmp_path / "masks/style/ihc.png", (64, 64))
    with pytest.raises(InputError, match=r"masks/content/coffee\.png: 20000x20000 is 400,000,000 pixels"):
        wf.plan(config, tmp_path)


def test_painted_labels_sees_what_was_painted(tmp_path: Path) -> None:
    _paint(tmp_path / "m.png", (96, 64), k=2)
    assert wf.painted_labels(tmp_path / "m.png", {**LABELS, "sky": "#3cb44b"}) == {"subject", "background"}


def test_schema_rejects_bad_values_with_the_key_and_value() -> None:
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    schema = str(ROOT / "schemas" / "config.schema.yaml")
    good = _config()
    validate(dict(good), schema)
    for bad, words in [
        ({"gatys": {**good["gatys"], "pooling": "median"}}, ["median", "pooling"]),
        ({"gatys": {**good["gatys"], "steps": 0}}, ["0", "steps"]),
        ({"labels": {"sky": "blue"}}, ["blue", "sky"]),
        ({"gatys": {**good["gatys"], "stepz": 3}}, ["stepz"]),  # typos fail
    ]:
        with pytest.raises(WorkflowError) as error:
            validate({**good, **bad}, schema)
        assert all(word in str(error.value) for word in words), str(error.value)


def test_every_sample_is_bundled() -> None:
    from skimage import data

    for name, loader in SAMPLES.items():
        assert hasattr(data, loader), name
    assert sample_image("ihc").mode == "RGB"
    assert sample_image("brick").mode == "RGB"  # grey samples become RGB


def test_repository_demo_masks_fit_their_images() -> None:
    """The masks we ship are painted on the demo images: right aspect, both labels present."""
    config = _config()
    for kind in wf.KINDS:
        for name in config["demo"][kind]:
            path = ROOT / "masks" / kind / f"{name}.png"
            if not path.exists():
                continue
            with Image.open(path) as mask:
                width, height = mask.size
            original = sample_image(name).size
            assert abs((width / height) / (original[0] / original[1]) - 1) < 0.01, path
            assert wf.painted_labels(path, config["labels"]) == set(config["labels"]), path


# --- Snakemake on a tiny project ---------------------------------------------------------------

TINY = {
    "weights": "random",
    "demo": {"content": ["coffee"], "style": ["ihc", "retina"], "videos": []},  # clips: their own test
    "labels": LABELS,
    "gatys": {"size": 48, "steps": 2},
    "fast": {
        "enabled": True,
        "guided": True,
        "steps": 2,
        "size": 32,
        "batch": 1,
        "width": 0.25,
        "checkpoint_every": 10,
    },
}


def _planned(output: str) -> dict[str, int]:
    """Jobs per rule from a dry run's job-stats table."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", output, re.MULTILINE)}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny project run once: one content image, two styles, one style mask and one content mask."""
    root = tmp_path_factory.mktemp("project")
    _paint(root / "masks/content/coffee.png", (96, 64))
    _paint(root / "masks/style/ihc.png", (64, 64), seed=3)
    (root / "first_run.txt").write_text(snakemake(root, "--cores", "2", config=TINY).output)
    return root


@pytest.mark.slow
def test_whole_workflow_runs_and_records_everything(project: Path) -> None:
    for pair in ("coffee__ihc", "coffee__retina"):
        result = project / "results" / "gatys" / f"{pair}.png"
        metadata = json.loads(result.with_name(f"{pair}.png.json").read_text())
        assert metadata["weights"]["kind"] == "random" and metadata["parameters"]["size"] == 48
        assert metadata["stylesnake"] and metadata["parameters"]["seed"] == 0
        assert (project / "results" / "gatys" / f"{pair}.panel.png").exists()
        assert (project / "results" / "gatys" / f"{pair}.loss.svg").read_text().startswith("<svg")
        assert Image.open(project / "results" / "gatys" / f"{pair}.loss.png").format == "PNG"  # as fast style's
        assert (project / "logs" / "transfer" / f"{pair}.log").exists()
        assert (project / "results" / "benchmarks" / "transfer" / f"{pair}.tsv").exists()
    guided = json.loads((project / "results/gatys/coffee__ihc.png.json").read_text())
    assert guided["method"] == "gatys2016-guided" and set(guided["guidance"]["regions"]) == set(LABELS)
    unguided = json.loads((project / "results/gatys/coffee__retina.png.json").read_text())
    assert unguided["method"] == "gatys2015"  # retina has no mask here
    sheet = (project / "results" / "index.html").read_text()
    assert "Style: ihc" in sheet and "Style: retina" in sheet and "coffee__ihc.panel.png" in sheet
    # Instant style first: every pair through the real networks, guided where the pair has masks.
    assert sheet.index("Instant style: every pair") < sheet.index("Style: ihc")
    assert "seeded random VGG weights" in sheet and 'src="instant/coffee__ihc.png"' in sheet
    instant = json.loads((project / "results/instant/coffee__ihc.png.json").read_text())
    assert instant["method"] == "ghiasi2017-instant+guided" and instant["output"]["width"] == 48
    assert 'src="fast/coffee__ihc.png"' in sheet and 'src="fast/coffee__retina.png"' in sheet
    # The run ends by naming the contact sheet and the settings a later run must repeat.
    note = (project / "first_run.txt").read_text()
    assert "every result is on results/index.html" in note and "--configfile" in note
    assert (project / "results" / "masks" / "content" / "coffee.png").exists()
    for style in ("ihc", "retina"):  # fast style: a network per style, a result per pair, an ONNX export
        assert (project / "results" / "fast" / f"{style}.onnx").exists()
        fast = json.loads((project / "results" / "fast" / f"coffee__{style}.png.json").read_text())
        assert fast["method"] == {"ihc": "johnson2016+guided", "retina": "johnson2016"}[style]  # ihc has a mask
        assert fast["weights"]["kind"] == "random"


def _written(root: Path) -> dict[str, tuple[int, int]]:
    """Every file the workflow writes (results and logs) → (size, modification time in ns)."""
    files = [p for folder in ("results", "logs") for p in (root / folder).rglob("*") if p.is_file()]
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


@pytest.mark.slow
def test_second_run_has_nothing_to_do(project: Path) -> None:
    before = _written(project)
    assert "results/gatys/coffee__ihc.png" in before and "results/index.html" in before
    again = snakemake(project, "--cores", "2", config=TINY)
    assert "Nothing to be done" in again.output
    assert _written(project) == before  # no job ran: not one file written again, none added or removed
    # No rule mistakes another's output for its own (a panel for a transfer to a style "x.panel"),
    # which Snakemake would report as failed input functions while it builds the DAG.
    assert "InputFunctionException" not in snakemake(project, "-n", "--forceall", config=TINY).output


@pytest.mark.slow
def test_same_config_gives_the_same_bytes(project: Path, tmp_path: Path) -> None:
    (tmp_path / "masks").mkdir()
    for kind in wf.KINDS:
        (tmp_path / "masks" / kind).mkdir()
    for mask in (project / "masks").rglob("*.png"):
        (tmp_path / mask.relative_to(project)).write_bytes(mask.read_bytes())
    snakemake(tmp_path, "--cores", "2", "results/gatys/coffee__ihc.png", config=TINY)
    result = "results/gatys/coffee__ihc.png"
    assert (tmp_path / result).read_bytes() == (project / result).read_bytes()


@pytest.mark.slow
def test_new_content_image_runs_one_transfer_per_style_and_no_style_job(project: Path, tmp_path: Path) -> None:
    _image(project / "images/content/street.png", (72, 48))
    _paint(project / "masks/content/street.png", (72, 48), seed=5)
    try:
        jobs = _planned(snakemake(project, "-n", "--quiet", "rules", config=TINY).output)
    finally:
        (project / "images/content/street.png").unlink()
        (project / "masks/content/street.png").unlink()
    assert jobs["transfer"] == 2 and jobs["clean_mask"] == 1 and jobs["fast_stylize"] == 2
    assert "style_targets" not in jobs and "sample_image" not in jobs and "fast_train" not in jobs


@pytest.mark.slow
def test_method_instant_plans_instant_style_alone_for_a_new_photo(project: Path) -> None:
    _image(project / "images/content/street.png", (72, 48))
    try:
        jobs = _planned(snakemake(project, "-n", "--quiet", "rules", config={**TINY, "method": "instant"}).output)
    finally:
        (project / "images/content/street.png").unlink()
    assert jobs["instant"] == 2 and "transfer" not in jobs and "figures" not in jobs and "style_targets" not in jobs


@pytest.mark.slow
def test_changing_one_styles_parameter_reruns_only_that_style(project: Path) -> None:
    optimisation = {**TINY, "per_style": {"retina": {"style_weight": 10.0}}}
    jobs = _planned(snakemake(project, "-n", "--quiet", "rules", config=optimisation).output)
    assert jobs["transfer"] == 1 and "style_targets" not in jobs
    targets = {**TINY, "per_style": {"ihc": {"pooling": "avg"}}}
    output = snakemake(project, "-n", config=targets).output
    assert _planned(snakemake(project, "-n", "--quiet", "rules", config=targets).output)["style_targets"] == 1
    assert "results/targets/ihc.pt" in output and "results/targets/retina.pt" not in output


@pytest.mark.slow
def test_bad_config_fails_validation_with_a_clear_message(tmp_path: Path) -> None:
    bad = {**TINY, "gatys": {**TINY["gatys"], "pooling": "median"}}
    run = snakemake(tmp_path, "-n", config=bad, check=False)
    assert run.returncode != 0 and "median" in run.output and "pooling" in run.output
    run = snakemake(tmp_path, "-n", "--config", "weigths=random", config=TINY, check=False)
    ours = [line for line in run.output.splitlines() if line.startswith("stylesnake:")]
    typo = "stylesnake: unknown config key 'weigths'; did you mean 'weights'? (schemas/config.schema.yaml lists them)"
    assert run.returncode != 0 and ours == [typo]
    assert len(run.output.splitlines()) < 12, run.output  # not the schema and the config, hundreds of lines
    run = snakemake(tmp_path, "-n", "--config", "preset=fast", config=TINY, check=False)
    assert run.returncode != 0 and "preset 'fast' is not defined" in run.output
    assert "Building DAG" not in run.output  # refused before Snakemake planned a job


@pytest.mark.slow
def test_a_per_pair_setting_added_after_a_run_reruns_that_pair(project: Path) -> None:
    start = project / "starts" / "coffee.png"
    missing = {**TINY, "per_pair": {"coffee__retina": {"init": "image:starts/coffee.png"}}}
    output = snakemake(project, "-n", config=missing, check=False).output
    assert "per_pair coffee__retina: init image:starts/coffee.png: no such file" in output
    assert "Nothing to be done" not in output
    _image(start, (40, 30))
    os.utime(start, (1, 1))  # older than every output: only the changed setting can rerun the pair
    try:
        jobs = _planned(snakemake(project, "-n", "--quiet", "rules", config=missing).output)
    finally:
        start.unlink()
    assert jobs["transfer"] == 1 and "style_targets" not in jobs


@pytest.mark.slow
def test_interrupted_transfer_leaves_no_output(tmp_path: Path) -> None:
    slow = {**TINY, "demo": {"content": ["coffee"], "style": ["ihc"]}, "gatys": {"size": 48, "steps": 100000}}
    proc = subprocess.Popen(
        snakemake_command(tmp_path, "--cores", "2", "results/gatys/coffee__ihc.png", config=slow),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    log = tmp_path / "logs" / "transfer" / "coffee__ihc.log"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "content images/" not in (log.read_text() if log.exists() else ""):
            time.sleep(0.5)
        assert "content images/" in log.read_text(), "the transfer never started"
        time.sleep(3)  # well into the optimisation
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, as a user would
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(ProcessLookupError):  # no job may outlive the test
            os.killpg(proc.pid, signal.SIGKILL)
    result = tmp_path / "results" / "gatys" / "coffee__ihc.png"
    assert not result.exists() and not result.with_name(result.name + ".json").exists()
    assert list((tmp_path / "results").rglob(".*.tmp")) == []
    jobs = _planned(snakemake(tmp_path, "-n", "--quiet", "rules", config=slow).output)
    assert jobs["transfer"] == 1  # the next run redoes it


@pytest.mark.slow
def test_report_has_gallery_curves_and_parameters(project: Path) -> None:
    # Reported under other settings than the run's: the captions must still say what made each file.
    other = {**TINY, "weights": "random:7", "gatys": {"size": 64, "steps": 999}, "fast": {**TINY["fast"], "steps": 77}}
    snakemake(project, "--report", "report.html", config=other)
    report = (project / "report.html").read_text(errors="replace")
    for expected in ("coffee__ihc.panel.png", "coffee__retina.loss.svg", "--style-weight", "Contact sheet"):
        assert expected in report, expected
    text = re.sub(r"<[^>]+>", "", report)  # the captions' HTML, as words
    made = re.findall(r"(?:Made|Trained) with (--[^()]*?) \(from", text)
    assert len(made) == 2 * 3 + 2 + 2, made  # result, panel, curve per pair; fast result and network per style
    for caption in made:
        assert "--weights random" in caption and "999" not in caption and "--steps 77" not in caption, caption
    assert sum("--size 48 --steps 2 " in caption for caption in made) == 6
    assert sum(caption.startswith("--steps 2 --size 32") for caption in made) == 2


def test_loss_curve_is_well_formed_svg() -> None:
    import xml.etree.ElementTree as ET

    from pipeline.gallery.curves import loss_curve_svg

    svg = loss_curve_svg({"total": [1.0, 0.1, 0.01], "content": [0.5, 0.2, 0.1], "style": [0.5, float("nan"), 0.0]})
    root = ET.fromstring(svg)
    lines = root.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 3  # non-finite and zero values are left out, not plotted
    assert len(lines[2].get("points").split()) == 1


def test_contact_sheet_flags_a_transfer_that_did_not_converge(tmp_path: Path) -> None:
    from pipeline.gallery.sheets import contact_sheet

    results = []
    for name, converged in (("a__s", True), ("b__s", False)):
        result = tmp_path / f"{name}.png"
        result.write_bytes(b"")
        sidecar = {"content": {"path": f"{name[0]}.png"}, "styles": [{"path": "s.png"}], "converged": converged}
        result.with_name(f"{name}.png.json").write_text(json.dumps({**sidecar, "loss_drop": 0.03}))
        results.append(result)
    sheet = contact_sheet(results, tmp_path / "index.html")
    assert sheet.count("not converged") == 1 and "the loss fell by only 3%" in sheet


def test_contact_sheet_shows_fast_style_results_with_the_transfers(tmp_path: Path) -> None:
    from pipeline.gallery.sheets import contact_sheet

    gatys = tmp_path / "gatys" / "coffee__ihc.png"
    fast = tmp_path / "fast" / "coffee__ihc.png"
    for path in (gatys, fast):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"")
    (tmp_path / "fast" / "ihc.loss.png").write_bytes(b"")
    gatys.with_name("coffee__ihc.png.json").write_text(
        json.dumps({"content": {"path": "coffee.png"}, "styles": [{"path": "results/targets/ihc.pt"}]})
    )
    record = {
        "method": "johnson2016+guided",
        "weights": {"kind": "random"},
        "parameters": {"size": 48, "preserve_color": False},
        "model": {"path": str(tmp_path / "fast" / "ihc.pth"), "style": "ihc"},
        "content": {"path": "coffee.png"},
    }
    fast.with_name("coffee__ihc.png.json").write_text(json.dumps(record))
    sheet = contact_sheet([gatys, fast], tmp_path / "index.html")
    assert sheet.count("Style: ihc") == 1 and sheet.count("<figure>") == 2  # one section, both results
    assert 'src="fast/coffee__ihc.png"' in sheet and 'href="fast/ihc.loss.png">training curve' in sheet
    assert "<b>coffee</b> (fast style): fast style (guided network), 48 px" in sheet
    assert "1 of them fast style" in sheet


def test_figures_write_the_loss_curve_as_png_too(tmp_path: Path) -> None:
    from pipeline.gallery.curves import loss_curve_png
    from pipeline.gallery.sheets import write_figures

    for name in ("content", "style", "result"):
        _image(tmp_path / f"{name}.png", (40, 32))
    history = {"total": [2.0, 1.0, 0.5], "content": [0.1, 0.2, 0.2], "style": [1.9, 0.8, 0.3]}
    (tmp_path / "result.png.json").write_text(json.dumps({"parameters": {}, "history": history}))
    args = (tmp_path / "result.png", tmp_path / "content.png", tmp_path / "style.png")
    write_figures(*args)
    assert not (tmp_path / "result.loss.png").exists()  # only when asked: `figures` alone writes what it did
    write_figures(*args, curve_png_out=tmp_path / "result.loss.png")
    png = (tmp_path / "result.loss.png").read_bytes()
    title = "content in the style of style: weighted losses"
    assert png == loss_curve_png(history, title=title, x_label="evaluation")  # fast style's drawing, reused
    assert Image.open(tmp_path / "result.loss.png").format == "PNG"


def test_report_captions_are_the_settings_each_output_records(tmp_path: Path) -> None:
    from pipeline.workflow.jobs import recorded_settings

    sidecar = tmp_path / "a.png.json"
    assert recorded_settings(sidecar) == ""  # not made yet: Snakemake asks before the job runs too
    record = {"weights": {"kind": "random"}, "parameters": {"size": 128, "steps": 30, "style_layers": ["a", "b"]}}
    sidecar.write_text(json.dumps(record))
    assert recorded_settings(sidecar) == "--size 128 --steps 30 --style-layers a,b --weights random"
    record = {"weights": {"kind": "imagenet"}, "parameters": {"size": 64, "preserve_color": True, "x": False}}
    sidecar.write_text(json.dumps(record))
    assert recorded_settings(sidecar) == "--size 64 --weights imagenet --preserve-color"
    sidecar.write_text(json.dumps({"weights": {"kind": "random"}, "training": {"steps": 40}}))
    assert recorded_settings(sidecar) == "--steps 40 --weights random"


def test_finished_note_names_the_sheet_and_the_settings_to_repeat() -> None:
    from pipeline.workflow.jobs import finished_note

    note = finished_note({"weights": "random", "preset": "quick"}, [], sheet_exists=True)
    assert note.startswith("stylesnake: finished; every result is on results/index.html")
    assert "the same --config weights=random preset=quick," in note
    note = finished_note({"gatys": {"steps": 5}}, ["/p/my.yaml"], sheet_exists=False)
    assert "index.html" not in note and "--configfile /p/my.yaml --config 'gatys={\"steps\": 5}'" in note
    assert finished_note({}, [], sheet_exists=True) == "stylesnake: finished; every result is on results/index.html"


def test_failed_job_errors_are_the_failed_jobs_last_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.workflow.jobs import failed_job_errors

    monkeypatch.chdir(tmp_path)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs/a.log").write_text("stylesnake: content x.png\nstylesnake: error: x.png: cannot read\n")
    (tmp_path / "logs/b.log").write_text("stylesnake: done\n")  # a job that did not fail is not read
    snakemake_log = tmp_path / "run.log"
    snakemake_log.write_text(
        "Error in rule transfer:\n    jobid: 3\n    log: logs/a.log (check log file(s) for error details)\n"
        "    log: logs/gone.log (check log file(s) for error details)\n"
    )
    assert failed_job_errors([snakemake_log]) == ["logs/a.log: stylesnake: error: x.png: cannot read"]
    assert failed_job_errors(tmp_path / "missing.log") == []


def test_schema_and_config_agree_with_the_code() -> None:
    """Each setting is declared in the code (GatysConfig, TrainConfig, SAMPLES); the schema and
    config.yaml must know the same keys and, where config.yaml sets one, the same default."""
    import dataclasses

    from pipeline.fast.train import TrainConfig
    from pipeline.gatys import GatysConfig

    schema = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert set(schema["$defs"]["sample"]["enum"]) == set(SAMPLES)
    workflow_only = {
        "gatys": {"scale_base", "label_map", "region_weights"},
        "fast": {"enabled", "data", "guided", "masks"},
    }
    run_only = {"gatys": set(), "fast": {"workers"}}  # settings of one machine, not of the project
    for section, cls in (("gatys", GatysConfig), ("fast", TrainConfig)):
        fields = {f.name for f in dataclasses.fields(cls)} - run_only[section]
        assert set(schema["$defs"][section]["properties"]) == fields | workflow_only[section], section
        defaults = cls()
        for key, value in config[section].items():
            if key in fields:
                expected = getattr(defaults, key)
                expected = list(expected) if isinstance(expected, tuple) else expected
                assert value == expected, f"config.yaml {section}.{key}: {value!r}, the code's default {expected!r}"


def test_lint_is_clean(tmp_path: Path) -> None:
    output = snakemake(tmp_path, "--lint", config=TINY).output
    assert "Congratulations, your workflow is in a good condition!" in output, output[-3000:]


def test_slurm_profile_gives_gpus_to_gpu_rules_only(tmp_path: Path) -> None:
    pytest.importorskip("snakemake_executor_plugin_slurm")
    output = snakemake(tmp_path, "-n", "--profile", str(ROOT / "profiles" / "slurm"), config=TINY).output
    jobs = re.findall(r"^rule (\w+):.*?^\s+resources: ([^\n]*)", output, re.MULTILINE | re.DOTALL)
    assert {rule for rule, _ in jobs} >= {"transfer", "style_targets", "figures", "sample_image"}
    for rule, resources in jobs:
        gpu_rule = rule in ("transfer", "fast_train", "video_segment")
        assert ("gpu=1" in resources) == gpu_rule, (rule, resources)
        assert ("slurm_partition=gpu" in resources) == gpu_rule, (rule, resources)


def test_conda_environment_lists_every_runtime_dependency() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    conda_names = {"torch": "pytorch", "opencv-python": "py-opencv"}
    env = yaml.safe_load((ROOT / "envs" / "stylesnake.yaml").read_text())
    listed = {re.split(r"[<>=]", d)[0] for d in env["dependencies"] if isinstance(d, str)}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for dependency in pyproject["project"]["dependencies"]:
        name = re.split(r"[<>=\[ ]", dependency)[0]
        if name != "snakemake":  # the jobs do not run Snakemake
            assert conda_names.get(name, name) in listed, name


@pytest.mark.slow
def test_offline_without_weights_the_first_vgg_rule_fails_with_the_fix(tmp_path: Path) -> None:
    blocked = {**os.environ, "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    config = {
        **TINY,
        "weights": "imagenet",
        "demo": {"content": ["coffee"], "style": ["ihc"]},
        "fast": {"enabled": False},
    }
    run = snakemake(tmp_path, "--cores", "2", config=config, env=blocked, check=False)
    assert run.returncode != 0
    output = run.output
    assert "Error in rule style_targets" in output
    # In the workflow's terms (--config weights=...), said again below Snakemake's report of the failure.
    assert "--config weights=random" in output and "--weights random" not in output
    last = "\n".join(output.splitlines()[-8:])
    assert "logs/style_targets/ihc.log: stylesnake: error: VGG-19 ImageNet weights are not in the cache" in last
    assert len((tmp_path / "logs/style_targets/ihc.log").read_text().splitlines()) == 1
    assert not list((tmp_path / "results").rglob("*.pt"))


def test_colour_and_scales_from_config_skip_the_shared_targets(tmp_path: Path) -> None:
    from snakemake.utils import validate

    config = _config(demo={"content": ["coffee", "chelsea"], "style": ["ihc"]})
    config["per_pair"] = {"coffee__ihc": {"color": "preserve"}}
    config["per_style"] = {"ihc": {"scales": "auto", "scale_base": 128}}
    validate(config, str(ROOT / "schemas" / "config.schema.yaml"))
    plan = wf.plan(config, tmp_path)
    assert not plan.uses_targets("coffee", "ihc") and not plan.uses_targets("chelsea", "ihc")
    assert "--color preserve" in wf.transfer_args(plan, "coffee", "ihc")
    assert "--color none" in wf.transfer_args(plan, "chelsea", "ihc")
    assert "--scales auto --scale-base 128" in wf.transfer_args(plan, "chelsea", "ihc")
    assert wf.plan(_config(demo={"content": ["coffee"], "style": ["ihc"]}), tmp_path).uses_targets("coffee", "ihc")
    with pytest.raises(InputError, match="per_pair: 'coffee__monet'"):
        wf.plan({**config, "per_pair": {"coffee__monet": {"color": "match"}}}, tmp_path)


# --- clips -----------------------------------------------------------------------------------------

CLIP_LABELS = {**LABELS, "green": "#3cb44b", "yellow": "#ffe119"}  # config.yaml's two, and two more


@pytest.fixture(scope="module")
def clip_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A project with the demo's scene clip, a keyframe mask for it, and a four-band painting whose
    mask has the same four labels: the clip is painted region by region, in two segments."""
    from pipeline.synthetic.clips import DEMO_CLIPS, synthetic_clip

    root = tmp_path_factory.mktemp("clips")
    colours = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in CLIP_LABELS.values()], np.uint8)
    first = next(synthetic_clip(DEMO_CLIPS["scene_pan"]))
    (root / "masks/video/scene_pan").mkdir(parents=True)
    Image.fromarray(colours[first.labels]).save(root / "masks/video/scene_pan/000000.png")
    bands = np.repeat(np.arange(4), 16)[None].repeat(64, axis=0)
    (root / "images/style").mkdir(parents=True)
    (root / "masks/style").mkdir(parents=True)
    Image.fromarray((colours[bands] * 0.7 + 30).astype(np.uint8)).save(root / "images/style/bands.png")
    Image.fromarray(colours[bands]).save(root / "masks/style/bands.png")
    (root / "train").mkdir()  # the fast network's training photos: its clip goes through it too
    for name in ("chelsea", "brick"):
        sample_image(name).resize((64, 48)).save(root / "train" / f"{name}.png")
    config = {
        "weights": "random",
        "demo": {"content": [], "style": [], "videos": ["scene_pan"]},
        "labels": CLIP_LABELS,
        "gatys": {"size": 48, "steps": 1},
        "fast": {
            "enabled": True,
            "data": "train",
            "steps": 2,
            "size": 32,
            "batch": 1,
            "width": 0.25,
            "temporal_weight": 10.0,
        },
        "video": {"styles": "all", "size": 48, "steps": 1, "segment": 10, "overlap": 2, "method": "both"},
    }
    return root, snakemake(root, "--cores", "2", config=config).output


@pytest.mark.slow
def test_a_clip_is_painted_in_segments_and_joined_with_its_sound(clip_project: tuple[Path, str]) -> None:
    import av

    from pipeline.video.clip import probe

    root, output = clip_project
    rules = ("sample_clip", "video_masks", "video_segment", "video_join", "style_targets", "fast_train", "video_fast")
    ran = {rule: len(re.findall(rf"^(?:local)?rule {rule}:$", output, re.MULTILINE)) for rule in rules}
    assert ran == dict.fromkeys(rules, 1) | {"video_segment": 2}
    result = root / "results/video/scene_pan__bands.mp4"
    assert probe(result).frames == 16 and probe(root / "videos/scene_pan.mp4").audio

    def sound(path: Path) -> list[bytes]:
        with av.open(str(path)) as container:
            return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]

    assert sound(result) == sound(root / "videos/scene_pan.mp4")
    assert len(list((root / "results/video/scene_pan.masks").glob("*.png"))) == 16
    segment = json.loads((root / "results/video/scene_pan__bands/000.json").read_text())
    assert segment["guidance"]["content_mask"] == "results/video/scene_pan.masks" and segment["span"] == [0, 10]
    assert json.loads((root / "results/video/scene_pan__bands/001.json").read_text())["span"] == [8, 16]
    sheet = (root / "results/index.html").read_text()
    assert 'href="video/scene_pan__bands.mp4"' in sheet and 'src="video/scene_pan__bands.poster.png"' in sheet
    # The same clip through the style's fast network (video.method both), its sound kept too.
    fast = root / "results/video/fast/scene_pan__bands.mp4"
    assert probe(fast).frames == 16 and sound(fast) == sound(root / "videos/scene_pan.mp4")
    assert json.loads(Path(f"{fast}.json").read_text())["model"]["training"]["temporal_weight"] == 10.0
    assert 'href="video/fast/scene_pan__bands.mp4"' in sheet and "trained with temporal weight 10" in sheet
    again = snakemake(root, "--cores", "2", config=yaml.safe_load((root / "tiny.yaml").read_text())).output
    assert "Nothing to be done" in again


@pytest.mark.slow
def test_masks_semantic_caches_one_mask_per_image_and_falls_back_to_colours(tmp_path: Path) -> None:
    """A parser that does not see the pictures (random weights: one group everywhere) hands over to
    the colour proposal, and the result's record says which mask each image had."""
    pytest.importorskip("transformers")
    from transformers import ConvNextConfig, UperNetConfig, UperNetForSemanticSegmentation

    backbone = ConvNextConfig(out_features=["stage1", "stage2", "stage3", "stage4"], depths=[1, 1, 1, 1],
                              hidden_sizes=[8, 16, 32, 64])  # fmt: skip
    UperNetForSemanticSegmentation(
        UperNetConfig(backbone_config=backbone, num_labels=150, hidden_size=16, auxiliary_in_channels=32)
    ).save_pretrained(tmp_path / "parser")
    config = {
        **TINY,
        "demo": {"content": ["coffee"], "style": ["retina"], "videos": []},
        "masks": "semantic",
        "semantic": {"model": "parser", "min_share": 0.05},  # the fold share, through to the parser
        "fast": {"enabled": False},
    }
    output = snakemake(tmp_path, "--cores", "2", config=config).output
    assert len(re.findall(r"^(?:local)?rule semantic_mask:$", output, re.MULTILINE)) == 2
    for kind, name in (("content", "coffee"), ("style", "retina")):
        record = json.loads((tmp_path / f"results/masks/semantic/{kind}/{name}.png.json").read_text())
        assert record["mask"] == "colours" and record["one_group"]["share"] > 0.95
        assert record["groups"]["min_share"] == 0.05
    guidance = json.loads((tmp_path / "results/gatys/coffee__retina.png.json").read_text())["guidance"]
    assert guidance["mask_kinds"] == {"content": "colours", "style": ["colours"]}
    assert guidance["one_group"]["content"]["share"] > 0.95 and guidance["one_group"]["style"][0]["share"] > 0.95
    sheet = (tmp_path / "results/index.html").read_text()
    assert "masks colours / colours" in sheet
    assert "in the content image: proposed from colours instead; paint a mask to choose the regions" in sheet


# --- masks: semantic -------------------------------------------------------------------------------


def _parser(layout: Callable[[int, int], dict[str, np.ndarray]]):
    """A scene parser that sees ADE20K class ``name`` where ``layout(height, width)[name]`` is set."""
    from pipeline.masks.parsers import ADE20K, Parser

    def scores(image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        logits = np.full((len(ADE20K), height, width), -10.0, np.float32)
        for name, where in layout(height, width).items():
            logits[ADE20K.index(name)][where] = 10.0
        return logits

    return Parser("fake", ADE20K, "test", scores)


def _lake(height: int, width: int) -> dict[str, np.ndarray]:
    """Sky over a lake, a small tree on the shore."""
    rows, cols = np.mgrid[0:height, 0:width]
    sky = rows < height // 2
    tree = (rows >= height // 2) & (rows < height // 2 + 4) & (cols < 4)
    return {"sky": sky, "lake": ~sky & ~tree, "tree": tree}


def _only_sky(height: int, width: int) -> dict[str, np.ndarray]:
    return {"sky": np.ones((height, width), bool)}


def test_cleaning_a_semantic_mask_keeps_its_names_relations_and_record(tmp_path: Path) -> None:
    """The workflow cleans every mask it guides with; a semantic mask's copy must still be named
    by group, carry the relations and say what its record said (one group everywhere)."""
    from pipeline.masks.label_maps import clean_mask_file, mask_chunks
    from pipeline.masks.semantic import semantic_mask_file

    for name, layout in (("lake", _lake), ("sky", _only_sky)):
        _image(tmp_path / f"{name}.png", (64, 48))
        semantic_mask_file(tmp_path / f"{name}.png", tmp_path / f"{name}.mask.png", parser=_parser(layout))
        clean_mask_file(tmp_path / f"{name}.mask.png", tmp_path / f"{name}.clean.png")
        assert mask_chunks(tmp_path / f"{name}.clean.png") == mask_chunks(tmp_path / f"{name}.mask.png")
        source, cleaned = (np.asarray(Image.open(tmp_path / f"{name}.{k}.png")) for k in ("mask", "clean"))
        assert np.array_equal(source, cleaned)  # pixel for pixel: the tree's 16 px stay
    names, related = mask_chunks(tmp_path / "lake.clean.png")
    assert "sky" in names and "water" in names and related["water"][0] == "sky"
    record = json.loads((tmp_path / "sky.clean.png.json").read_text())
    assert record["mask"] == "semantic" and record["one_group"] == {"name": "sky", "share": 1.0}
    assert record["cleaned_from"] == str(tmp_path / "sky.mask.png")


def _semantic_project(root: Path, *, groups: str | None = None) -> dict:
    """A lake photo (content) and a painting of sky alone (style), images of their own, masks: semantic."""
    _image(root / "images/content/lake.png", (64, 48))
    _image(root / "images/style/sky.png", (64, 64), seed=1)
    return {
        **TINY,
        "demo": {"content": [], "style": [], "videos": []},
        "masks": "semantic",
        "semantic": {"model": "not-fetched", **({"groups": groups} if groups else {})},
        "fast": {"enabled": False},
    }


@pytest.mark.slow
def test_masks_semantic_pair_by_name_and_map_a_missing_group_through_the_relations(tmp_path: Path) -> None:
    """Semantic masks already made (a fake parser: no model is fetched) go through the workflow's
    clean-up and transfer: regions pair by group name, the lake takes the painting's sky (the
    relation table), and the painting the parser saw as sky alone is flagged on the sheet."""
    from pipeline.masks.label_maps import mask_chunks
    from pipeline.masks.semantic import semantic_mask_file

    config = _semantic_project(tmp_path)
    for kind, name, layout in (("content", "lake", _lake), ("style", "sky", _only_sky)):
        out = tmp_path / wf.Paths.semantic.format(kind=kind, name=name)
        out.parent.mkdir(parents=True, exist_ok=True)
        semantic_mask_file(tmp_path / f"images/{kind}/{name}.png", out, parser=_parser(layout))
    snakemake(tmp_path, "--cores", "2", config=config)
    record = json.loads((tmp_path / "results/gatys/lake__sky.png.json").read_text())
    guidance = record["guidance"]
    assert guidance["mask_kinds"] == {"content": "semantic", "style": ["semantic"]}
    assert {"sky", "water", "vegetation"} <= set(guidance["regions"])
    assert guidance["label_map"] == {"water": "sky", "vegetation": "plain"}  # the painting holds sky alone
    assert guidance["one_group"] == {"content": None, "style": [{"name": "sky", "share": 1.0}]}
    sheet = (tmp_path / "results/index.html").read_text()
    assert "the parser saw only sky (100 %) in the style image: paint a mask, or propose one from colours" in sheet
    # What the web app reads by default (results/masks/style): the painting's mask, named by group.
    assert "sky" in mask_chunks(tmp_path / "results/masks/style/sky.png")[0]


def test_masks_semantic_painted_masks_win(tmp_path: Path) -> None:
    """One painted mask: that image is guided by it (cleaned in the project's labels); the image
    without one gets the semantic mask."""
    config = _semantic_project(tmp_path)
    _paint(tmp_path / "masks/content/lake.png", (64, 48))
    plan = wf.plan(_config(**config), tmp_path)
    assert plan.masks == {
        "content": {"lake": "masks/content/lake.png"},
        "style": {"sky": "results/masks/semantic/style/sky.png"},
    }
    assert plan.proposed == {("style", "sky")} and plan.guided == {("lake", "sky")}
    output = snakemake(tmp_path, "-n", "-p", config=config).output
    assert len(re.findall(r"^(?:local)?rule semantic_mask:$", output, re.MULTILINE)) == 1
    assert "propose-mask images/style/sky.png results/masks/semantic/style/sky.png --semantic not-fetched" in output
    assert "results/masks/semantic/content" not in output
    assert "clean-mask masks/content/lake.png results/masks/content/lake.png --colors" in output
    assert "clean-mask results/masks/semantic/style/sky.png results/masks/style/sky.png" in output
    assert "--content-mask results/masks/content/lake.png --style-mask results/masks/style/sky.png" in output


@pytest.mark.slow
def test_masks_semantic_rerun_when_the_group_table_or_model_changes(tmp_path: Path) -> None:
    """The group table is an input of each semantic mask (the package's own by default), the model
    and the fold share are its parameters: editing any of them makes the masks again."""
    from importlib import resources

    default = wf.Jobs(wf.plan(_config(**_semantic_project(tmp_path)), tmp_path))
    job = SimpleNamespace(kind="style", name="sky")
    assert Path(default.semantic_inputs(job)["groups"]) == Path(str(resources.files("pipeline.masks"))) / "groups.yaml"
    assert "--min-share" not in default.semantic_args(job)  # the parser's own default (2 %)
    (tmp_path / "mine.yaml").write_text((ROOT / "pipeline/masks/groups.yaml").read_text())
    config = _semantic_project(tmp_path, groups="mine.yaml")
    config["semantic"]["min_share"] = 0.05
    jobs = wf.Jobs(wf.plan(_config(**config), tmp_path))
    assert jobs.semantic_inputs(job) == {"image": "images/style/sky.png", "groups": "mine.yaml"}
    assert "--groups mine.yaml" in jobs.semantic_args(job) and "--min-share 0.05" in jobs.semantic_args(job)
    with pytest.raises(InputError, match=r"semantic: groups 'theirs\.yaml': no such file"):
        wf.plan(_config(**{**config, "semantic": {"groups": "theirs.yaml"}}), tmp_path)
    # Masks made after the table: nothing to do, until the table is edited.
    del config["semantic"]["min_share"]
    mask = tmp_path / wf.Paths.semantic.format(kind="style", name="sky")
    mask.parent.mkdir(parents=True)
    mask.write_bytes(b"made")
    assert "Nothing to be done" in snakemake(tmp_path, "-n", str(mask.relative_to(tmp_path)), config=config).output
    os.utime(tmp_path / "mine.yaml", (time.time() + 60, time.time() + 60))
    rerun = snakemake(tmp_path, "-n", str(mask.relative_to(tmp_path)), "--quiet", "rules", config=config).output
    assert _planned(rerun).get("semantic_mask") == 1


def test_schema_knows_the_semantic_fold_share() -> None:
    schema = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())
    wf.check_config(_config(semantic={"model": "segformer-b0", "min_share": 0.05}), schema)
    with pytest.raises(InputError, match=r"semantic\.min_share"):
        wf.check_config(_config(semantic={"min_share": 0.7}), schema)


def test_contact_sheet_flags_a_painting_the_parser_did_not_see(tmp_path: Path) -> None:
    from pipeline.gallery.sheets import contact_sheet

    result = tmp_path / "a__s.png"
    result.write_bytes(b"")
    guidance = {
        "mask_kinds": {"content": "semantic", "style": ["colours"]},
        "one_group": {"content": None, "style": [{"name": "sky", "share": 0.981}]},
    }
    sidecar = {"content": {"path": "a.png"}, "styles": [{"path": "s.png"}], "guidance": guidance}
    result.with_name("a__s.png.json").write_text(json.dumps(sidecar))
    sheet = contact_sheet([result], tmp_path / "index.html")
    assert "the parser saw only sky (98 %) in the style image: proposed from colours instead" in sheet


def test_contact_sheet_says_what_each_panel_shows(tmp_path: Path) -> None:
    """A panel drawn with both masks shows them, one drawn without (an unguided transfer) does not:
    each panel's caption names its own pictures, where one sentence claimed masks for all."""
    from pipeline.gallery.sheets import contact_sheet, figure_paths, write_figures

    for name in ("content", "style", "content_mask", "style_mask"):
        _image(tmp_path / f"{name}.png", (40, 32))
    masks = {"content_mask": tmp_path / "content_mask.png", "style_mask": tmp_path / "style_mask.png"}
    results = []
    for name, given in (("guided", masks), ("plain", {})):
        result = tmp_path / f"{name}.png"
        _image(result, (40, 32), seed=1)
        record = {"content": {"path": f"{name}.png"}, "styles": [{"path": "style.png"}], "parameters": {}}
        result.with_name(f"{name}.png.json").write_text(json.dumps({**record, "history": {"total": [2.0, 1.0]}}))
        write_figures(result, tmp_path / "content.png", tmp_path / "style.png", **given)
        results.append(result)
    widths = [Image.open(figure_paths(result)[0]).width for result in results]
    assert widths[0] > widths[1]  # five pictures, and three
    sheet = contact_sheet(results, tmp_path / "index.html")
    assert "<b>guided</b> (panel: content, content mask, style, style mask, result):" in sheet
    assert "<b>plain</b> (panel: content, style, result):" in sheet
    assert "its mask" not in sheet


# --- config mistakes caught before any job runs -------------------------------------------------


def test_video_overlap_not_below_segment_is_one_line_before_any_job(tmp_path: Path) -> None:
    video = _config()["video"]
    said = "video.overlap 4 is not below video.segment 4: neighbouring segments share overlap frames of their segment"
    with pytest.raises(InputError, match=f"^{re.escape(said)}; lower video.overlap or raise video.segment$"):
        wf.plan(_config(video={**video, "segment": 4, "overlap": 4}), tmp_path)
    short = {**_config()["presets"], "short": {"video": {"segment": 3}}}
    with pytest.raises(InputError, match=r"video\.overlap 4 is not below video\.segment 3 \(with the preset's"):
        wf.plan(_config(presets=short, preset="short"), tmp_path)  # config.yaml's overlap, the preset's segment
    config = {**TINY, "demo": {**TINY["demo"], "videos": ["astronaut_pan"]}, "video": {"segment": 4, "overlap": 4}}
    run = snakemake(tmp_path, "-n", config=config, check=False)
    assert run.returncode != 0 and [line for line in run.output.splitlines() if line.startswith("stylesnake:")] == [
        f"stylesnake: {said}; lower video.overlap or raise video.segment"
    ]
    assert "InputFunctionException" not in run.output and "Building DAG" not in run.output


def test_a_semantic_model_folder_without_a_saved_model_is_refused_before_any_job(tmp_path: Path) -> None:
    """An empty ``semantic.model`` folder (a download that never finished) is one line at config
    time, not a failed semantic-mask job per image after the jobs before them ran."""
    config = _semantic_project(tmp_path)
    config["semantic"]["model"] = "parser"
    folder = tmp_path / "parser"
    folder.mkdir()
    for missing in ("no config.json", "config.json but no weights file (model.safetensors or pytorch_model.bin)"):
        with pytest.raises(InputError) as refused:
            wf.plan(_config(**config), tmp_path)
        assert str(refused.value).startswith(f"semantic: model 'parser': no saved model in that folder ({missing};")
        assert "\n" not in str(refused.value)
        (folder / "config.json").write_text("{}")
    run = snakemake(tmp_path, "-n", config=config, check=False)
    ours = [line for line in run.output.splitlines() if line.startswith("stylesnake:")]
    assert len(ours) == 1 and "semantic: model 'parser': no saved model in that folder" in ours[0], run.output
    assert run.returncode != 0 and "Traceback" not in run.output and "rule semantic_mask" not in run.output
    (folder / "model.safetensors").write_bytes(b"")  # there: whether it loads is the job's to say
    assert wf.plan(_config(**config), tmp_path).semantic["model"] == "parser"


def test_a_mistake_in_config_yaml_is_one_line_with_its_place(tmp_path: Path) -> None:
    """config.yaml beside the Snakefile (the one users edit) is read before Snakemake reads it:
    a mistake is one line with the file, the line and column (Snakemake's says only "not valid")."""
    workflow = tmp_path / "workflow"
    workflow.mkdir()
    (workflow / "Snakefile").write_text((ROOT / "Snakefile").read_text())
    (workflow / "config.yaml").write_text("weights: random\ngatys:\n  steps: [1, 2\n  size: 3\n")
    run = snakemake(tmp_path, "-n", snakefile=workflow / "Snakefile", timeout=120, check=False)
    ours = [line for line in run.output.splitlines() if line.startswith("stylesnake:")]
    assert run.returncode != 0 and ours == [
        f"stylesnake: {workflow / 'config.yaml'}: line 4, column 7: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence from line 3); correct it there (git diff shows what changed)"
    ], run.output


def test_what_the_demo_writes_is_ignored_by_git(tmp_path: Path) -> None:
    """Re-running the demo (README's set-up) leaves `git status` clean: the images and clips it
    writes into images/ and videos/, its results and its logs are all git-ignored."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    plan = wf.plan(_config(), tmp_path)  # an empty folder: only what config.yaml's demo writes
    assert plan.clips.paths and plan.images["content"] and plan.images["style"]
    written = [*plan.images["content"].values(), *plan.images["style"].values(), *plan.clips.paths.values()]
    written += [wf.Paths.sheet, wf.Paths.log("transfer", "coffee__ihc")]
    proc = subprocess.run(
        ["git", "check-ignore", "--no-index", *written], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert sorted(proc.stdout.split()) == sorted(written), proc.stderr
