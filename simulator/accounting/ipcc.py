"""IPCC 2006 Approach 1 (error propagation) beside Approach 2 (the Monte Carlo).

Reporting both side by side shows a reviewer why the Monte Carlo number differs
from the propagation of independent relative uncertainties (IPCC 2006 Guidelines
Vol. 1 Ch. 3, Eq. 3.1 and 3.2: :func:`simulator.accounting.standards.ipcc_propagate_product`
and :func:`~simulator.accounting.standards.ipcc_propagate_sum`).
"""

from __future__ import annotations

import numpy as np

from simulator.accounting.standards import (
    ipcc_propagate_product,
    ipcc_propagate_sum,
    relative_half_width,
)
from simulator.engine.kernels import KernelInputs, SimulationResult
from simulator.engine.streaming import Distribution, Summary, as_summary

__all__ = ["ipcc_comparison"]


def ipcc_comparison(
    sim: Summary | SimulationResult, inputs: KernelInputs, confidence: float = 0.95
) -> dict:
    """IPCC Approach 1 (error propagation) beside Approach 2 (Monte Carlo) for total NER.

    Approach 1 treats total NER as a product of independent factors,
    ``NER ~= AD x EF x e x (1 - lambda)``: baseline area lost (AD, ha, from the
    simulation), the loss-weighted carbon lost per ha (EF = sum_s share_s x
    (C_s - C_post), its uncertainty by Eq. 3.2 over strata), effectiveness ``e``
    and the share not displaced ``1 - lambda``. Each factor's relative uncertainty
    is the half-width of its 95% interval over its mean (IPCC 2006 Vol. 1 Ch. 3),
    combined by Eq. 3.1. Approach 2 is the same statistic of the simulated total
    NER (2.5th-97.5th percentiles).

    Returns
    -------
    dict
        ``components``: list of ``(name, mean, rel_uncertainty)``; ``approach1`` and
        ``approach2`` (fractions); ``confidence``.
    """

    sim = as_summary(sim)

    def rel(x):
        u = relative_half_width(x, confidence)["uncertainty"]
        return float(u[-1] if isinstance(x, Distribution) else u)  # simulated: period total

    area_lost = sim["baseline_loss"]
    share = inputs.area * inputs.risk / np.sum(inputs.area * inputs.risk)
    n = min(inputs.carbon_density.shape[0], inputs.post_carbon.shape[0])
    dc = inputs.carbon_density[:n] - inputs.post_carbon[:n, None]  # (n, S)
    strata_means = share * dc.mean(axis=0)
    strata_u = [rel(dc[:, s]) for s in range(dc.shape[1])]
    u_ef = float(ipcc_propagate_sum(strata_means, strata_u))
    ef = dc @ share
    components = [
        ("activity data: baseline area lost (ha)", float(area_lost.mean[-1]), rel(area_lost)),
        ("emission factor: carbon lost per ha (tCO2e/ha)", float(ef.mean()), u_ef),
        ("project effectiveness e", float(inputs.effectiveness.mean()), rel(inputs.effectiveness)),
        (
            "share not displaced 1 - λ",
            float(1 - inputs.leakage_fraction.mean()),
            rel(1 - inputs.leakage_fraction),
        ),
    ]
    total = sim["ner"]
    return {
        "confidence": confidence,
        "components": components,
        "emission_factor_monte_carlo": rel(ef),
        "approach1": float(ipcc_propagate_product([c[2] for c in components])),
        "approach2": rel(total),
    }
