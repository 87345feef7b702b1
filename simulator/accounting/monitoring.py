"""Emissions of a monitoring period: the validated baseline against monitored loss.

At verification the baseline is the one validated ex ante (VM0007 v1.8: baseline
emissions are projected at validation and fixed for the baseline period; here the
ex-ante run's posterior is reused, not refitted), while project and leakage-belt
deforestation are *monitored*: each period's loss map with its accuracy sample
(:mod:`simulator.data.monitoring`). For joint draw ``i`` of period ``p``::

    BE_p,i  = sum_{t in p} E^b_t,i                 baseline emissions (the ex-ante kernel)
    dC_s,i  = C_j,s - Cpost_k                      carbon lost per hectare (ex-ante draws j, k)
    PE_p,i  = sum_s A_p,s,i dC_s,i                 A: monitored project loss of stratum s
    r_t,i   = D^b_t,i / F^b_t-1,i                  the baseline's loss fraction of year t
    B_p,i   = sum_{t in p} Fbelt_t-1,i (1 - (1 - r_t,i)^rho)   the belt's baseline loss
    LK_p,i  = max(0, (Abelt_p,i - B_p,i) dCbelt_i)  activity-shifting leakage
    NER_p,i = BE_p,i - PE_p,i - LK_p,i ;  gross_p,i = BE_p,i - PE_p,i

The belt's baseline loss applies the baseline's hazard (scaled by the belt's
relative risk ``rho``: hazard x rho keeps the fraction ``(1 - r)^rho``) to the
belt's remaining forest. Leakage is VMD0010 v1.2 §5.1.4.2 Eq. 1 ex post: the
belt's monitored emissions less its baseline emissions, a negative value set to 0.
The belt's carbon density is the kernel's (:class:`simulator.engine.kernels.KernelInputs`
``belt_carbon``, by default the area-weighted mean of the project strata's).
No effectiveness prior enters: the project's own loss is observed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.engine.kernels import PICKED, KernelInputs, SimulationResult

__all__ = ["PeriodDraws", "belt_baseline_loss", "monitored_period_draws"]


@dataclass(frozen=True)
class PeriodDraws:
    """Joint draws per period, shape ``(n_draws, n_periods)`` each (tCO2e, or ha)."""

    baseline: np.ndarray
    project: np.ndarray
    leakage: np.ndarray
    belt_baseline_ha: np.ndarray

    @property
    def gross(self) -> np.ndarray:
        return self.baseline - self.project

    @property
    def ner(self) -> np.ndarray:
        return self.gross - self.leakage


def belt_baseline_loss(
    baseline_loss_ha: np.ndarray, area: np.ndarray, belt_forest_ha: float, belt_risk: float
) -> np.ndarray:
    """The belt's baseline loss per draw and year (ha), from the baseline's loss fractions.

    Parameters
    ----------
    baseline_loss_ha : (n_draws, T)
        The project's baseline loss per draw and year (all strata).
    area : (S,)
        The project's forest per stratum at the start.
    belt_forest_ha, belt_risk : float
        The belt's forest at the start and its hazard relative to the baseline's.
    """
    loss = np.asarray(baseline_loss_ha, dtype=float)
    forest = float(np.sum(area)) - np.cumsum(loss, axis=1)
    before = np.concatenate([np.full((loss.shape[0], 1), float(np.sum(area))), forest[:, :-1]], 1)
    kept = 1.0 - loss / before
    belt_kept = kept**belt_risk  # the hazard scaled by rho keeps (1 - r)^rho
    belt_before = belt_forest_ha * np.cumprod(
        np.concatenate([np.ones((loss.shape[0], 1)), belt_kept[:, :-1]], 1), axis=1
    )
    return belt_before * (1.0 - belt_kept)


def monitored_period_draws(
    inputs: KernelInputs,
    sim: SimulationResult,
    start_year: int,
    periods: list[tuple[int, int]],
    project_loss_ha: np.ndarray,
    belt_loss_ha: np.ndarray,
    belt_forest_ha: float,
    belt_risk: float,
) -> PeriodDraws:
    """Per-period baseline, project and leakage emissions of joint draws.

    Parameters
    ----------
    inputs, sim : the validated baseline's kernel inputs and its simulation (with picks)
    start_year : int
        Calendar year of the simulation's first year.
    periods : list of (first_year, last_year)
    project_loss_ha : (n_draws, n_periods, S)
        Draws of the monitored project loss per period and stratum.
    belt_loss_ha : (n_draws, n_periods)
        Draws of the monitored belt loss per period.
    belt_forest_ha, belt_risk : float
    """
    picks = sim.picks
    j = picks[:, PICKED.index("carbon_density")]
    k = picks[:, PICKED.index("post_carbon")]
    carbon = inputs.carbon_density[j]  # (n, S)
    post = inputs.post_carbon[k][:, None]
    dc = carbon - post
    if inputs.belt_carbon is not None:
        belt_dc = inputs.belt_carbon[picks[:, PICKED.index("leakage_fraction")]] - post[:, 0]
    else:
        belt_dc = carbon @ (inputs.area / inputs.area.sum()) - post[:, 0]
    belt_base = belt_baseline_loss(sim.baseline_loss_ha, inputs.area, belt_forest_ha, belt_risk)
    cols = [slice(a - start_year, b - start_year + 1) for a, b in periods]
    baseline = np.stack([sim.baseline[:, c].sum(axis=1) for c in cols], axis=1)
    belt_b = np.stack([belt_base[:, c].sum(axis=1) for c in cols], axis=1)
    project = np.einsum("nps,ns->np", project_loss_ha, dc)
    leakage = np.maximum(0.0, (belt_loss_ha - belt_b) * belt_dc[:, None])
    return PeriodDraws(baseline, project, leakage, belt_b)
