"""Measures of results against known truth, for tests and benchmarks: how much a guided result
bleeds across regions, and (video) how much a clip flickers along its true motion."""

from __future__ import annotations

import numpy as np
import torch


def bleeding(
    output: torch.Tensor, content_labels: np.ndarray, style: torch.Tensor, style_labels: np.ndarray
) -> list[float]:
    """For each content region r: the share of its pixels whose colour is closer to the mean
    colour of another style region than to style region r's. Region r of the content is label r
    in both maps. 0 is no bleeding; an output that ignores the regions scores about 1 - 1/R."""
    pixels = output[0].permute(1, 2, 0).reshape(-1, 3).float().cpu().numpy()
    style_pixels = style[0].permute(1, 2, 0).reshape(-1, 3).float().cpu().numpy()
    labels = content_labels.reshape(-1)
    regions = sorted(set(np.unique(labels)) & set(np.unique(style_labels)))
    means = np.stack([style_pixels[style_labels.reshape(-1) == r].mean(axis=0) for r in regions])
    shares = []
    for i, r in enumerate(regions):
        distances = np.linalg.norm(pixels[labels == r][:, None, :] - means[None], axis=2)
        shares.append(float((distances.argmin(axis=1) != i).mean()))
    return shares


def warping_error(results: list[np.ndarray], flows: list[np.ndarray | None], visible: list[np.ndarray | None]) -> float:
    """Lai et al. 2018's warping error of a clip: per frame, the mean squared RGB difference (in
    [0, 1]) between frame t and frame t−1 brought along the true flow, over the pixels whose origin
    was visible; averaged over the frames. ``flows[t]`` and ``visible[t]`` are frame t's truth
    (:class:`pipeline.synthetic.clips.SyntheticFrame`); ``results`` uint8 RGB frames."""
    from pipeline.video.flow import warp

    errors = []
    for t in range(1, len(results)):
        flow, seen = flows[t], visible[t]
        assert flow is not None and seen is not None
        before = warp(results[t - 1].astype(np.float32) / 255, flow, resampling="bilinear")
        difference = ((results[t].astype(np.float32) / 255 - before) ** 2).sum(axis=-1)
        errors.append(float(difference[seen].mean()))
    return float(np.mean(errors))
