"""Draws of a monitoring period's loss areas from their stratified estimates.

The stratified estimator gives each map's loss area ``A`` with a standard error
``SE`` (:mod:`models.map_accuracy`). Its sampling distribution is drawn as the
gamma distribution with that mean and SD (shape ``(A/SE)^2``, scale ``SE^2/A``):
positive, as an area is, with the estimator's mean and SE exactly (a normal would
put mass below 0, and clipping it would bias the mean). An estimate with no
sampling error (``SE = 0``) is drawn as the constant ``A``.
"""

from __future__ import annotations

import numpy as np

from simulator.data.monitoring import MonitoredLoss

__all__ = ["area_draws", "monitored_loss_draws", "STREAM"]

#: Salt of the generators of the monitored areas (one per period and area).
STREAM = 0x4D4F4E49


def area_draws(mean: float, se: float, n: int, gen: np.random.Generator) -> np.ndarray:
    """``n`` draws of an estimated area: gamma with mean ``mean`` and SD ``se``."""
    if mean < 0 or se < 0 or not np.isfinite(mean + se):
        raise ValueError(f"an area estimate must be finite and >= 0, got {mean} +/- {se}")
    if se == 0 or mean == 0:
        if se > 0:
            raise ValueError(f"an area estimate of 0 with a positive SE ({se}) has no gamma")
        return np.full(n, float(mean))
    shape = (mean / se) ** 2
    return gen.gamma(shape, se**2 / mean, size=n)


def monitored_loss_draws(
    loss: MonitoredLoss, strata: list[str], n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Draws of the project loss ``(n, periods, strata)`` and the belt loss ``(n, periods)``.

    Each (period, area) has its own generator, seeded by ``(seed, STREAM, period
    index, area index)``: the draws do not depend on the order they are made in.
    """
    areas = [*strata, loss.areas[-1]]
    out = np.empty((n, len(loss.periods), len(areas)))
    for p, period in enumerate(loss.periods):
        for a, area in enumerate(areas):
            gen = np.random.default_rng([seed, STREAM, p, a])
            out[:, p, a] = area_draws(*loss.loss(period, area), n, gen)
    return out[:, :, :-1], out[:, :, -1]
