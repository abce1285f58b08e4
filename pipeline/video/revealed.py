"""What the motion revealed, given a start without painting it on its own (``--reveal-steps 0``,
the cheaper road; by default such pixels start from the frame painted on its own, see
:meth:`pipeline.video.transfer.ClipTransfer._repainted`): each such pixel takes the stylised pixel
beside it whose photo looks most like its own.

Where a moving object uncovers the background, or the camera brings something in at an edge, the
previous result has nothing to carry (:func:`pipeline.video.flow.agreement` finds those pixels).
Started from the photo, they stay a photo: in a frame whose style statistics are already met, the
style loss hardly pulls on a few pixels, and a few dozen evaluations leave an unpainted trail. So
they start from their stylised surroundings instead, as an inpainting guided by the photo: a pixel
copies the kept pixel within :data:`RADIUS` whose 3 × 3 photo neighbourhood is nearest its own (a
cost in photo distance, :data:`COLOUR`, and in pixels, :data:`REACH`), never one of another region
when the frame has regions; wider gaps fill in rounds from their edges in. The optimisation then
fits the copy to the pixel's own content.
"""

from __future__ import annotations

import cv2
import numpy as np

#: How far (px) a revealed pixel looks for a kept one, per round, and how many rounds.
RADIUS = 6
ROUNDS = 4
#: The photo distance (RGB in [0, 1], mean over 3 × 3) and the distance (px) each worth one unit of cost.
COLOUR = 0.08
#: The distance (px) worth one unit of cost.
REACH = 6.0


def fill(image: np.ndarray, keep: np.ndarray, photo: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """``image`` (H, W, 3 float) with its pixels outside ``keep`` (H, W bool) copied from kept ones,
    chosen by ``photo`` (H, W, 3 float, the frame) and within the same ``labels`` (H, W int) when
    given. Each copy is moved by the difference of the two pixels' photo colours, mapped as this
    frame's painting maps colours (:func:`colour_map`): where nothing alike is near (the black of a
    neck beside a grey collar), the copy keeps its texture and takes the colour the neck would be
    painted in. A pixel no round reaches takes the photo's colour, so mapped."""
    out = image.copy()
    known = keep.copy()
    source = photo.copy()  # the photo colour of each pixel's copy
    pad = RADIUS
    for _ in range(ROUNDS):
        rows, cols = np.nonzero(~known)
        if not len(rows):
            break
        top, bottom = rows.min(), rows.max() + 1
        left, right = cols.min(), cols.max() + 1
        window = np.s_[top:bottom, left:right]
        padded = [_padded(a, pad) for a in (photo, out, known.astype(np.float32), source)]
        padded_labels = _padded(labels.astype(np.float32), pad) if labels is not None else None
        here = photo[window]
        todo = ~known[window]
        best = np.full(todo.shape, np.inf, np.float32)
        chosen = np.zeros((*todo.shape, 3), np.float32)
        chosen_source = np.zeros((*todo.shape, 3), np.float32)
        for dy in range(-RADIUS, RADIUS + 1):
            for dx in range(-RADIUS, RADIUS + 1):
                if not dx and not dy:
                    continue
                there = np.s_[top + pad + dy : bottom + pad + dy, left + pad + dx : right + pad + dx]
                difference = ((padded[0][there] - here) ** 2).sum(axis=-1)
                cost = cv2.blur(difference, (3, 3)) / COLOUR**2 + (dx * dx + dy * dy) / REACH**2
                usable = todo & (padded[2][there] > 0.5) & (cost < best)
                if padded_labels is not None and labels is not None:
                    usable &= padded_labels[there] == labels[window]
                best = np.where(usable, cost, best)
                chosen = np.where(usable[..., None], padded[1][there], chosen)
                chosen_source = np.where(usable[..., None], padded[3][there], chosen_source)
        found = np.isfinite(best)
        out[window] = np.where(found[..., None], chosen, out[window])
        source[window] = np.where(found[..., None], chosen_source, source[window])
        known[window] |= found
        if not found.any():
            break
    matrix, offset = colour_map(image, photo, keep)
    copied = known & ~keep
    out[copied] += np.einsum("nj,ij->ni", photo[copied] - source[copied], matrix)
    out[~known] = np.einsum("nj,ij->ni", photo[~known], matrix) + offset
    return out.clip(0, 1)


#: The low-pass (Gaussian, px) under which :func:`colour_map` compares a painting with its photo.
MAP_BLUR = 2.0


def colour_map(painting: np.ndarray, photo: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The affine map (3 × 3 matrix, offset) from ``photo``'s colours to ``painting``'s, both
    low-passed, fitted by least squares over the pixels ``where``: how this frame's painting
    renders colours, the identity when too few pixels say."""
    points = where[::2, ::2]
    if points.sum() < 16:
        return np.eye(3, dtype=np.float32), np.zeros(3, np.float32)
    low = [cv2.GaussianBlur(x, (0, 0), MAP_BLUR)[::2, ::2][points].astype(np.float64) for x in (photo, painting)]
    design = np.concatenate([low[0], np.ones((len(low[0]), 1))], axis=1)
    # The normal equations summed by einsum, not a threaded BLAS: the same bits on any machine.
    normal = np.einsum("ni,nj->ij", design, design) + 1e-6 * np.eye(4)
    solution = np.linalg.solve(normal, np.einsum("ni,nj->ij", design, low[1]))  # (4, 3)
    return solution[:3].T.astype(np.float32), solution[3].astype(np.float32)


def _padded(array: np.ndarray, pad: int) -> np.ndarray:
    """``array`` with ``pad`` px of zeros around it (a kept mask padded so reads nothing outside)."""
    widths = ((pad, pad), (pad, pad)) + ((0, 0),) * (array.ndim - 2)
    return np.pad(array, widths)
