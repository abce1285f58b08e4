"""L-BFGS for image optimisation, without a single host–device sync per iteration.

``torch.optim.LBFGS`` turns every step of its two-loop recursion into a Python float (an
``alpha=`` argument must be a number), which on a GPU is ~200 synchronisations per evaluation
once the history is full: more than the whole VGG pass costs at 512 px on a modern card. This
version keeps the history in two preallocated (m, n) tensors and every scalar on the device.

It is the variant neural-style and most Gatys implementations use: no line search, step size
``lr`` (the first step scaled by ``min(1, 1/‖g‖₁)`` as in torch), curvature pairs with
``sᵀy <= 1e-10`` neutralised rather than stored (their ρ is 0, so they contribute nothing).
"""

from __future__ import annotations

import torch


class LBFGS:
    """Minimise over one tensor ``x`` (updated in place) given its gradient at each call."""

    def __init__(self, x: torch.Tensor, *, lr: float = 1.0, history_size: int = 20) -> None:
        if history_size < 1:
            raise ValueError("history_size must be >= 1")
        self.x = x
        self.lr = lr
        self.m = history_size
        n = x.numel()
        self._s = x.new_zeros((history_size, n))
        self._y = x.new_zeros((history_size, n))
        self._rho = x.new_zeros(history_size)
        self._gamma = x.new_ones(())  # initial inverse-Hessian scale sᵀy / yᵀy of the last good pair
        self._count = 0  # pairs stored so far (ring buffer, newest at (count - 1) % m)
        self._prev_x: torch.Tensor | None = None
        self._prev_g: torch.Tensor | None = None

    @torch.no_grad()
    def step(self, grad: torch.Tensor) -> None:
        """Move ``x`` along the L-BFGS direction for ``grad`` (the gradient at the current ``x``)."""
        g = grad.reshape(-1).to(self._s.dtype)
        x = self.x.view(-1)
        if self._prev_x is None:
            # First step: steepest descent, scaled so the largest possible move is ~lr.
            direction = g.neg().mul_(torch.clamp(1.0 / g.abs().sum(), max=1.0))
        else:
            self._remember(x - self._prev_x, g - self._prev_g)
            direction = self._two_loop(g).neg_()
        self._prev_x = x.clone()
        self._prev_g = g.clone()
        x.add_(direction, alpha=self.lr)

    def _remember(self, s: torch.Tensor, y: torch.Tensor) -> None:
        slot = self._count % self.m
        ys = torch.dot(y, s)
        good = ys > 1e-10
        self._s[slot] = s
        self._y[slot] = y
        self._rho[slot] = torch.where(good, 1.0 / torch.where(good, ys, 1.0), 0.0)
        self._gamma = torch.where(good, ys / torch.dot(y, y).clamp_min(1e-30), self._gamma)
        self._count += 1

    def _two_loop(self, g: torch.Tensor) -> torch.Tensor:
        stored = min(self._count, self.m)
        newest = (self._count - 1) % self.m
        order = [(newest - i) % self.m for i in range(stored)]  # newest first
        q = g.clone()
        alphas = []
        for i in order:
            alpha = self._rho[i] * torch.dot(self._s[i], q)
            q.addcmul_(self._y[i], alpha, value=-1)
            alphas.append(alpha)
        r = q.mul_(self._gamma)
        for i, alpha in zip(reversed(order), reversed(alphas), strict=True):
            beta = self._rho[i] * torch.dot(self._y[i], r)
            r.addcmul_(self._s[i], alpha - beta)
        return r
