"""Uncertainty and buffer rules of carbon standards, one pure function each.

Each rule cites the clause it implements. :data:`STANDARDS` names the
methodology versions a run may choose and the confidence level each uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Standard",
    "STANDARDS",
    "vcs_uncertainty_factor",
    "non_permanence_buffer",
]


@dataclass(frozen=True)
class Standard:
    """A methodology version's uncertainty settings.

    Attributes
    ----------
    key : str
        Identifier used in ``run.toml`` (``[accounting].standard``).
    title : str
        Methodology name and version.
    confidence : float
        Two-sided confidence level of the interval whose half-width is the uncertainty.
    allowable : float
        Uncertainty (fraction of the mean) below which no deduction applies.
    citation : str
        Clause of the methodology text the rule comes from.
    """

    key: str
    title: str
    confidence: float
    allowable: float
    citation: str


STANDARDS: dict[str, Standard] = {
    "VM0007-1.8": Standard(
        key="VM0007-1.8",
        title="VCS VM0007 REDD+ Methodology Framework v1.8 (2024)",
        confidence=0.90,
        allowable=0.15,
        citation=(
            "VM0007 v1.8, §8.4-8.6 (uncertainty of net emission reductions at the 90% "
            "confidence level; adjusted NER = NER x (100% - U + 15%) where U > 15%)"
        ),
    ),
}


def vcs_uncertainty_factor(uncertainty, allowable: float = 0.15):
    """Factor applied to net emission reductions for their uncertainty (VCS).

    ``factor = min(1, 1 - U + allowable)``: no deduction while the uncertainty ``U``
    (half-width of the confidence interval divided by the mean, a fraction) is
    within the allowable ``allowable``; above it, the excess is deducted.

    Parameters
    ----------
    uncertainty : float or array_like
        ``U`` as a fraction (0.25 for 25%). Must be non-negative.
    allowable : float
        Allowable uncertainty as a fraction (0.15 in VM0007 v1.8).

    Returns
    -------
    float or ndarray
        The factor, in ``(-inf, 1]``; it is returned unclipped below zero so that a
        caller can see that the deduction exceeds the estimate.

    References
    ----------
    VCS VM0007 REDD+ Methodology Framework v1.8 (2024), §8.4-8.6:
    "Adjusted_NER = NER x (100% - Uncertainty + 15%)" where uncertainty exceeds 15%
    of NER at the 90% confidence level.

    Examples
    --------
    >>> round(float(vcs_uncertainty_factor(0.25)), 12)
    0.9
    >>> float(vcs_uncertainty_factor(0.12))
    1.0
    """
    u = np.asarray(uncertainty, dtype=float)
    if np.any(u < 0) or np.any(~np.isfinite(u)):
        raise ValueError(f"uncertainty must be finite and non-negative, got {uncertainty!r}")
    return np.minimum(1.0, 1.0 - u + allowable)


def non_permanence_buffer(stock_change, risk_pct: float):
    """Buffer credits withheld for non-permanence risk.

    Parameters
    ----------
    stock_change : float or array_like
        Net change in carbon stocks attributable to the project (tCO2e), i.e.
        baseline minus project emissions, *before* the uncertainty adjustment and
        *excluding* leakage.
    risk_pct : float
        Overall non-permanence risk rating (%) from the VCS AFOLU Non-Permanence
        Risk Tool (at least 10).

    Returns
    -------
    float or ndarray
        Buffer credits (tCO2e); zero where the stock change is not positive.

    References
    ----------
    VCS VM0007 v1.8, §8.6 (buffer on the net change in carbon stocks, leakage
    excluded); VCS AFOLU Non-Permanence Risk Tool v4.0 (minimum rating 10).
    """
    change = np.asarray(stock_change, dtype=float)
    return np.maximum(change, 0.0) * (risk_pct / 100.0)
