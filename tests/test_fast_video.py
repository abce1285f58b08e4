"""Fast video: stable training (the temporal term on pairs moved by a known motion) and clips
through a fast-style network (``video --model``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from pipeline.cli import main
from pipeline.fast import model as fast_model
from pipeline.fast.stability import Motion, guided_pair, motion_generator, moved_pair, temporal_term
from pipeline.fast.train import TrainConfig, train
from pipeline.synthetic.clips import ClipSpec, synthetic_clip, write_clip
from pipeline.video import clip as clips

SMALL = ClipSpec(size=(64, 48), frames=6)
TINY = TrainConfig(steps=4, size=32, batch=2, width=0.25, checkpoint_every=2, seed=3, temporal_weight=100.0)


def _smooth(seed: int) -> torch.Tensor:
    """A batch of smooth images: a warp of them is what bilinear sampling can reproduce exactly."""
    coarse = torch.rand((2, 3, 6, 6), generator=torch.Generator().manual_seed(seed))
    return F.interpolate(coarse, size=(64, 64), mode="bicubic", align_corners=False).clamp(0, 1)


# --- the temporal term ---------------------------------------------------------------------------


def test_the_motion_is_known_and_the_term_rewards_following_it() -> None:
    x = _smooth(0)
    still = Motion(brightness=0.0, noise=0.0)
    pair = moved_pair(x, torch.Generator().manual_seed(1), still)
    assert 0.5 < float(pair.certainty.mean()) < 1  # the crops moved: some pixels came from outside
    # A network that moves with the picture (here: the identity) is perfectly stable ...
    assert float(temporal_term(x, pair.moved, pair)) < 1e-10
    # ... one that ignores the motion is not; a pointwise colour map moves with it (but for resampling).
    ignoring = float(temporal_term(x, x, pair))
    assert ignoring > 1e-3
    assert float(temporal_term(x.square(), pair.moved.square(), pair)) < 1e-3 * ignoring


def test_a_lighting_change_is_allowed_and_noise_is_not() -> None:
    x = _smooth(2)
    lit = moved_pair(x, torch.Generator().manual_seed(3), Motion(brightness=0.2, noise=0.0))
    # The identity follows the brightness change: its luminance part is forgiven (ReCoNet), its
    # small change of chroma is not.
    unforgiven = dataclasses.replace(lit, lighting=torch.zeros_like(lit.lighting))
    assert float(temporal_term(x, lit.moved, lit)) < 0.3 * float(temporal_term(x, lit.moved, unforgiven))
    noisy = moved_pair(x, torch.Generator().manual_seed(3), Motion(brightness=0.0, noise=0.05))
    # The identity passes the noise on: the term charges its variance (Gupta's noise stability).
    assert float(temporal_term(x, noisy.moved, noisy)) == pytest.approx(0.05**2, rel=0.15)


def test_where_guided_regions_meet_the_motion_is_not_certain() -> None:
    x = _smooth(5)
    guides = torch.zeros(2, 2, 32, 32)
    guides[:, 0, :, :16], guides[:, 1, :, 16:] = 1, 1  # left and right regions
    pair = moved_pair(x, motion_generator(1, 3), Motion(shift=0.1, rotate=0.0, zoom=0.0))
    guided, moved = guided_pair(pair, guides)
    assert set(moved.unique().tolist()) == {0.0, 1.0}  # labels stay labels
    edge = moved[:, 0, :, 1:] != moved[:, 0, :, :-1]  # where the moved regions meet
    columns = edge.any(dim=1)  # (B, W - 1)
    for b in range(2):
        boundary = int(columns[b].nonzero()[0])
        assert float(guided.certainty[b, 0, :, boundary : boundary + 2].max()) == 0  # not certain there
        far = [c for c in range(32) if abs(c - boundary) > 4]
        assert torch.equal(guided.certainty[b, 0][:, far], pair.certainty[b, 0][:, far])  # as before elsewhere


def test_each_steps_pair_is_a_pure_function_of_its_seed() -> None:
    x = _smooth(4)
    a, b = (moved_pair(x, motion_generator(1, 9)) for _ in range(2))
    assert torch.equal(a.moved, b.moved) and torch.equal(a.grid, b.grid)
    assert not torch.equal(a.grid, moved_pair(x, motion_generator(1, 10)).grid)
    # Not the numbers that drew the step's crops and flips (pipeline.fast.data), only as repeatable.
    batch_numbers = torch.rand(8, generator=torch.Generator().manual_seed(1 * 1_000_003 + 9))
    assert not torch.allclose(torch.rand(8, generator=motion_generator(1, 9)), batch_numbers)


# --- training with it ----------------------------------------------------------------------------


def test_stable_training_records_its_term_and_resumes_exactly(data: Path, style_path: Path, tmp_path: Path) -> None:
    straight = tmp_path / "straight.pth"
    info = train(style_path, data, straight, TINY, weights="random")
    history = json.loads(Path(f"{straight}.json").read_text())["history"]
    assert len(history["temporal"]) == 4 and all(v > 0 for v in history["temporal"])
    assert info["training"]["temporal_weight"] == 100.0 and info["stability"]["motion"]["rotate"] == 4.0

    class Killed(Exception):
        pass

    def kill_at_step_3(step: int, steps: int, losses) -> None:
        if step == 3:
            raise Killed

    resumed = tmp_path / "resumed.pth"
    with pytest.raises(Killed):
        train(style_path, data, resumed, TINY, weights="random", progress=kill_at_step_3)
    train(style_path, data, resumed, TINY, weights="random", resume=True)
    a, b = fast_model.load(straight).network.state_dict(), fast_model.load(resumed).network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # Another temporal weight is another training: resuming with it is refused.
    with pytest.raises(Killed):
        train(style_path, data, resumed, TINY, weights="random", progress=kill_at_step_3)
    with pytest.raises(Exception, match="temporal_weight"):
        train(style_path, data, resumed, TrainConfig(**{**TINY.__dict__, "temporal_weight": 0.0}),
              weights="random", resume=True)  # fmt: skip


# --- clips through a fast network ----------------------------------------------------------------


@pytest.fixture
def model(data: Path, style_path: Path, tmp_path: Path) -> Path:
    out = tmp_path / "m.pth"
    train(style_path, data, out, TrainConfig(**{**TINY.__dict__, "steps": 2}), weights="random")
    return out


def _audio(path: Path) -> list[tuple[int, bytes]]:
    with av.open(str(path)) as container:
        return [(p.pts, bytes(p)) for p in container.demux(container.streams.audio[0]) if p.size]


def test_a_clip_through_a_fast_model_keeps_frames_timestamps_and_audio(model: Path, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    write_clip(SMALL, clip, audio=True)
    out = tmp_path / "out.mp4"
    assert main(["-q", "video", "--model", str(model), "--content", str(clip), "--out", str(out), "--size", "64"]) == 0
    info = clips.probe(out)
    assert info.frames == SMALL.frames and (info.width, info.height) == (64, 48) and info.codec == "h264"
    assert info.pts == clips.probe(clip).pts and _audio(out) == _audio(clip)
    record = json.loads(Path(f"{out}.json").read_text())
    assert record["method"] == "johnson2016-video" and record["model"]["training"]["temporal_weight"] == 100.0
    # The frames are the network's output: the same as stylising each decoded frame as a still
    # (compared losslessly, in a folder of frames).
    frames = tmp_path / "frames"
    argv = ["-q", "video", "--model", str(model), "--content", str(clip), "--size", "64", "--blend", "0"]
    assert main([*argv, "--out", str(frames)]) == 0
    network = fast_model.load(model).network
    for index, decoded in enumerate(clips.read_frames(clips.probe(clip))):
        expected = fast_model.stylize(network, torch.from_numpy(decoded).permute(2, 0, 1)[None].float() / 255)
        got = np.asarray(Image.open(frames / f"{index:06d}.png"), dtype=np.float64)
        assert np.abs(got - expected[0].permute(1, 2, 0).numpy() * 255).max() <= 1


def test_the_flow_blend_damps_flicker_and_follows_the_motion() -> None:
    """A network that flickers (here: each frame's own noise on the true picture) holds stiller
    once blended with its previous output along the estimated flow, measured with the true flow."""
    from pipeline.synthetic.measures import warping_error
    from pipeline.video.fast import blended
    from pipeline.video.flow import flow_function

    clip = list(synthetic_clip(ClipSpec(size=(96, 72), frames=8)))
    rng = np.random.default_rng(0)
    flickering = [(f.image + rng.normal(0, 12, f.image.shape)).clip(0, 255).astype(np.uint8) for f in clip]
    truth = ([f.flow for f in clip], [f.visible for f in clip])
    calm = list(blended(flickering, [f.image for f in clip], 0.5, flow_function("dis-fine")))
    assert np.array_equal(calm[0], flickering[0])  # the first frame has nothing to keep
    assert warping_error(calm, *truth) < 0.6 * warping_error(flickering, *truth)


def test_the_flow_blend_keeps_nothing_of_what_a_moving_disc_uncovered(monkeypatch) -> None:
    """Where the disc has just uncovered the background, the blended frame is the network's own
    output, not the disc carried along the flow that spills over it. Measured (scene 96x72, a
    network that inverts the frame, share 0.8, ``dis-fine``, whose flow spills most): 0.03 levels
    from it on the uncovered pixels, 7.7 with the agreement check off (``dis-fused`` spills less:
    2.4 with it off, measured before it started each direction from the other)."""
    from pipeline.video import fast as fast_video
    from pipeline.video.flow import flow_function

    clip = list(synthetic_clip(ClipSpec(world="scene:11", size=(96, 72), frames=8, pan=(0, 0), zoom=1.0,
                                        speed=(3.0, 0.5))))  # fmt: skip
    frames = [f.image for f in clip]
    painted = [255 - f for f in frames]

    def gap(out: list[np.ndarray]) -> float:
        pairs = zip(out[1:], painted[1:], clip[1:], strict=True)
        uncovered = [np.abs(o.astype(float) - p)[~f.visible] for o, p, f in pairs]
        return float(np.mean(np.concatenate(uncovered)))

    ours = gap(list(fast_video.blended(painted, frames, 0.8, flow_function("dis-fine"))))
    monkeypatch.setattr(fast_video, "agreement", lambda frame, *_: np.ones(frame.shape[:2], np.float32))
    dragged = gap(list(fast_video.blended(painted, frames, 0.8, flow_function("dis-fine"))))
    assert ours < 0.5 and dragged > 4, (ours, dragged)


def test_onnx_and_batches_give_the_same_frames(model: Path, tmp_path: Path) -> None:
    clip = tmp_path / "frames"
    write_clip(SMALL, clip)
    onnx = tmp_path / "m.onnx"
    assert main(["-q", "export", str(model), "--onnx", str(onnx)]) == 0
    runs = {"one": [str(model)], "batched": [str(model), "--batch", "4"], "onnx": [str(onnx)]}
    frames = {}
    for name, argv in runs.items():
        out = tmp_path / name
        assert main(["-q", "video", "--content", str(clip), "--out", str(out), "--size", "64", "--model", *argv]) == 0
        frames[name] = np.stack([np.asarray(Image.open(p), dtype=np.int16) for p in sorted(out.glob("*.png"))])
    assert frames["one"].shape == (SMALL.frames, 48, 64, 3)
    assert np.abs(frames["one"] - frames["batched"]).max() <= 1
    assert np.abs(frames["one"] - frames["onnx"]).max() <= 2


def test_a_guided_model_takes_keyframe_masks_carried_along_the_motion(tmp_path: Path) -> None:
    from pipeline.synthetic import SCENE_COLOURS, save_two_region_scene

    paths = save_two_region_scene(tmp_path / "scene", 64)
    model = tmp_path / "guided.pth"
    argv = ["-q", "train", "--style", str(paths["style"]), "--data", str(paths["data"]), "--out", str(model)]
    argv += ["--style-mask", str(paths["style_mask"]), "--masks", str(paths["masks"])]
    argv += ["--colors", ",".join(f"{k}={v}" for k, v in SCENE_COLOURS.items())]
    assert main([*argv, "--steps", "2", "--size", "32", "--batch", "1", "--width", "0.25", "--weights", "random"]) == 0
    spec = ClipSpec(world="scene:4", size=(64, 48), frames=5, pan=(1.0, 0.0), speed=(1.5, 0.5))
    clip = tmp_path / "clip"
    write_clip(spec, clip)
    frames = list(synthetic_clip(spec))
    colours = np.array([Image.new("RGB", (1, 1), c).getpixel((0, 0)) for c in SCENE_COLOURS.values()], np.uint8)
    first = tmp_path / "first.png"
    Image.fromarray(colours[(frames[0].labels % 2)]).save(first)  # the scene's regions in the model's two labels
    out = tmp_path / "out.mp4"
    argv = ["-q", "video", "--model", str(model), "--content", str(clip), "--out", str(out), "--size", "64"]
    assert main([*argv, "--content-mask", str(first)]) == 0
    masks = sorted(Path(f"{out}.masks").glob("*.png"))
    assert [p.name for p in masks] == [f"{i:06d}.png" for i in range(spec.frames)]
    carried = np.asarray(Image.open(masks[-1]).convert("RGB"))
    truth = colours[frames[-1].labels % 2]
    # Measured 0.961-0.966 (OpenCV 4.14 with and without its SIMD dispatch, 1 or 2 threads); the first
    # frame's mask left where it was scores 0.74. OpenCV is not pinned, so the bound allows twice the misses.
    assert (carried == truth).all(axis=-1).mean() > 0.92
    assert json.loads(Path(f"{out}.json").read_text())["method"] == "johnson2016-video"
    proposed = tmp_path / "proposed.mp4"  # frame 0's regions guessed, in the model's own label colours
    argv[argv.index(str(out))] = str(proposed)
    assert main([*argv, "--content-mask", "propose"]) == 0
    first_mask = np.asarray(Image.open(f"{proposed}.masks/000000.png").convert("RGB")).reshape(-1, 3)
    assert {tuple(c) for c in np.unique(first_mask, axis=0)} <= {tuple(c) for c in colours}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--steps", "5"], "--steps is not for --model"),
        (["--style", "STYLE"], "not both or neither"),
        (["--content-mask", "propose"], "trained without masks; leave out --content-mask"),
        (["--batch", "0"], "batch must be a positive integer"),
        (["--blend", "1"], "blend must be from 0 (off) to below 1"),
    ],
)
def test_bad_fast_video_input_is_one_line_exit_2(
    extra: list[str], message: str, model: Path, style_path: Path, tmp_path: Path, capsys
) -> None:
    clip = tmp_path / "clip.mp4"
    write_clip(SMALL, clip)
    extra = [style_path.as_posix() if e == "STYLE" else e for e in extra]
    out = tmp_path / "out.mp4"
    assert main(["video", "--model", str(model), "--content", str(clip), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and not Path(f"{out}.json").exists()


def test_batch_is_refused_for_optimisation(style_path: Path, tmp_path: Path, capsys) -> None:
    clip = tmp_path / "clip.mp4"
    write_clip(SMALL, clip)
    argv = ["video", "--style", str(style_path), "--content", str(clip), "--out", str(tmp_path / "o.mp4")]
    assert main([*argv, "--batch", "4"]) == 2
    assert "--batch is not for --style (optimisation)" in capsys.readouterr().err


def test_fast_video_keeps_the_clips_size_unless_told(model: Path, tmp_path: Path) -> None:
    """As ``stylize`` keeps a photo's size: a clip through a network comes out at its own size."""
    clip = tmp_path / "clip.mp4"
    write_clip(ClipSpec(size=(96, 72), frames=3), clip)
    own, told = tmp_path / "own.mp4", tmp_path / "told.mp4"
    assert main(["-q", "video", "--model", str(model), "--content", str(clip), "--out", str(own)]) == 0
    assert main(["-q", "video", "--model", str(model), "--content", str(clip), "--out", str(told), "--size", "64"]) == 0
    assert (clips.probe(own).width, clips.probe(own).height) == (96, 72)
    assert (clips.probe(told).width, clips.probe(told).height) == (64, 48)
