"""Our L-BFGS with a Wolfe line search: it converges, it does not care about the loss's scale,
it gets out of concave stretches that starved the old fixed-step version, and it reports
the best point and a stationary point honestly."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from pipeline.core.lbfgs import LBFGS
from pipeline.core.optim import convergence, optimize
from pipeline.errors import InputError

Loss = Callable[[torch.Tensor], torch.Tensor]


def _problem() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    a = torch.rand(30, 30, generator=generator, dtype=torch.float64)
    return a @ a.T + 0.5 * torch.eye(30, dtype=torch.float64), torch.rand(30, generator=generator, dtype=torch.float64)


def _convex(scale: float = 1.0) -> Loss:
    matrix, b = _problem()
    return lambda x: scale * (0.5 * x @ matrix @ x - b @ x + 0.1 * (x**4).sum())


def _run(loss: Loss, x0: torch.Tensor, evaluations: int, **options) -> tuple[LBFGS, list[float], list[torch.Tensor]]:
    """Evaluate ``evaluations`` times (or until converged); return the optimiser, every
    evaluated loss and every evaluated point."""
    x = x0.clone().requires_grad_(True)
    optimizer = LBFGS(x, **options)
    losses, points = [], []
    for _ in range(evaluations):
        x.grad = None
        value = loss(x)
        value.backward()
        losses.append(value.item())
        points.append(x.detach().clone())
        optimizer.tell(value.detach(), x.grad)
        if optimizer.converged:
            break
    return optimizer, losses, points


def test_converges_on_a_convex_problem() -> None:
    loss = _convex()
    optimizer, losses, _ = _run(loss, torch.zeros(30, dtype=torch.float64), 80, history_size=10)
    best = optimizer.best.clone().requires_grad_(True)
    loss(best).backward()
    assert best.grad.abs().max() < 1e-6  # from ~1 at the start
    assert loss(optimizer.best).item() <= min(losses)


def test_solves_rosenbrock() -> None:
    def rosenbrock(x: torch.Tensor) -> torch.Tensor:
        return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2

    optimizer, _, _ = _run(rosenbrock, torch.tensor([-1.2, 1.0], dtype=torch.float64), 200, history_size=5)
    assert torch.allclose(optimizer.best, torch.ones(2, dtype=torch.float64), atol=1e-5)


@pytest.mark.parametrize("scale", [1e-8, 1e-3, 1e3, 1e8])
def test_the_loss_scale_does_not_change_the_iterates(scale: float) -> None:
    x0 = torch.zeros(30, dtype=torch.float64)
    _, _, reference = _run(_convex(), x0, 25)
    _, _, scaled = _run(_convex(scale), x0, 25)
    assert len(scaled) == len(reference)
    for ours, theirs in zip(scaled, reference, strict=True):
        assert torch.allclose(ours, theirs, rtol=1e-6, atol=1e-9)


def test_leaves_a_concave_start_quickly_whatever_the_scale() -> None:
    """A double well started near its concave top with tiny gradients: every curvature pair of the
    old fixed-step L-BFGS had sᵀy < 0, it fell back to steepest descent with step 1 and crawled
    (the chelsea stall). The line search extrapolates out of it in a few evaluations."""
    for scale in (1e-6, 1.0):

        def double_well(x: torch.Tensor, scale: float = scale) -> torch.Tensor:
            return scale * ((x**2 - 1) ** 2).sum()

        x0 = torch.full((100,), 1e-3, dtype=torch.float64)
        _, losses, _ = _run(double_well, x0, 30)
        assert min(losses) < 1e-3 * losses[0]


def test_every_kept_pair_has_positive_curvature() -> None:
    def double_well(x: torch.Tensor) -> torch.Tensor:
        return ((x**2 - 1) ** 2).sum() + 0.3 * x.sum()

    generator = torch.Generator().manual_seed(1)
    optimizer, _, _ = _run(double_well, torch.randn(50, generator=generator, dtype=torch.float64) * 0.1, 40)
    stored = min(optimizer._count, optimizer.m)
    assert optimizer.iterations >= 5
    ys = (optimizer._s[:stored] * optimizer._y[:stored]).sum(dim=1)
    assert (ys > 0).all()
    assert (optimizer._rho[:stored] > 0).all()


def test_best_is_the_lowest_point_with_sufficient_decrease() -> None:
    loss = _convex()
    for budget in range(2, 12):  # the budget ends at every stage of the line searches
        optimizer, losses, _ = _run(loss, torch.zeros(30, dtype=torch.float64), budget)
        assert loss(optimizer.best).item() == pytest.approx(min(losses), rel=1e-12)


def test_a_stationary_point_is_reported_not_searched_for_ever() -> None:
    matrix, b = _problem()
    minimum = torch.linalg.solve(matrix, b)

    def quadratic(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x @ matrix @ x - b @ x

    optimizer, losses, _ = _run(quadratic, minimum, 200)
    assert optimizer.converged
    assert len(losses) < 200
    assert torch.allclose(optimizer.best, minimum, atol=1e-6)


def test_bad_curvature_pairs_are_neutralised() -> None:
    x = torch.zeros(3)
    optimizer = LBFGS(x, history_size=3)
    optimizer._remember(torch.tensor([1.0, 0.0, 0.0]), torch.zeros(3))  # y = 0: must not divide by zero
    optimizer._remember(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([-1.0, 0.0, 0.0]))  # sᵀy < 0
    assert torch.isfinite(optimizer._rho).all()
    assert (optimizer._rho[:2] == 0).all()
    assert optimizer._gamma == 1


# --- the loop ------------------------------------------------------------------------------------


def test_divergence_is_reported_not_saved(images) -> None:
    def exploding(image: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"content": (image * float("nan")).sum()}

    with pytest.raises(InputError, match="the optimisation diverged"):
        optimize(images[0], exploding, steps=3)


def test_returned_image_is_the_best_evaluated_one(images) -> None:
    seen = []

    def loss(image: torch.Tensor) -> torch.Tensor:
        return ((image - 0.3) ** 2).sum() + (image**4).sum()

    def criterion(image: torch.Tensor) -> dict[str, torch.Tensor]:
        seen.append(image.detach().clone())
        return {"content": loss(image)}

    optimised = optimize(images[0], criterion, steps=6)
    losses = [loss(x).item() for x in seen]
    best = min(range(len(losses)), key=losses.__getitem__)
    assert len(seen) == 6
    assert torch.equal(optimised.image, seen[best].clamp(0, 1))
    total = optimised.history["total"]
    assert total[-1] == pytest.approx(losses[best], rel=1e-6)
    assert total == sorted(total, reverse=True)  # the best so far: never rises


def test_lbfgs_stops_at_a_stationary_point(images) -> None:
    target = images[0].clone()
    optimised = optimize(target, lambda image: {"content": ((image - target) ** 2).sum()}, steps=50)
    assert optimised.stationary
    assert len(optimised.history["total"]) < 50


def test_convergence_is_judged_on_the_loss_drop() -> None:
    assert convergence({"total": [2.03, 1.77]}) == (False, pytest.approx(0.128, abs=1e-3))
    assert convergence({"total": [2.0, 0.01]})[0]
    assert convergence({"total": [2.0, 1.9]}, stationary=True)[0]  # nothing left to gain
    assert convergence({"total": [0.0, 0.0]}) == (True, 0.0)
