"""Our sync-free L-BFGS: the same iterates as torch's L-BFGS (no line search), and it converges."""

from __future__ import annotations

import torch

from pipeline.optim import LBFGS


def _problem() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    a = torch.rand(30, 30, generator=generator, dtype=torch.float64)
    return a @ a.T + 0.5 * torch.eye(30, dtype=torch.float64), torch.rand(30, generator=generator, dtype=torch.float64)


def _loss(x: torch.Tensor, matrix: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return 0.5 * x @ matrix @ x - b @ x + 0.1 * (x**4).sum()


def test_matches_torch_lbfgs_iterates() -> None:
    matrix, b = _problem()
    ours = torch.zeros(30, dtype=torch.float64, requires_grad=True)
    theirs = torch.zeros(30, dtype=torch.float64, requires_grad=True)
    optimizer = LBFGS(ours, lr=1.0, history_size=5)
    reference = torch.optim.LBFGS([theirs], lr=1.0, max_iter=1, history_size=5, tolerance_grad=-1, tolerance_change=-1)

    def closure() -> torch.Tensor:
        reference.zero_grad()
        loss = _loss(theirs, matrix, b)
        loss.backward()
        return loss

    for _ in range(12):  # more steps than the history holds, so the ring buffer wraps
        ours.grad = None
        _loss(ours, matrix, b).backward()
        optimizer.step(ours.grad)
        reference.step(closure)
        assert torch.allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_converges_on_a_convex_problem() -> None:
    matrix, b = _problem()
    x = torch.zeros(30, dtype=torch.float64, requires_grad=True)
    optimizer = LBFGS(x, lr=1.0, history_size=10)
    losses = []
    for _ in range(60):
        x.grad = None
        loss = _loss(x, matrix, b)
        loss.backward()
        losses.append(loss.item())
        optimizer.step(x.grad)
    assert losses[-1] < losses[0]
    assert x.grad.abs().max() < 1e-4  # from ~1 at the start


def test_bad_curvature_pairs_are_neutralised() -> None:
    x = torch.zeros(3, requires_grad=True)
    optimizer = LBFGS(x, history_size=3)
    optimizer.step(torch.tensor([1.0, 0.0, 0.0]))
    optimizer.step(torch.tensor([1.0, 0.0, 0.0]))  # y = 0: sᵀy = 0, must not divide by zero
    assert torch.isfinite(x).all()
    assert optimizer._rho[0] == 0
