"""The measures that see ghosts (:func:`pipeline.synthetic.measures.ghost_and_streaks`) and the run
with perfect flow and detection (:func:`~pipeline.synthetic.measures.held_from_reveal`), on clips
with known motion and stand-in "paintings" (each frame its photo plus blotches of its own, as a
per-frame run paints every frame anew, and none around the moving object): a smear scores far
above 1, a run without one about 1 or under."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.synthetic.clips import ClipSpec, synthetic_clip
from pipeline.synthetic.measures import ghost_and_streaks, held_from_reveal, revealed, warping_error

CLIPS = (
    ClipSpec(world="astronaut", size=(96, 72), frames=8, pan=(0.8, 0.3), speed=(3.2, 0.6)),
    ClipSpec(world="scene:11", size=(96, 72), frames=8, pan=(-1.0, 0.4), zoom=0.99, speed=(3.0, -1.0)),
)


def painted(image: np.ndarray, seed: int) -> np.ndarray:
    """A frame "painted on its own": blotches (low-passed noise, wider than the measure's
    low-pass) that differ from frame to frame."""
    noise = np.random.default_rng(seed).normal(0, 1, image.shape).astype(np.float32)
    blotches = cv2.GaussianBlur(noise, (0, 0), 3)
    blotches *= 40 / blotches.std()
    return (image.astype(np.float32) + blotches).clip(0, 255).round().astype(np.uint8)


@pytest.fixture(params=CLIPS, ids=[spec.world for spec in CLIPS])
def clip(request: pytest.FixtureRequest) -> tuple[list[np.ndarray], list, list]:
    frames = list(synthetic_clip(request.param))
    per_frame = [painted(f.image, f.index) for f in frames]
    return per_frame, [f.flow for f in frames], [f.visible for f in frames]


def dragged(per_frame: list[np.ndarray], flows: list, visible: list) -> list[np.ndarray]:
    """Frame 0's paint carried along the motion everywhere, what was revealed included (a warp
    there copies whatever the motion uncovered it from: a ghost)."""
    return held_from_reveal(per_frame, flows, [np.ones(frame.shape[:2], bool) for frame in per_frame])


def test_held_from_reveal_holds_its_paint_and_paints_what_is_revealed_as_the_frame_does(clip) -> None:
    per_frame, flows, visible = clip
    held = held_from_reveal(per_frame, flows, visible)
    assert warping_error(held, flows, visible) < 0.05 * warping_error(per_frame, flows, visible)
    for t in range(1, len(held)):
        assert (held[t][~visible[t]] == per_frame[t][~visible[t]]).all()
    marks = revealed(flows, visible)
    assert marks[-1].mean() > 0.05  # the clip reveals something, carried since


def test_a_dragged_start_scores_a_ghost_and_perfect_flow_and_detection_about_one(clip) -> None:
    per_frame, flows, visible = clip
    ghost, _ = ghost_and_streaks(held_from_reveal(per_frame, flows, visible), per_frame, flows, visible)
    smeared, _ = ghost_and_streaks(dragged(per_frame, flows, visible), per_frame, flows, visible)
    assert 0.5 < ghost < 1.25, ghost  # under 1: what was revealed this frame is the frame's own paint
    assert smeared > 1.6 * ghost, (smeared, ghost)


def test_what_is_revealed_painted_as_the_frames_paint_it_for_longer_leaves_less_trail(clip) -> None:
    """``frames`` > 1 (as ``--reveal-frames``): what the motion revealed takes the frame's own paint
    in that many frames before it is held; the trail falls, and the clip still holds its paint."""
    per_frame, flows, visible = clip
    at_once, longer = (held_from_reveal(per_frame, flows, visible, frames=k) for k in (1, 3))
    own = [sum(int((run[t] == per_frame[t]).all(-1).sum()) for t in range(1, len(run))) for run in (at_once, longer)]
    assert own[1] > 1.5 * own[0], own
    trails = [ghost_and_streaks(run, per_frame, flows, visible)[0] for run in (at_once, longer)]
    assert trails[1] < 0.8 * trails[0], trails
    assert warping_error(longer, flows, visible) < 0.2 * warping_error(per_frame, flows, visible)
