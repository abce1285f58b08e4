"""Optical flow between frames, how certain it is, and warping along it.

Flow ``w`` of frame t towards frame s is (H, W, 2) ``(dx, dy)`` per pixel of frame t: the pixel
shows what frame s shows at ``(x + dx, y + dy)``. The *backward* flow (t towards t−1) is the one
that warps the previous result onto the current frame.

Flow methods, all OpenCV (no weights to download): DIS (Kroeger et al. 2016) in its three presets,
``dis-fine`` (the medium preset carried down to full resolution), ``dis-fused``,
``dis-propagated`` and Farnebäck. ``dis-fine`` is the most accurate of the presets on clips with
known motion, at a few milliseconds a flow. ``dis-fused`` is ``dis-fine`` and DIS with patches half
its size, each also started from the opposite flow, taken per pixel from whichever carries the
other frame onto this one better (:func:`fused`): it follows small, fast objects that ``dis-fine``
loses, and objects entering the frame both ways. ``dis-propagated``, the default, is that fused
flow with each pixel offered its neighbours' flows, then refined (:func:`propagated`): the rim of
a moving object moves with it, so the rim is carried instead of painted anew in every frame
(docs/design-notes.md, "Video").

Certainty (Ruder et al. 2016, after Sundaram et al. 2010): a pixel's flow is trusted when the
forward–backward check agrees, ``|w + ŵ|² < 0.01 (|w|² + |ŵ|²) + 0.5`` with ŵ the opposite flow
taken where w points; when it lies on no motion boundary, ``|∇u|² + |∇v|² ≤ 0.01 |w|² + 0.002``;
and when it points inside the other frame. :func:`agreement` adds what the flows cannot say: whether
the frames themselves agree where the flow carries one onto the other.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

#: A flow method: ``flow(a, b)``, the flow of frame ``a`` towards frame ``b``.
FlowFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]
#: Flow methods by name: DIS presets (fastest to most accurate), DIS at full resolution
#: (``dis-fine``: the medium preset down to the finest scale, with more variational refinement),
#: two of those fused (``dis-fused``, :func:`fused`), that fused flow propagated and refined
#: (``dis-propagated``, :func:`propagated`) and Farnebäck.
FLOW_METHODS = ("dis-ultrafast", "dis-fast", "dis-medium", "dis-fine", "dis-fused", "dis-propagated", "farneback")
#: The flow of an optimised clip (:class:`pipeline.video.transfer.VideoConfig`).
DEFAULT_FLOW = "dis-propagated"
#: The flow where a frame takes milliseconds (fast and instant video's blend) and for carrying
#: masks: ``dis-propagated`` costs ten times as much, about 1 s a pair of flows at 512×384 on two
#: CPU cores, more than such a frame's stylisation.
QUICK_FLOW = "dis-fine"
#: Patch size and stride (px) of ``dis-fused``'s second DIS flow; its first is ``dis-fine``'s (the
#: medium preset's 8 and 3). A patch much larger than a small, fast object follows what is around it.
SMALL_PATCH = (4, 2)
#: The blur (Gaussian, px) of the photometric error by which :func:`fused` picks a flow per pixel.
FUSE_BLUR = 1.5
#: How a warp samples between pixels: OpenCV's interpolation flags.
RESAMPLING = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
}


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


def _zeros(image: np.ndarray) -> np.ndarray:
    """The flow argument OpenCV fills: no motion, which DIS takes as its first guess (Farnebäck only
    when asked to)."""
    return np.zeros((*image.shape[:2], 2), np.float32)


def flow_function(method: str = DEFAULT_FLOW) -> FlowFunction:
    """``flow(a, b)``: the flow of frame ``a`` towards frame ``b`` (uint8 RGB or grey), float32."""
    if method in ("dis-fused", "dis-propagated"):
        flow = fused(
            _dis(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, fine=True),
            _dis(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, fine=True, patch=SMALL_PATCH),
        )
        return flow if method == "dis-fused" else propagated(flow)
    if method.startswith("dis-"):
        preset = {
            "dis-ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
            "dis-fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
            "dis-medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
            "dis-fine": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
        }[method]
        dis = _dis(preset, fine=method == "dis-fine")
        return lambda a, b: dis(a, b, None)
    if method == "farneback":

        def by_farneback(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return np.asarray(cv2.calcOpticalFlowFarneback(_grey(a), _grey(b), _zeros(a), 0.5, 4, 15, 3, 5, 1.2, 0))

        return by_farneback
    raise ValueError(f"unknown flow method {method!r}")


#: DIS from a first guess: ``dis(a, b, guess)``, the flow of ``a`` towards ``b`` (``guess`` None: zero).
GuidedFlow = Callable[[np.ndarray, np.ndarray, np.ndarray | None], np.ndarray]


def _dis(preset: int, *, fine: bool, patch: tuple[int, int] | None = None) -> GuidedFlow:
    """DIS at ``preset``; ``fine``: down to the pixels (the presets stop a scale short of them, and
    sub-pixel motion is lost), with more variational refinement; ``patch``: its size and stride.
    OpenCV's DIS starts from the flow it is handed when that has the frame's size."""
    dis = cv2.DISOpticalFlow.create(preset)
    if fine:
        dis.setFinestScale(0)
        dis.setVariationalRefinementIterations(10)
    if patch is not None:
        dis.setPatchSize(patch[0])
        dis.setPatchStride(patch[1])

    def by_dis(a: np.ndarray, b: np.ndarray, guess: np.ndarray | None) -> np.ndarray:
        start = _zeros(a) if guess is None else np.array(guess, dtype=np.float32, order="C")  # DIS writes into it
        return np.asarray(dis.calc(_grey(a), _grey(b), start))

    return by_dis


def fused(*flows: GuidedFlow) -> FlowFunction:
    """A flow taken per pixel from candidates: ``flows`` from ``a`` towards ``b``, then each of
    them again started from the opposite flow (``b`` towards ``a``, fused the same way) negated;
    per pixel the one under which frame ``b``, carried onto ``a``, differs least from it
    (:func:`best_of`).

    DIS matches patches coarse to fine; where an object is small against its patches and moves
    fast, the coarse patches follow what is around it and the object's flow is lost. Smaller
    patches find it, but are noisier on large, plain surfaces: each is right where it shows the
    other frame better (Lempitsky et al.'s fusion, reduced to a per-pixel choice). An object
    entering the frame is a sliver in one frame and whole in the other; found from the frame it
    is whole in, its flow is a first guess that lets DIS find it from the other, and the
    forward–backward check (:func:`certainty`, :func:`agreement`) then holds there too."""

    recent: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # a clip asks for both ways of a pair

    def one_way(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        for seen_a, seen_b, flow in recent:
            if np.array_equal(seen_a, a) and np.array_equal(seen_b, b):
                return flow
        flow = best_of(a, b, [flow_of(a, b, None) for flow_of in flows])
        recent[:] = [(a.copy(), b.copy(), flow), *recent[:1]]
        return flow

    def by_fusion(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        guess = -one_way(b, a)
        return best_of(a, b, [one_way(a, b), *(flow_of(a, b, guess) for flow_of in flows)])

    return by_fusion


def best_of(a: np.ndarray, b: np.ndarray, candidates: list[np.ndarray]) -> np.ndarray:
    """Per pixel of ``a``, the candidate flow (towards ``b``) under which ``b``, carried onto ``a``,
    differs least from it: absolute RGB difference, blurred by :data:`FUSE_BLUR`; the first of
    equals, as they are listed."""
    stacked = np.stack(candidates)
    errors = [np.abs(warp(b.astype(np.float32), flow) - a.astype(np.float32)) for flow in stacked]
    blurred = np.stack([cv2.GaussianBlur(e.sum(-1) if e.ndim == 3 else e, (0, 0), FUSE_BLUR) for e in errors])
    best = np.argmin(blurred, axis=0)
    return np.asarray(np.take_along_axis(stacked, best[None, ..., None], axis=0)[0], dtype=np.float32)


#: How far (px) :func:`propagated` looks for a neighbour's flow, each way along both axes: past the
#: band DIS smears across a motion boundary, into a small object or out of it.
PROPAGATION = (2, 4, 8, 16)
#: How many times :func:`propagated` offers each pixel its neighbours' flows.
PROPAGATION_ROUNDS = 2


def propagated(flow_of: FlowFunction) -> FlowFunction:
    """``flow_of``'s flow, each pixel then offered the flows of the pixels :data:`PROPAGATION` px
    away along each axis and keeping whichever carries the other frame onto it best
    (:func:`best_of`), :data:`PROPAGATION_ROUNDS` times (PatchMatch's propagation, Barnes et al.
    2009); then smoothed within each motion by OpenCV's variational refinement (the energy DIS
    ends with, Brox et al. 2004).

    DIS blends the flows of both sides across a motion boundary: a small, fast object's rim takes
    part of the background's motion, the frames' check (:func:`agreement`) rightly drops it, and
    the rim is painted anew each frame, flickering as independent frames do. The object's own
    flow lies a few pixels inside it; offered to the rim, it carries the other frame onto the rim
    better and is taken, and the background's is taken back on the other side."""
    refinement = cv2.VariationalRefinement.create()

    def by_propagation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        flow = flow_of(a, b)
        for _ in range(PROPAGATION_ROUNDS):
            flow = best_of(a, b, [flow, *(_shifted(flow, step) for step in _steps())])
        u, v = (np.ascontiguousarray(flow[..., i]) for i in range(2))
        refinement.calcUV(_grey(a), _grey(b), u, v)  # refines u and v in place
        return np.dstack([u, v]).astype(np.float32)

    return by_propagation


def _steps() -> list[tuple[int, int]]:
    """:func:`propagated`'s neighbours, as (dy, dx)."""
    along_x = [(0, s) for d in PROPAGATION for s in (d, -d)]
    return along_x + [(dx, dy) for dy, dx in along_x]


def _shifted(flow: np.ndarray, step: tuple[int, int]) -> np.ndarray:
    """Each pixel's neighbour's flow, ``step`` (dy, dx) away (the edge's own beyond it)."""
    height, width = flow.shape[:2]
    ys = np.clip(np.arange(height) + step[0], 0, height - 1)
    xs = np.clip(np.arange(width) + step[1], 0, width - 1)
    return flow[ys][:, xs]


def sources(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each pixel of the frame ``flow`` belongs to is in the frame it points into:
    ``(x + dx, y + dy)`` as two (H, W) float32 maps."""
    ys, xs = np.mgrid[0 : flow.shape[0], 0 : flow.shape[1]].astype(np.float32)
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray, *, resampling: str = "bilinear") -> np.ndarray:
    """``image`` (of the frame ``flow`` points into) brought onto the frame ``flow`` belongs to:
    ``out[y, x] = image[y + dy, x + dx]``. Beyond the image it is mirrored, not its edge repeated
    (which draws streaks); what comes from outside is no good either way, and :func:`agreement`
    says so."""
    return cv2.remap(image, *sources(flow), RESAMPLING[resampling], borderMode=cv2.BORDER_REFLECT_101)


#: :func:`agreement`'s low-pass (Gaussian, px) and its threshold: the RGB distance, in [0, 1], of
#: the low-passed frames beyond which the previous frame carried along the flow is another thing.
AGREEMENT_BLUR = 1.0
#: :func:`agreement`'s threshold (RGB distance in [0, 1] of the low-passed frames).
AGREEMENT = 0.08
#: A motion boundary, for :func:`agreement`: where the flow changes by more than this many pixels
#: per pixel; and how near one (px) a pixel whose flow fails the forward-backward check is doubted.
MOTION_EDGE = 0.5
#: How near a motion boundary (px) a pixel whose flow fails the forward-backward check is doubted.
NEAR_EDGE = 3


def agreement(frame: np.ndarray, previous: np.ndarray, towards: np.ndarray, back: np.ndarray) -> np.ndarray:
    """Where ``previous`` (uint8 RGB, the frame ``towards`` points into), carried along ``towards``,
    shows what ``frame`` shows: (H, W) float32 of 0 and 1. ``back`` is the flow the other way.

    A moving object's flow spills onto the background it uncovers, smoothly both ways, so the
    forward-backward check alone passes there, and carrying an earlier result along it copies the
    object onto what it uncovered: a ghost that follows it. Two checks catch what it uncovers:
    the frames themselves, low-passed (:data:`AGREEMENT_BLUR`) with their mean difference removed
    (a change of exposure is no disagreement), differ there by more than :data:`AGREEMENT`; and
    near a motion boundary (:data:`MOTION_EDGE`, :data:`NEAR_EDGE`) the forward-backward check
    is believed. Both hold where the flow is uncertain but harmless: in flat, dark or noisy parts
    that did not move, a wrong flow carries like onto like, and no motion boundary is near. A pixel
    whose flow leaves the frame disagrees, and so do those beside a disagreement (a warp blends
    neighbours across it)."""
    return agreements(frame, previous, towards, back)[0]


def agreements(
    frame: np.ndarray, previous: np.ndarray, towards: np.ndarray, back: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`agreement`, and the same with a disagreement widened only near a motion boundary:
    where a clip counts what the motion revealed from (:func:`pipeline.video.temporal.carried_age`).

    Near a motion boundary, a pixel beside a disagreement has its source beside the moving object,
    in the halo a painting draws around it: it is revealed as much as what the object uncovered.
    Elsewhere (beside the frame's edge as the camera pans, beside a flash) it is only kept out of
    the start for the frame; counted as revealed, it would be painted anew for
    :data:`~pipeline.video.temporal.REVEAL_FRAMES` frames, and flicker as independent frames do."""
    inside = _inside(towards)
    carried = warp(previous.astype(np.float32) / 255, towards)
    difference = cv2.GaussianBlur(carried, (0, 0), AGREEMENT_BLUR) - cv2.GaussianBlur(
        frame.astype(np.float32) / 255, (0, 0), AGREEMENT_BLUR
    )
    difference -= np.median(difference[inside], axis=0) if inside.any() else 0
    alike = ((difference**2).sum(-1) < AGREEMENT**2) & inside
    edge = (_change(towards) > MOTION_EDGE**2).astype(np.uint8)
    near = cv2.dilate(edge, np.ones((2 * NEAR_EDGE + 1,) * 2, np.uint8)).astype(bool)
    agrees = alike & (_consistent(towards, back) | ~near)
    kept = cv2.erode(agrees.astype(np.uint8), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return kept.astype(np.float32), np.where(near, kept, agrees).astype(np.float32)


def certainty(flow: np.ndarray, opposite: np.ndarray) -> np.ndarray:
    """Where ``flow`` (frame t → s) can be trusted, given ``opposite`` (s → t): (H, W) float32 of
    0 and 1, after Sundaram et al.'s forward–backward and motion-boundary checks."""
    boundary = _change(flow) > 0.01 * (flow**2).sum(-1) + 0.002
    return (_consistent(flow, opposite) & ~boundary & _inside(flow)).astype(np.float32)


def _inside(flow: np.ndarray) -> np.ndarray:
    """Where ``flow`` points inside the frame."""
    height, width = flow.shape[:2]
    tx, ty = sources(flow)
    return np.asarray((tx >= 0) & (tx <= width - 1) & (ty >= 0) & (ty <= height - 1))


def _change(flow: np.ndarray) -> np.ndarray:
    """How fast ``flow`` changes across the frame: |∇u|² + |∇v|² per pixel."""
    du_dy, du_dx = np.gradient(flow[..., 0])
    dv_dy, dv_dx = np.gradient(flow[..., 1])
    return np.asarray(du_dx**2 + du_dy**2 + dv_dx**2 + dv_dy**2)


def _consistent(flow: np.ndarray, opposite: np.ndarray) -> np.ndarray:
    """Sundaram's forward-backward check: ``flow`` and ``opposite`` taken where it points cancel."""
    back = cv2.remap(opposite, *sources(flow), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    total = flow + back
    return np.asarray((total**2).sum(-1) < 0.01 * ((flow**2).sum(-1) + (back**2).sum(-1)) + 0.5)


def long_term_weights(certainties: list[np.ndarray]) -> list[np.ndarray]:
    """Ruder's long-term weights, closest frame first: each earlier frame counts only where no
    closer one is certain, ``c_j ← max(c_j − Σ_{k<j} c_k, 0)``."""
    taken = np.zeros_like(certainties[0])
    weights = []
    for c in certainties:
        weights.append(np.maximum(c - taken, 0))
        taken = taken + c
    return weights
