"""L-BFGS with a Wolfe line search for image optimisation, with one host sync per evaluation.

Why a line search: the variant neural-style and most Gatys implementations use (a fixed step
along the quasi-Newton direction, curvature pairs with ``sᵀy <= 0`` thrown away) stalls where the
loss is concave along the first directions, and returns the photo (docs/design-notes.md, "L-BFGS").

What this version does, and why each piece:

- **Weak Wolfe line search** (sufficient decrease ``f(t) ≤ f₀ + c₁ t g₀ᵀd`` and curvature
  ``g(t)ᵀd ≥ c₂ g₀ᵀd``, c₁ = 1e-4, c₂ = 0.9, Nocedal & Wright's values for quasi-Newton methods):
  a step that is too short is *extrapolated* (×2…×10, cubic), one that overshoots is cut back by
  safeguarded cubic interpolation. The curvature condition guarantees ``sᵀy > 0`` for every
  accepted step, so concave stretches no longer starve the history; the first trial is the full
  quasi-Newton step (``lr``), accepted as is almost always once the history has a few pairs.
- **Scale invariance**: both Wolfe conditions, the initial inverse-Hessian scale
  ``γ = sᵀy / yᵀy`` and the first step (sized so the largest pixel moves by
  :data:`FIRST_MOVE`) are unchanged when the loss is multiplied by any constant, so random or
  ImageNet weights and style weights from 1e3 to 1e10 see the same iterates
  (tests/test_optim.py checks 1e-8 … 1e8). Curvature pairs are kept when
  ``sᵀy > 1e-8 ‖s‖ ‖y‖`` (an angle, not an absolute 1e-10).
- **Safeguards**: a direction that is not a descent direction (rounding) restarts from steepest
  descent; a line search that runs out of trials takes its best point with sufficient decrease,
  or restarts without history; when even steepest descent cannot move a pixel by more than
  ``min_move`` with a decrease, the iterate is stationary and ``LBFGS.converged`` says so.

Host syncs. ``torch.optim.LBFGS`` turns every step of its two-loop recursion into a Python float
(~200 synchronisations per evaluation once the history is full, more than the whole VGG pass at
512 px on a modern GPU). Here the history lives in two preallocated (m, n) tensors and the
two-loop runs on the device; the line search reads two numbers per evaluation (the loss and the
directional derivative, one transfer) and one more per iteration (the new direction's slope).
That is the price of a line search: a GPU can no longer queue the next evaluation's kernels
before the current one finishes (its cost: docs/design-notes.md, "L-BFGS").

The interface is ask/tell: the caller evaluates the loss and gradient at ``x`` and calls
:meth:`LBFGS.tell`, which moves ``x`` (in place) to the next point to evaluate. :attr:`LBFGS.best`
is the lowest-loss point seen with sufficient decrease — the one to return when the budget of
evaluations ends in the middle of a line search.
"""

from __future__ import annotations

import math

import torch

#: Pixels (images in [0, 1]) that the first step moves at most; the line search corrects it.
FIRST_MOVE = 0.05
#: Below this largest pixel change (far under 8-bit resolution, 1/255 ≈ 0.004) a step changes nothing.
MIN_MOVE = 1e-6


class LBFGS:
    """Minimise over one tensor ``x`` (updated in place), told the loss and gradient at each ``x``."""

    def __init__(
        self,
        x: torch.Tensor,
        *,
        lr: float = 1.0,
        history_size: int = 20,
        c1: float = 1e-4,
        c2: float = 0.9,
        max_trials: int = 20,
        first_move: float = FIRST_MOVE,
        min_move: float = MIN_MOVE,
    ) -> None:
        if history_size < 1:
            raise ValueError("history_size must be >= 1")
        if not 0 < c1 < c2 < 1:
            raise ValueError("need 0 < c1 < c2 < 1")
        self.x = x
        self.lr = lr
        self.m = history_size
        self.c1, self.c2 = c1, c2
        self.max_trials = max_trials
        self.first_move, self.min_move = first_move, min_move
        n = x.numel()
        self._s = x.new_zeros((history_size, n))
        self._y = x.new_zeros((history_size, n))
        self._rho = x.new_zeros(history_size)
        self._gamma = x.new_ones(())  # initial inverse-Hessian scale sᵀy / yᵀy of the last good pair
        self._count = 0  # pairs stored since the last restart (ring buffer, newest at (count - 1) % m)
        # The accepted iterate, its loss and gradient; the search direction and its slope there.
        self._x0: torch.Tensor | None = None
        self._g0 = x.new_zeros(n)
        self._f0 = math.inf
        self._d = x.new_zeros(n)
        self._slope0 = 0.0
        self._d_max = 0.0  # largest |d_i|: how far a step t moves the farthest pixel, per unit t
        # The line search: step t under trial; bracket ends (t, f, slope): lo, the best point with
        # sufficient decrease (and the one before it), hi, the nearest point past the minimum.
        self._t = 0.0
        self._lo = self._lo_prev = (0.0, math.inf, 0.0)
        self._hi: tuple[float, float, float] | None = None
        self._lo_x: torch.Tensor | None = None
        self._lo_g: torch.Tensor | None = None
        self._trials = 0
        self.iterations = 0  # accepted steps
        self.restarts = 0  # line searches that failed and dropped the history
        self.converged = False  # no step moves a pixel by min_move with a decrease

    @property
    def best(self) -> torch.Tensor:
        """The lowest-loss point evaluated so far with sufficient decrease (a view, flat)."""
        if self._lo_x is not None:
            return self._lo_x
        return self._x0 if self._x0 is not None else self.x.view(-1)

    @torch.no_grad()
    def tell(self, loss: torch.Tensor, grad: torch.Tensor) -> bool:
        """Take the loss and gradient at the current ``x``, move ``x`` to the next point to
        evaluate; return whether this evaluation is now :attr:`best`."""
        g = grad.reshape(-1).to(self._s.dtype)
        x = self.x.view(-1)
        if self._x0 is None:
            self._x0, self._f0 = x.clone(), float(loss)
            self._g0.copy_(g)
            self._start_search()
            return True
        self._trials += 1
        f, slope = torch.stack([loss.detach().to(g.dtype), torch.dot(g, self._d)]).tolist()
        t = self._t
        lo_t, lo_f, _ = self._lo
        if not math.isfinite(f) or f > self._f0 + self.c1 * t * self._slope0 or (lo_t > 0 and f >= lo_f):
            self._hi = (t, f, slope)  # too far: the minimum along d lies before t
            best = False
        elif slope < self.c2 * self._slope0:  # sufficient decrease, but still steeply downhill: go further
            self._lo_prev, self._lo = self._lo, (t, f, slope)
            self._lo_x, self._lo_g = x.clone(), g.clone()
            best = True
        else:
            self._accept(x.clone(), f, g, t)
            return True
        width = self._hi[0] - self._lo[0] if self._hi is not None else math.inf
        if self._trials >= self.max_trials or width * self._d_max < self.min_move:
            if self._lo_x is not None and self._lo_g is not None:
                self._accept(self._lo_x, self._lo[1], self._lo_g, self._lo[0])
            else:
                self._restart()
            return best
        self._t = self._next_step()
        x.copy_(self._x0).add_(self._d, alpha=self._t)
        return best

    # --- the line search -----------------------------------------------------------------------

    def _start_search(self) -> None:
        """Search from the accepted iterate: along the quasi-Newton direction from its full step
        ``lr``, or along steepest descent (no usable history) from a step of ``first_move``."""
        assert self._x0 is not None
        slope = math.nan
        if self._count:
            self._d = self._two_loop(self._g0).neg_()
            slope, self._d_max = self._slope_and_size()
            t = self.lr
            if not (math.isfinite(slope) and slope < 0):  # rounding spoilt the direction: start over
                self._forget()
        if not self._count:
            self._d = self._g0.neg()
            slope, self._d_max = self._slope_and_size()
            t = self.lr * self.first_move / self._d_max if self._d_max > 0 else 0.0
        if not (math.isfinite(slope) and slope < 0 and t > 0):
            self.converged = True  # a zero (or non-finite) gradient: nowhere to go
            return
        self._slope0 = slope
        self._lo, self._lo_prev, self._hi = (0.0, self._f0, slope), (0.0, self._f0, slope), None
        self._lo_x = self._lo_g = None
        self._trials = 0
        self._t = t
        self.x.view(-1).copy_(self._x0).add_(self._d, alpha=t)

    def _slope_and_size(self) -> tuple[float, float]:
        slope, size = torch.stack([torch.dot(self._g0, self._d), self._d.abs().max()]).tolist()
        return slope, size

    def _next_step(self) -> float:
        lo_t = self._lo[0]
        if self._hi is None:  # nothing past the minimum yet: extrapolate
            return _cubic_minimum(self._lo_prev, self._lo, 2 * lo_t, 10 * lo_t)
        width = self._hi[0] - lo_t
        return _cubic_minimum(self._lo, self._hi, lo_t + 0.1 * width, self._hi[0] - 0.1 * width)

    def _accept(self, x: torch.Tensor, f: float, g: torch.Tensor, t: float) -> None:
        """``x`` (owned: not a view of the optimised tensor) becomes the iterate."""
        self._remember(self._d.mul(t), g - self._g0)
        self._x0, self._f0 = x, f
        self._g0.copy_(g)
        self.iterations += 1
        self._start_search()

    def _restart(self) -> None:
        """The line search failed: drop the history and search again along steepest descent;
        if that already was steepest descent, the iterate is as good as it gets."""
        assert self._x0 is not None
        if not self._count:
            self.converged = True
            self.x.view(-1).copy_(self._x0)
            return
        self.restarts += 1
        self._forget()
        self._start_search()

    def _forget(self) -> None:
        self._count = 0
        self._rho.zero_()
        self._gamma = self._gamma.new_ones(())

    # --- the quasi-Newton direction ------------------------------------------------------------

    def _remember(self, s: torch.Tensor, y: torch.Tensor) -> None:
        slot = self._count % self.m
        ys = torch.dot(y, s)
        yy = torch.dot(y, y)
        # An angle test, so the same pairs are kept whatever the loss's scale.
        good = ys > 1e-8 * torch.sqrt(torch.dot(s, s) * yy)
        self._s[slot] = s
        self._y[slot] = y
        self._rho[slot] = torch.where(good, 1.0 / torch.where(good, ys, 1.0), 0.0)
        self._gamma = torch.where(good, ys / yy.clamp_min(1e-300), self._gamma)
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


# --- the optimisation loop ---------------------------------------------------------------------


def _cubic_minimum(a: tuple[float, float, float], b: tuple[float, float, float], low: float, high: float) -> float:
    """Minimiser of the cubic through (t, f, f') at ``a`` and ``b``, clamped to [low, high];
    the middle of [low, high] when the cubic has no minimiser (Nocedal & Wright, eq. 3.59)."""
    (ta, fa, ga), (tb, fb, gb) = a, b
    if ta == tb or not all(map(math.isfinite, (fa, ga, fb, gb))):
        return 0.5 * (low + high)
    d1 = ga + gb - 3 * (fa - fb) / (ta - tb)
    square = d1 * d1 - ga * gb
    if square < 0:
        return 0.5 * (low + high)
    d2 = math.copysign(math.sqrt(square), tb - ta)
    denominator = gb - ga + 2 * d2
    if denominator == 0:
        return 0.5 * (low + high)
    t = tb - (tb - ta) * (gb + d2 - d1) / denominator
    return min(max(t, low), high) if math.isfinite(t) else 0.5 * (low + high)
