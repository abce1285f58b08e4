"""Clips on the web app's fast tab through Flask's test client: a clip queued, painted frame by
frame and played back with its sound, a guided style's clip painted with its first frame's mask,
and every clip the site cannot take refused with one sentence."""

from __future__ import annotations

import io as _bytes_io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.masks import parse_colour
from pipeline.web import create_app, state

from support.web import GUIDED_LABELS, clip_bytes, encoded, stored_results, wait_for_result

pytestmark = pytest.mark.usefixtures("plain_pipeline_logger")


def _post_clip(client, clip: bytes, *, style: str = "pastel", size: str = "256", **extra):
    data = {"style": style, "size": size, "photo": (_bytes_io.BytesIO(clip), "our walk.mp4"), **extra}
    return client.post("/stylize", data=data, content_type="multipart/form-data")


def test_a_clip_is_queued_painted_frame_by_frame_and_played_with_its_sound(app, client, tmp_path: Path) -> None:
    import av

    from pipeline.video.clip import probe

    clip = clip_bytes(tmp_path)
    page = client.get("/").get_data(as_text=True)
    assert 'accept="image/*,video/*"' in page and "at most 10 seconds" in page  # the limits, said on the page
    assert "frames of at most 40 megapixels and 120 a second" in page and "MKV" in page
    posted = _post_clip(client, clip)
    assert posted.status_code == 303 and "/job/" in posted.headers["Location"]
    progress = client.get(posted.headers["Location"]).get_data(as_text=True)
    assert "Painting your clip in the style of Pastel &lt;dreams&gt;" in progress or "/result/" in progress
    rid = wait_for_result(client, posted.headers["Location"])
    html = client.get(f"/result/{rid}").get_data(as_text=True)
    assert f'src="/result/{rid}/result.mp4"' in html and "6 frames" in html and "with its sound" in html
    served = client.get(f"/result/{rid}/result.mp4")
    assert served.status_code == 200 and served.mimetype == "video/mp4"
    partial = client.get(f"/result/{rid}/result.mp4", headers={"Range": "bytes=0-99"})
    assert partial.status_code == 206 and len(partial.data) == 100  # a browser can seek
    download = client.get(f"/result/{rid}/download")
    assert download.headers["Content-Disposition"].endswith("our_walk-pastel.mp4") and download.data == served.data
    out = tmp_path / "out.mp4"
    out.write_bytes(served.data)
    info = probe(out)
    assert info.frames == 6 and (info.width, info.height) == (64, 48)  # never enlarged past the clip
    with av.open(str(out)) as got, av.open(_bytes_io.BytesIO(clip)) as given:
        sound = [bytes(p) for p in got.demux(got.streams.audio[0]) if p.size]
        assert sound == [bytes(p) for p in given.demux(given.streams.audio[0]) if p.size]
    assert "media-src 'self'" in client.get(f"/result/{rid}").headers["Content-Security-Policy"]
    jobs = state(app).clips
    assert [p.name for p in jobs.root.iterdir() for p in p.iterdir()] == ["status.json"]  # the upload is gone


def test_a_guided_style_paints_a_clip_with_its_first_frames_mask(app, client, tmp_path: Path) -> None:
    clip = clip_bytes(tmp_path, audio=False)
    refused = _post_clip(client, clip, style="regions")
    assert refused.status_code == 400 and "mask of the clip’s first frame" in refused.get_data(as_text=True)
    mask = np.zeros((48, 64, 3), np.uint8)
    mask[:] = parse_colour(GUIDED_LABELS["sky"])
    mask[24:] = parse_colour(GUIDED_LABELS["ground"])
    wrong = _post_clip(
        client, clip, style="regions", mask=(_bytes_io.BytesIO(encoded(Image.fromarray(mask[:, :30]))), "m.png")
    )
    assert wrong.status_code == 400 and "draw the mask on the clip’s first frame" in wrong.get_data(as_text=True)
    posted = _post_clip(
        client, clip, style="regions", mask=(_bytes_io.BytesIO(encoded(Image.fromarray(mask))), "m.png")
    )
    assert posted.status_code == 303
    rid = wait_for_result(client, posted.headers["Location"])
    meta = json.loads((state(app).store.root / rid / "meta.json").read_text())
    assert meta["kind"] == "clip" and meta["mask"] is True and meta["frames"] == 6


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("text", "neither a photo nor a clip we can read"),
        ("audio-only", "no pictures"),
        ("cut-short", "neither a photo nor a clip we can read, or it is damaged"),
        ("too-long", "this site paints clips of at most 1 s"),
        ("empty", "The photo file is empty"),
        ("playlist", "neither a photo nor a clip we can read"),
        ("too-many-frames", "this site paints at most 120 per second for 1 s"),
        ("header-bomb", "The clip’s frames are too large for this site"),
    ],
)
def test_a_clip_the_site_cannot_take_is_a_400_with_one_sentence(
    models: Path, tmp_path: Path, case: str, message: str, wording: str
) -> None:
    app = create_app(models, results=tmp_path / "results", clip_seconds=1.0)
    client = app.test_client()
    if case == "text":
        data = b"this is not a video, whatever its name says\n" * 10
    elif case == "audio-only":
        data = _audio_only(tmp_path)
    elif case == "cut-short":
        data = clip_bytes(tmp_path, frames=12)[:1500]
    elif case == "too-long":
        data = clip_bytes(tmp_path, frames=60, audio=False)  # 2.4 s at 25 fps
    elif case == "playlist":  # FFmpeg reads it, and would open the files it names
        data = b"ffconcat version 1.0\nfile 'result.mp4'\n"
    elif case == "too-many-frames":  # 1 s, as its times say, of 200 frames: decoding them is the cost
        from pipeline.synthetic.clips import ClipSpec, write_clip

        write_clip(ClipSpec(size=(32, 24), frames=200, fps=200.0), tmp_path / "fast.mp4", audio=False)
        data = (tmp_path / "fast.mp4").read_bytes()
    elif case == "header-bomb":  # 1.5 kB declaring 16000 x 16000 (its memory: tests/test_video.py)
        from hostile import write_header_bomb

        data = write_header_bomb(tmp_path / "bomb.mp4").read_bytes()
    else:
        data = b""
    response = _post_clip(client, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and message in html, html
    assert "Traceback" not in html
    assert not stored_results(app) and not [p for p in state(app).clips.root.iterdir()]  # nothing kept


def _audio_only(tmp_path: Path) -> bytes:
    import av

    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w", format="mp4") as container:
        sound = container.add_stream("aac", rate=44100, layout="stereo")
        for start in range(0, 44100, 1024):
            samples = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
            samples.sample_rate, samples.pts = 44100, start
            container.mux(sound.encode(samples))
        container.mux(sound.encode())
    return path.read_bytes()
