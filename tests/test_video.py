"""Video: clips in and out (audio, rotation, timestamps), flow and certainty, the temporal loss,
masks carried along the motion, resuming a killed run, and bad input."""

from __future__ import annotations

import json
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.cli import main
from pipeline.gatys import GatysConfig
from pipeline.synthetic.clips import ClipSpec, synthetic_clip, write_clip
from pipeline.video import clip as clips
from pipeline.video.files import video_files
from pipeline.video.flow import certainty, flow_function, long_term_weights, warp
from pipeline.video.temporal import TemporalLoss, Warped

SMALL = ClipSpec(size=(64, 48), frames=6)
QUICK = GatysConfig(size=48, steps=3)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    write_clip(SMALL, path, audio=True)
    return path


@pytest.fixture
def style(tmp_path: Path) -> Path:
    from pipeline.samples import sample_image

    path = tmp_path / "style.png"
    sample_image("ihc").resize((64, 64)).save(path)
    return path


def _audio(path: Path) -> list[tuple[int, bytes]]:
    with av.open(str(path)) as container:
        return [(p.pts, bytes(p)) for p in container.demux(container.streams.audio[0]) if p.size]


# --- clips in and out ------------------------------------------------------------------------------


def test_a_clip_keeps_its_audio_bit_for_bit_and_its_frame_count(clip: Path, style: Path, tiny, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    record = video_files(clip, [style], out, QUICK, weights="random", encoder=tiny)
    assert _audio(out) == _audio(clip) and len(_audio(clip)) > 5
    info = clips.probe(out)
    assert info.frames == SMALL.frames and (info.width, info.height) == (48, 36)  # --size 48
    assert info.codec == "h264" and abs(info.fps - SMALL.fps) < 0.01
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"  # what browsers play
    assert [f["frame"] for f in record["frames"]] == list(range(SMALL.frames))
    assert set(record["frames"][1]["loss"]) == {"total", "content", "style", "temporal"}
    assert record["frames"][1]["loss"]["temporal"] > 0 and record["frames"][0]["loss"]["temporal"] == 0
    assert json.loads((tmp_path / "out.mp4.json").read_text())["output"]["frames"] == SMALL.frames
    assert not (tmp_path / "out.mp4.frames").exists()  # the resume state goes once the clip is written


def test_variable_frame_rate_survives(tmp_path: Path, style: Path, tiny) -> None:
    times = [0, 1, 2, 5, 6, 11, 12, 20]  # in 1/30 s: gaps, as a phone drops frames
    source = tmp_path / "vfr.mp4"
    frames = [f.image for f in synthetic_clip(ClipSpec(size=(64, 48), frames=len(times)))]
    clips.write_video(iter(frames), source, time_base=Fraction(1, 30), pts=times)
    out = tmp_path / "out.mp4"
    video_files(source, [style], out, QUICK, weights="random", encoder=tiny)
    before, after = clips.probe(source), clips.probe(out)
    seconds = [round(float((p - after.pts[0]) * after.time_base), 4) for p in after.pts]
    assert seconds == [round(t / 30, 4) for t in times] == [round(before.seconds(i), 4) for i in range(len(times))]


def _rotated(path: Path, out: Path) -> None:
    """The clip with the display matrix an iPhone writes for a portrait clip (shown turned 90°
    clockwise), set in its track header as the phone does."""
    data = bytearray(path.read_bytes())
    box = data.find(b"tkhd") - 4
    version = data[box + 8]
    matrix = box + 48 + (12 if version == 1 else 0)
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30)
    out.write_bytes(bytes(data))


def test_rotation_in_the_metadata_is_honoured(tmp_path: Path) -> None:
    source = tmp_path / "flat.mp4"
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:8, :8] = (255, 0, 0)  # red in the top-left corner of the stored picture
    clips.write_video(iter([frame] * 3), source, time_base=Fraction(1, 24), pts=range(3))
    phone = tmp_path / "phone.mp4"
    _rotated(source, phone)
    info = clips.probe(phone)
    assert info.rotation == -90 and (info.width, info.height) == (48, 64)  # portrait, as players show it
    upright = next(clips.read_frames(info))
    assert upright.shape == (64, 48, 3)
    assert upright[:6, -6:, 0].mean() > 200 and upright[:6, :6, 0].mean() < 60  # turned clockwise: top right


def test_folders_of_frames_in_and_out(tmp_path: Path, style: Path, tiny) -> None:
    folder = tmp_path / "frames"
    write_clip(ClipSpec(size=(64, 48), frames=4), folder)
    assert sorted(p.name for p in folder.iterdir()) == [f"{i:06d}.png" for i in range(4)]
    out = tmp_path / "painted"
    record = video_files(folder, [style], out, QUICK, weights="random", encoder=tiny, fps=12)
    assert sorted(p.name for p in out.glob("*.png")) == [f"{i:06d}.png" for i in range(4)]
    assert record["content"]["fps"] == 12 and Image.open(out / "000003.png").size == (48, 36)


def test_a_range_of_frames_and_its_audio(clip: Path, style: Path, tiny, tmp_path: Path) -> None:
    out = tmp_path / "part.mp4"
    record = video_files(clip, [style], out, QUICK, weights="random", encoder=tiny, frames="2:5")
    assert [f["frame"] for f in record["frames"]] == [2, 3, 4] and clips.probe(out).frames == 3
    source, part = _audio(clip), _audio(out)
    assert part and {data for _, data in part} <= {data for _, data in source}  # copied, not re-encoded


# --- flow, certainty, the temporal loss ---------------------------------------------------------------


def test_warping_with_a_known_flow_moves_the_image_exactly() -> None:
    image = np.random.default_rng(0).random((20, 30, 3)).astype(np.float32)
    flow = np.zeros((20, 30, 2), np.float32)
    flow[..., 0], flow[..., 1] = 3, -2  # each pixel was 3 px right and 2 px up in the other frame
    moved = warp(image, flow, resampling="bilinear")
    assert np.allclose(moved[2:, :-3], image[:-2, 3:], atol=1e-6)
    assert np.allclose(warp(image, flow, resampling="bicubic")[2:, :-3], image[:-2, 3:], atol=1e-5)


def test_certainty_is_zero_where_an_occluder_uncovers_the_background() -> None:
    """A square moves 4 px right over a still textured background: the strip it uncovers has no
    source in the previous frame, and the check must find it (Sundaram's criteria)."""
    rng = np.random.default_rng(1)

    def texture(height: int, width: int) -> np.ndarray:
        noise = (rng.random((height // 2, width // 2)) * 255).astype(np.uint8)
        return np.asarray(Image.fromarray(noise).resize((width, height), Image.Resampling.BICUBIC))

    background, square = texture(64, 80), texture(24, 24)
    frames = []
    for x in (20, 24):
        frame = np.stack([background] * 3, axis=-1).copy()
        frame[20:44, x : x + 24] = np.stack([square, square // 3, square // 3], axis=-1)
        frames.append(frame)
    flow = flow_function("dis-medium")
    backward, forward = flow(frames[1], frames[0]), flow(frames[0], frames[1])
    c = certainty(backward, forward)
    uncovered = c[24:40, 21:23]  # where the square was and is no more (its left edge moved on)
    background_far = c[5:15, 5:75]
    assert uncovered.mean() < 0.5 and background_far.mean() > 0.9
    # And the long-term weights: an earlier frame counts only where no closer one is certain.
    near, far = np.array([[1, 0, 0.5]], np.float32), np.array([[1, 1, 1]], np.float32)
    assert long_term_weights([near, far])[1].tolist() == [[0, 1, 0.5]]


def test_temporal_loss_is_ruders_formula() -> None:
    rng = torch.Generator().manual_seed(0)
    x = torch.rand((1, 3, 4, 5), generator=rng)
    earlier = [Warped(torch.rand((1, 3, 4, 5), generator=rng), (torch.rand((1, 1, 4, 5), generator=rng) > 0.4).float())
               for _ in range(2)]  # fmt: skip
    weight = 7.0
    expected = 0.0
    for e in earlier:  # λ / D · Σ_k c_k (x_k − ω_k)², D = C·H·W
        for channel in range(3):
            for y in range(4):
                for col in range(5):
                    c = float(e.certainty[0, 0, y, col])
                    expected += c * (float(x[0, channel, y, col]) - float(e.image[0, channel, y, col])) ** 2 / 60
    value = TemporalLoss(earlier, weight)(x)["temporal"]
    assert abs(float(value) - weight * expected) < 1e-5


# --- masks that follow the motion, resuming, bad input ---------------------------------------------

SCENE = ClipSpec(world="scene:4", size=(96, 72), frames=8, pan=(1.2, 0.4), speed=(2.0, 1.0))
SCENE_COLOURS = np.array([(230, 25, 75), (67, 99, 216), (60, 180, 75), (255, 225, 25)], np.uint8)


def test_keyframe_masks_are_carried_to_every_frame(tmp_path: Path, tiny) -> None:
    frames = list(synthetic_clip(SCENE))
    clip = tmp_path / "scene"
    write_clip(SCENE, clip)  # a folder of frames: lossless, so the truth below is the frames' truth
    keyframes = tmp_path / "keys"
    keyframes.mkdir()
    for index in (0, 7):
        Image.fromarray(SCENE_COLOURS[frames[index].labels]).save(keyframes / f"{index:06d}.png")
    style, style_mask = tmp_path / "style.png", tmp_path / "style_mask.png"
    layout = np.repeat(np.arange(4), 16)[None].repeat(64, axis=0)  # four bands: every label has its own
    Image.fromarray((SCENE_COLOURS[layout] * 0.6 + 40).astype(np.uint8)).save(style)
    Image.fromarray(SCENE_COLOURS[layout]).save(style_mask)
    from pipeline.guidance import Guidance

    guidance = Guidance(content_mask=str(keyframes), style_masks=(str(style_mask),), min_area=0)  # exact truth kept
    out = tmp_path / "out"
    config = GatysConfig(size=96, steps=2)
    record = video_files(clip, [style], out, config, weights="random", encoder=tiny, guidance=guidance)
    masks = sorted((out / "masks").glob("*.png"))  # a folder of frames holds each frame's mask too
    assert [p.name for p in masks] == [f"{i:06d}.png" for i in range(SCENE.frames)]
    colour_of = {tuple(c): i for i, c in enumerate(SCENE_COLOURS)}
    for index in (3, 4, 5):  # between the keyframes, carried from both sides
        carried = np.asarray(Image.open(masks[index]).convert("RGB"))
        labels = np.vectorize(lambda *rgb: colour_of[rgb])(carried[..., 0], carried[..., 1], carried[..., 2])
        assert (labels == frames[index].labels).mean() > 0.97, index
    assert record["output"]["masks"]["keyframes"] == [0, 7]
    assert record["method"] == "ruder2016-video"


def test_a_killed_run_continues_to_the_same_result(clip: Path, style: Path, tiny, tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    video_files(clip, [style], whole, QUICK, weights="random", encoder=tiny)

    class Killed(Exception):
        pass

    def kill_after_three(done: int, total: int, losses) -> None:
        if done == 3:
            raise Killed

    resumed = tmp_path / "resumed"
    with pytest.raises(Killed):
        video_files(clip, [style], resumed, QUICK, weights="random", encoder=tiny, progress=kill_after_three)
    assert len(list(resumed.glob("*.png"))) == 3 and not (tmp_path / "resumed.json").exists()
    stylised = []
    video_files(clip, [style], resumed, QUICK, weights="random", encoder=tiny,
                progress=lambda done, total, losses: stylised.append(done))  # fmt: skip
    assert stylised == [4, 5, 6]  # only the frames the killed run had not finished
    for name in (f"{i:06d}.png" for i in range(SMALL.frames)):
        assert np.array_equal(np.asarray(Image.open(whole / name)), np.asarray(Image.open(resumed / name))), name
    # Other settings start again rather than mixing two runs' frames.
    other = []
    video_files(clip, [style], resumed, GatysConfig(size=48, steps=4), weights="random", encoder=tiny,
                progress=lambda done, total, losses: other.append(done))  # fmt: skip
    assert other == list(range(1, SMALL.frames + 1))


def _bad_case(case: str, tmp_path: Path, clip: Path) -> tuple[list[str], str]:
    """The arguments of one bad run and the words its one line must hold."""
    if case == "text":
        (tmp_path / "notes.mp4").write_text("not a video at all")
        return ["--content", str(tmp_path / "notes.mp4")], "not a video we can read"
    if case == "audio-only":
        path = tmp_path / "sound.m4a"
        with av.open(str(path), "w", format="mp4") as container:
            stream = container.add_stream("aac", rate=44100)
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="fltp", layout="mono")
            samples.sample_rate, samples.pts = 44100, 0
            container.mux(stream.encode(samples))
            container.mux(stream.encode())
        return ["--content", str(path)], "has no video stream"
    if case == "no-frames":
        (tmp_path / "empty").mkdir()
        return ["--content", str(tmp_path / "empty")], "a folder with no frames"
    if case == "damaged":
        write_clip(ClipSpec(size=(64, 48), frames=24), tmp_path / "long.mp4")
        data = bytearray((tmp_path / "long.mp4").read_bytes())
        middle = (data.find(b"mdat") + data.find(b"moov")) // 2
        data[middle : middle + 400] = bytes(np.random.default_rng(0).integers(0, 256, 400, dtype=np.uint8))
        (tmp_path / "damaged.mp4").write_bytes(bytes(data))
        return ["--content", str(tmp_path / "damaged.mp4")], "the clip is damaged after"
    if case == "huge":
        return ["--content", str(clip), "--max-pixels", "1000"], "frames of 64x48 have over 1,000 pixels"
    if case == "mask-aspect":
        Image.new("RGB", (64, 64), (230, 25, 75)).save(tmp_path / "square.png")
        return ["--content", str(clip), "--content-mask", str(tmp_path / "square.png"), "--style-mask",
                str(tmp_path / "square.png")], "aspect ratios differ"  # fmt: skip
    if case == "keyframe-past-the-end":
        (tmp_path / "keys").mkdir()
        Image.new("RGB", (64, 48), (230, 25, 75)).save(tmp_path / "keys" / "000040.png")
        Image.new("RGB", (64, 64), (230, 25, 75)).save(tmp_path / "style_mask.png")
        return ["--content", str(clip), "--content-mask", str(tmp_path / "keys"), "--style-mask",
                str(tmp_path / "style_mask.png")], "frame 40 is past the clip's end (6 frames"  # fmt: skip
    assert case == "output-is-input"
    return ["--content", str(clip), "--out", str(clip)], "is also an input"


@pytest.mark.parametrize(
    "case",
    ["text", "audio-only", "no-frames", "damaged", "huge", "mask-aspect", "keyframe-past-the-end", "output-is-input"],
)
def test_bad_input_is_one_line_and_leaves_nothing(case: str, clip: Path, style: Path, tmp_path: Path, capsys) -> None:
    argv, words = _bad_case(case, tmp_path, clip)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    out = ["--out", str(tmp_path / "out.mp4")] if "--out" not in argv else []
    code = main(["video", *argv, "--style", str(style), *out, "--size", "32", "--steps", "1", "--weights", "random"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and words in err, err
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # inputs untouched, nothing written
    assert not any(p.name.startswith("out.mp4") for p in tmp_path.iterdir())


def test_segments_join_into_one_clip_faded_across_their_overlap(tmp_path: Path, style: Path, tiny) -> None:
    from pipeline.video.segments import joined, poster_path, segments

    assert segments(10, 4, 1) == [(0, 4), (3, 8), (7, 10)]
    source = tmp_path / "clip.mp4"
    write_clip(ClipSpec(size=(64, 48), frames=10), source, audio=True)
    parts = []
    for index, (start, stop) in enumerate(segments(10, 5, 2)):
        parts.append(tmp_path / f"part{index}")
        video_files(source, [style], parts[-1], QUICK, weights="random", encoder=tiny, frames=f"{start}:{stop}")
    out = tmp_path / "joined.mp4"
    assert main(["-q", "video-join", *map(str, parts), "--content", str(source), "--out", str(out)]) == 0
    assert clips.probe(out).frames == 10 and _audio(out) == _audio(source) and poster_path(out).exists()
    frames = list(joined(parts, 10))
    first, second = (np.asarray(Image.open(p / "000004.png"), np.float32) for p in parts)
    # Frames 3 and 4 are painted by both: 1/3 and 2/3 of the way from the first segment to the second.
    assert np.abs(frames[4] - (2 * second + first) / 3).max() <= 0.5
    assert np.array_equal(frames[6], np.asarray(Image.open(parts[1] / "000006.png")))
    record = json.loads((tmp_path / "joined.mp4.json").read_text())
    assert [f["frame"] for f in record["frames"]] == list(range(10)) and len(record["segments"]) == 2


def test_a_proposed_first_mask_is_carried_and_paired_with_the_paintings_regions(tmp_path: Path, tiny, capsys) -> None:
    clip = tmp_path / "scene"
    write_clip(SCENE, clip)
    style, style_mask = tmp_path / "style.png", tmp_path / "style_mask.png"
    layout = np.repeat(np.arange(4), 16)[None].repeat(64, axis=0)
    Image.fromarray((SCENE_COLOURS[layout] * 0.6 + 40).astype(np.uint8)).save(style)
    Image.fromarray(SCENE_COLOURS[layout]).save(style_mask)
    from pipeline.guidance import Guidance

    guidance = Guidance(content_mask="propose", style_masks=(str(style_mask),))
    out = tmp_path / "out.mp4"
    record = video_files(clip, [style], out, GatysConfig(size=96, steps=1), weights="random", encoder=tiny,
                         guidance=guidance)  # fmt: skip
    assert record["output"]["masks"]["keyframes"] == [0] and record["output"]["masks"]["source"] == "propose"
    masks = sorted((tmp_path / "out.mp4.masks").glob("*.png"))
    assert len(masks) == SCENE.frames
    # The proposal's regions follow the scene: its first and last frames' masks differ as the scene moved.
    first, last = (np.asarray(Image.open(masks[i])) for i in (0, -1))
    assert 1 < len(np.unique(first)) <= 4 and (first != last).mean() > 0.02
