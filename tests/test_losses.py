"""Gram matrix and losses against hand computations; the fused style taps against plain autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.core.losses import (
    ContentLoss,
    GramStyleLoss,
    _GramMSETap,
    content_loss,
    gram_matrix,
    layer_weights,
    tv_loss,
)
from pipeline.errors import InputError


def test_gram_matrix_by_hand() -> None:
    # Two channels over a 2×2 map: f1 = [1, 2, 3, 4], f2 = [0, 1, 0, 1].
    features = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])
    # f1·f1 = 30, f1·f2 = 6, f2·f2 = 2; divided by C·H·W = 8.
    expected = torch.tensor([[[30.0, 6.0], [6.0, 2.0]]]) / 8
    assert torch.allclose(gram_matrix(features), expected)


def test_gram_matrix_is_layout_independent_and_fp32_under_autocast() -> None:
    features = torch.rand(2, 5, 6, 7)
    reference = gram_matrix(features)
    assert torch.allclose(gram_matrix(features.contiguous(memory_format=torch.channels_last)), reference)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert gram_matrix(features.bfloat16()).dtype == torch.float32


def test_content_loss_by_hand() -> None:
    a = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    b = torch.tensor([[[[1.0, 0.0], [3.0, 1.0]]]])
    assert content_loss(a, b).item() == pytest.approx((0 + 4 + 0 + 9) / 4)
    assert ContentLoss("x", {"x": b})({"x": a}).item() == pytest.approx(13 / 4)


def test_tv_loss_by_hand() -> None:
    image = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])
    # vertical differences 2, 3 → mean of squares 6.5; horizontal 1, 2 → 2.5
    assert tv_loss(image).item() == pytest.approx(9.0)
    assert tv_loss(torch.full((1, 3, 5, 5), 0.3)).item() == 0


def test_style_loss_by_hand() -> None:
    rng = np.random.default_rng(0)
    x1, s1 = rng.random((3, 4 * 5)), rng.random((3, 4 * 5))
    x2, s2 = rng.random((6, 2 * 3)), rng.random((6, 2 * 3))

    def gram(f: np.ndarray) -> np.ndarray:
        return f @ f.T / f.size

    expected = 0.5 * np.mean((gram(x1) - gram(s1)) ** 2) + 2.0 * np.mean((gram(x2) - gram(s2)) ** 2)

    def as_features(a: np.ndarray, b: np.ndarray) -> dict[str, torch.Tensor]:
        return {"l1": torch.tensor(a).view(1, 3, 4, 5).float(), "l2": torch.tensor(b).view(1, 6, 2, 3).float()}

    loss = GramStyleLoss.from_features(as_features(s1, s2), {"l1": 0.5, "l2": 2.0})
    assert loss(as_features(x1, x2)).item() == pytest.approx(expected, rel=1e-5)
    assert not any(t.requires_grad for t in loss.targets.values())


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("with_upstream", [False, True])
def test_fused_tap_matches_plain_autograd(channels_last: bool, with_upstream: bool, fused_and_plain) -> None:
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    source = torch.rand(1, 8, 6, 5).contiguous(memory_format=fmt)
    style = {"l": torch.rand(1, 8, 6, 5)}
    upstream = torch.rand(1, 8, 6, 5)
    loss = GramStyleLoss.from_features(style, {"l": 3.0})
    (fused_value, fused_grad), (plain_value, plain_grad) = fused_and_plain(
        loss, source, upstream if with_upstream else None
    )
    assert torch.allclose(fused_value, plain_value, rtol=1e-6)
    assert torch.allclose(fused_grad, plain_grad, rtol=1e-5, atol=1e-9)
    assert fused_grad.is_contiguous(memory_format=fmt)


def test_fused_tap_gradcheck() -> None:
    features = torch.rand(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    target = torch.rand(1, 3, 3, dtype=torch.float64)
    target = target + target.transpose(1, 2)
    assert torch.autograd.gradcheck(lambda f: _GramMSETap.apply(f, target, 0.7), (features,))


def test_layer_weights() -> None:
    assert layer_weights(["a", "b"]) == {"a": 1.0, "b": 1.0}
    assert layer_weights(["a", "b"], [0.5, 2]) == {"a": 0.5, "b": 2.0}
    with pytest.raises(InputError, match="2 style layers but 1 style layer weights"):
        layer_weights(["a", "b"], [1.0])
