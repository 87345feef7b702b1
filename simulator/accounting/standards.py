"""Uncertainty deduction and buffer rules of carbon standards, one pure function each.

Each rule is a function of the uncertainty statistic its standard defines and
cites the clause it implements. :data:`STANDARDS` lists the implemented
methodology versions with their confidence level, the statistic their
uncertainty is relative to (mean or median), the quantity the deduction applies
to, and the rule; :data:`NOT_AVAILABLE` lists the rules left out and why.
:func:`deduction` applies a standard to simulated draws.

IPCC 2006 Approach 1 error propagation (:func:`ipcc_propagate_product`,
:func:`ipcc_propagate_sum`) is here too, so that a run can show it beside the
Monte Carlo (Approach 2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from simulator.config.nprt import RiskAnalysisFailed, nprt_risk_rating
from simulator.config.schema import STANDARD_KEYS
from simulator.engine.streaming import as_distribution

__all__ = [
    "Standard",
    "Deduction",
    "STANDARDS",
    "NOT_AVAILABLE",
    "vcs_uncertainty_factor",
    "vcs_deduction_fraction",
    "MR44_T_TWO_SIDED_90",
    "MR44_T_ONE_SIDED_66",
    "vcs_mr44_discount_factor",
    "vcs_mr44_significance",
    "MARKET_LEAKAGE_FACTORS",
    "market_leakage_factor",
    "nprt_risk_rating",
    "RiskAnalysisFailed",
    "art_trees_deduction_fraction",
    "fcpf_conservativeness_factor",
    "non_permanence_buffer",
    "relative_half_width",
    "deduction",
    "ipcc_propagate_product",
    "ipcc_propagate_sum",
]


def _fraction(u) -> np.ndarray:
    u = np.asarray(u, dtype=float)
    if np.any(np.isnan(u)) or np.any(u < 0):
        raise ValueError(f"uncertainty must be a non-negative fraction, got {u!r}")
    return u


# --------------------------------------------------------------------------- rules


def vcs_uncertainty_factor(uncertainty, allowable: float = 0.15):
    """Factor applied to net emission reductions for their uncertainty (VCS).

    ``factor = min(1, 1 - U + allowable)``: no deduction while the uncertainty ``U``
    (half-width of the confidence interval divided by the mean, a fraction) is
    within ``allowable``; above it, the excess is deducted.

    Parameters
    ----------
    uncertainty : float or array_like
        ``U`` as a fraction (0.25 for 25%). Must be non-negative.
    allowable : float
        Allowable uncertainty as a fraction (0.15 in VM0007).

    Returns
    -------
    float or ndarray
        The factor, at most 1. It is unbounded below: an uncertainty above
        ``1 + allowable`` gives a negative factor, which :func:`deduction` caps so
        that a deduction never exceeds the estimate.

    References
    ----------
    VCS VM0007 REDD+ Methodology Framework v1.8, §8.4.6, Eq. 17-18 (pp. 37-38):
    "The allowable uncertainty under this methodology is +/- 15% of NERREDD+ at the
    90% confidence level. Where this precision level is met, no deduction is
    necessary"; above it ``Adjusted_NER = NER x (100 - NER_ERROR + 15)``, with
    ``NER_ERROR`` the *cumulative* uncertainty up to year t*. VMD0017 v2.2 (X-UNC),
    §5.4 Eq. 22: the same adjustment at the 95% confidence level.

    Examples
    --------
    >>> round(float(vcs_uncertainty_factor(0.25)), 12)
    0.9
    >>> float(vcs_uncertainty_factor(0.12))
    1.0
    """
    return np.minimum(1.0, 1.0 - _fraction(uncertainty) + allowable)


def vcs_deduction_fraction(uncertainty, allowable: float = 0.15):
    """Fraction of NER deducted under VCS: ``max(0, U - allowable)``.

    The complement of :func:`vcs_uncertainty_factor` (same clause).

    Examples
    --------
    >>> round(float(vcs_deduction_fraction(0.25)), 12)
    0.1
    """
    return 1.0 - vcs_uncertainty_factor(uncertainty, allowable)


#: VCS Methodology Requirements v4.4 §2.4: t-values of the discount factor, as printed.
MR44_T_TWO_SIDED_90 = 1.6449  # "t-value for the two-sided 90% confidence interval"
MR44_T_ONE_SIDED_66 = 0.4307  # "t-value for a one-sided 66.67% confidence interval"


def vcs_mr44_discount_factor(uncertainty):
    """Conservativeness discount factor of the VCS Methodology Requirements v4.4 (§2.4).

    ``Discount factor = Uncertainty / t(alpha=10%) x t(alpha=66.6%)``, i.e.
    ``U / 1.6449 x 0.4307``, where ``U`` is the "half-width of the 90% confidence
    interval as a percentage of the mean estimate"; the estimate is then "corrected
    downwards": ``estimate x (1 - discount factor)``. "Where the half-width of the
    two-sided 90 percent confidence interval exceeds 100 percent of the reduction
    and removal estimate, the project is not eligible for crediting": the factor is
    then 1 (nothing is credited).

    Parameters
    ----------
    uncertainty : float or array_like
        ``U`` as a fraction (0.329 for 32.9%), non-negative.

    Returns
    -------
    float or ndarray
        The deducted fraction of the estimate.

    References
    ----------
    VCS Methodology Requirements v4.4 (4 Oct 2023), §2.4 Uncertainty, pp. 10-13;
    the deduction follows Climatic Change 166, 26 (2021).

    Examples
    --------
    The worked box of §2.4: ER 100,000 tCO2e, 90% half-width 32,898 tCO2e.

    >>> f = float(vcs_mr44_discount_factor(32_898 / 100_000))
    >>> round(f, 3), round(100_000 * (1 - round(f, 3)))
    (0.086, 91400)
    >>> float(vcs_mr44_discount_factor(1.2))
    1.0
    """
    u = _fraction(uncertainty)
    factor = u / MR44_T_TWO_SIDED_90 * MR44_T_ONE_SIDED_66
    return np.where(u > 1.0, 1.0, factor)


def vcs_mr44_significance(uncertainty) -> str:
    """The §2.4 statement on whether random uncertainty is significant (VCS MR v4.4).

    "The risk shall be deemed significant where uncertainties are expected to exceed
    10 percent in at least 10 percent of the cases"; where the half-width is unlikely
    to exceed 10%, random uncertainty may be excluded; above 100% the project is not
    eligible. This reports where the estimated ``U`` stands against those levels.

    Parameters
    ----------
    uncertainty : float
        ``U`` (90% half-width / mean) as a fraction.

    Returns
    -------
    str
        One sentence for the report.
    """
    u = float(_fraction(uncertainty))
    if u > 1.0:
        return (
            f"U = {u:.1%} exceeds 100% of the estimate: not eligible for crediting "
            "(VCS Methodology Requirements v4.4 §2.4)"
        )
    if u > 0.10:
        return (
            f"U = {u:.1%} exceeds 10% of the estimate: random uncertainty is significant and "
            "the conservativeness deduction applies (VCS Methodology Requirements v4.4 §2.4)"
        )
    return (
        f"U = {u:.1%} is within 10% of the estimate: a methodology may exclude random "
        "uncertainty where this holds in at least 90% of cases (VCS Methodology "
        "Requirements v4.4 §2.4); the discount is applied all the same"
    )


#: Leakage discount factors of VCS Methodology Requirements v4.4 Table 3 (IFM, pp. 57-58),
#: which §3.7 applies to REDD market leakage where the baseline includes (illegal) logging
#: that supplies regional, national or global timber markets.
MARKET_LEAKAGE_FACTORS: dict[str, float] = {
    "none": 0.0,  # no or minimal effect on total timber harvest volumes
    "shift-in-time": 0.10,  # harvests shift across time periods, total minimally changed
    "permanent-higher-ratio": 0.20,  # merchantable/total biomass higher where harvest moves
    "permanent-similar-ratio": 0.40,  # ... similar
    "permanent-lower-ratio": 0.70,  # ... lower
    "out-of-country": 0.0,  # the leakage is out of country
}


def market_leakage_factor(effect: str) -> float:
    """Market-leakage discount factor (fraction of the net change in carbon stocks).

    Parameters
    ----------
    effect : str
        One of :data:`MARKET_LEAKAGE_FACTORS`: the project's effect on timber
        harvest and, for a permanent reduction, where the harvest is displaced to.

    Returns
    -------
    float
        0, 0.10, 0.20, 0.40, 0.70 or 0.

    References
    ----------
    VCS Methodology Requirements v4.4, §3.7 (REDD: "domestic market leakage shall be
    quantified using the market leakage discount factors for IFM projects set out in
    Sections 3.7.14 and 3.7.15") and Table 3, pp. 57-59.

    Examples
    --------
    >>> market_leakage_factor("permanent-similar-ratio")
    0.4
    """
    try:
        return MARKET_LEAKAGE_FACTORS[effect]
    except KeyError:
        raise ValueError(
            f"market leakage effect {effect!r} is not one of {', '.join(MARKET_LEAKAGE_FACTORS)} "
            "(VCS Methodology Requirements v4.4 Table 3)"
        ) from None


#: ART TREES v2.0 Eq. 11 constants: t-quantiles at 10,000 degrees of freedom.
ART_T70 = 0.524417  # scaling constant (t quantile 0.70)
ART_T95 = 1.645006  # t quantile 0.95 (two-sided 90% interval)


def art_trees_deduction_fraction(half_width):
    """Uncertainty deduction fraction ``UA_t`` of ART TREES v2.0 (Eq. 11).

    ``UA_t = 0.524417 x HW_90% / 1.645006``, where ``HW_90%`` is the half-width of
    the 90% confidence interval of the Monte Carlo (n >= 10,000) as a fraction of
    the mean. There is no allowable threshold: every uncertainty is deducted.

    Parameters
    ----------
    half_width : float or array_like
        ``HW_90%`` as a fraction of the mean (0.10 for 10%).

    Returns
    -------
    float or ndarray
        ``UA_t`` (fraction of gross emission reductions and removals deducted,
        Eq. 10: ``UNC_t = (ER_t + REMV_t) x UA_t``).

    References
    ----------
    ART (2021). The REDD+ Environmental Excellence Standard (TREES) v2.0, §8,
    Equations 10-11. The equations are also reproduced in the LEAF/Guyana
    Monte Carlo guidance (github.com/seamusrobertmurphy/monte-carlo-trees).

    Examples
    --------
    >>> [round(float(art_trees_deduction_fraction(h)), 6) for h in (0.10, 0.20, 0.50)]
    [0.031879, 0.063759, 0.159397]
    """
    return ART_T70 * _fraction(half_width) / ART_T95


#: FCPF Carbon Fund conservativeness factors: (upper bound of the relative margin, factor).
FCPF_BANDS = ((0.15, 0.0), (0.30, 0.04), (0.60, 0.08), (1.00, 0.12), (np.inf, 0.15))


def fcpf_conservativeness_factor(relative_margin):
    """Uncertainty set-aside of the FCPF Carbon Fund (fraction of emission reductions).

    The relative margin is the half-width of the 90% confidence interval divided
    by the median of the Monte Carlo distribution. Bands (upper bounds included):
    <= 15% -> 0%; <= 30% -> 4%; <= 60% -> 8%; <= 100% -> 12%; above -> 15%.

    References
    ----------
    FCPF Carbon Fund Methodological Framework (rev. 2016/2020), Criterion 22,
    Indicator 22.1 (conservativeness factor table); ER Program Buffer Guidelines
    (2015), §5. The band table matches the FCPF ER monitoring code of Fiji
    (github.com/micko920/FijiNFMSIntegration, ``calcUCModel``).

    Examples
    --------
    Median 249,020 tCO2e, 90% CI [-905,211; 1,350,196]: margin 4.53 -> 15%.

    >>> hw = (1_350_196 + 905_211) / 2
    >>> round(hw / 249_020, 2), float(fcpf_conservativeness_factor(hw / 249_020))
    (4.53, 0.15)
    """
    margin = _fraction(relative_margin)
    edges = np.array([b for b, _ in FCPF_BANDS[:-1]])
    factors = np.array([f for _, f in FCPF_BANDS])
    # searchsorted(side="left") puts a value equal to an edge in the lower band
    return factors[np.searchsorted(edges, margin, side="left")]


def non_permanence_buffer(base, risk_pct: float):
    """Buffer credits withheld for non-permanence (reversal) risk.

    Parameters
    ----------
    base : float or array_like
        The quantity the standard applies its risk rating to (tCO2e). For VCS,
        the net change in carbon stocks attributable to the project: baseline
        minus project emissions, *before* the uncertainty adjustment and
        *excluding* leakage.
    risk_pct : float
        Risk rating (%), e.g. from the VCS AFOLU Non-Permanence Risk Tool (at least 10).

    Returns
    -------
    float or ndarray
        Buffer credits (tCO2e); zero where the base is not positive.

    References
    ----------
    VCS VM0007 v1.8, §8.4.4 (buffer on the net change in carbon stocks, leakage
    not entering); VCS AFOLU Non-Permanence Risk Tool v4.2, §2.5.4 (the rating as a
    percentage of the net change in carbon stocks; minimum rating 12, §2.5.2, see
    :func:`nprt_risk_rating`). ART TREES v2.0 Eq. 8 (calculation template, sheet
    "Deductions BUF"): ``BUF_t = GHG ER_t x BUF%`` on gross reductions.
    """
    return np.maximum(np.asarray(base, dtype=float), 0.0) * (risk_pct / 100.0)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Standard:
    """A methodology version's uncertainty rule.

    Attributes
    ----------
    key : str
        Identifier used in ``run.toml`` (``[accounting].standard``).
    title : str
        Methodology name and version.
    confidence : float
        Two-sided level of the interval whose half-width is the uncertainty.
    relative_to : {"mean", "median"}
        The statistic the half-width is divided by.
    applies_to : {"ner", "gross"}
        Quantity the deduction fraction multiplies: net emission reductions, or
        gross reductions before leakage (baseline - project).
    buffer_on : {"stock_change", "after_deduction"}
        Quantity the buffer rating multiplies: the unadjusted stock change
        (baseline - project; VCS), or the emission reductions left after the
        uncertainty deduction (FCPF ER Monitoring Report order).
    rule : callable
        Uncertainty (fraction) -> deducted fraction of ``applies_to``.
    citation : str
        Clause of the methodology text the rule comes from.
    min_draws : int
        Fewest Monte Carlo draws the standard accepts (0: no minimum stated).
    uncertainty_of : {"ner", "gross"}
        Quantity whose interval gives the uncertainty: NER, or gross reductions
        before leakage (ART TREES Eq. 11 takes the 90% CI of GHG ER_t).
    illustrative : str
        Empty where the rule applies as written to a single project; otherwise why
        the row is illustrative only (shown with it).
    cumulative : bool
        The rule adjusts the *cumulative* NER up to each verification and credits
        the difference (VM0007 v1.8 Eq. 16-18, VMD0017 v2.2 Eq. 22); otherwise it
        applies to each monitoring period's own reductions.
    """

    key: str
    title: str
    confidence: float
    relative_to: Literal["mean", "median"]
    applies_to: Literal["ner", "gross"]
    buffer_on: Literal["stock_change", "after_deduction"]
    rule: Callable
    citation: str
    min_draws: int = 0
    uncertainty_of: Literal["ner", "gross"] = "ner"
    illustrative: str = ""
    cumulative: bool = False


STANDARDS: dict[str, Standard] = {
    s.key: s
    for s in (
        Standard(
            key="VM0007-1.8",
            title="VCS VM0007 REDD+ Methodology Framework v1.8 (2024)",
            confidence=0.90,
            relative_to="mean",
            applies_to="ner",
            buffer_on="stock_change",
            rule=vcs_deduction_fraction,
            cumulative=True,
            citation=(
                "VM0007 v1.8 §8.4.6 Eq. 16-18: allowable uncertainty +/-15% of NER at the "
                "90% confidence level; above it Adjusted_NER = NER x (100 - NER_ERROR + 15), "
                "on cumulative NER; VCU = Adjusted_NER(t2) - Adjusted_NER(t1) - buffer; "
                "buffer on the net change in carbon stocks (§8.4.4)"
            ),
        ),
        Standard(
            key="VM0007-1.6",
            title="VCS VM0007 v1.6 with module VMD0017 (95% confidence)",
            confidence=0.95,
            relative_to="mean",
            applies_to="ner",
            buffer_on="stock_change",
            rule=vcs_deduction_fraction,
            cumulative=True,
            citation=(
                "VMD0017 v2.2 (X-UNC) §5.4 Eq. 22: allowable uncertainty +/-15% of NER at "
                "the 95% confidence level; above it Adjusted_NER = NER x (100% - "
                "NER_ERROR + 15%)"
            ),
        ),
        Standard(
            key="VCS-MR-4.4",
            title="VCS Methodology Requirements v4.4 (2023), §2.4 conservativeness deduction",
            confidence=0.90,
            relative_to="mean",
            applies_to="ner",
            buffer_on="stock_change",
            rule=vcs_mr44_discount_factor,
            citation=(
                "VCS Methodology Requirements v4.4 §2.4: discount factor = U / 1.6449 x "
                "0.4307 on the half-width of the 90% CI / mean; estimate x (1 - factor); "
                "not eligible where the half-width exceeds 100%"
            ),
        ),
        Standard(
            key="ART-TREES-2.0",
            title="ART TREES v2.0 (2021)",
            confidence=0.90,
            relative_to="mean",
            applies_to="gross",
            buffer_on="stock_change",
            rule=art_trees_deduction_fraction,
            citation=(
                "TREES v2.0 Eq. 10-11 (ART calculation template, Feb 2025): UA = 0.524417 x "
                "HW90% / 1.645006 of gross emission reductions; UNC = GHG ER x UA; BUF = "
                "GHG ER x BUF% (Eq. 8); TREES ER = GHG ER - BUF - LEAK - UNC (Eq. 22)"
            ),
            min_draws=10_000,
            uncertainty_of="gross",
            illustrative=(
                "ART TREES credits a jurisdictional programme: its buffer % comes from the "
                "TREES risk tool and its leakage % from TREES Table 3, not the VCS inputs "
                "used here"
            ),
        ),
        Standard(
            key="FCPF-CF",
            title="FCPF Carbon Fund Methodological Framework",
            confidence=0.90,
            relative_to="median",
            applies_to="ner",
            buffer_on="after_deduction",
            rule=fcpf_conservativeness_factor,
            citation=(
                "Methodological Framework Criterion 22 / Indicator 22.1: conservativeness "
                "factor 0/4/8/12/15% for a 90% half-width / median of <=15/30/60/100/>100%"
            ),
            illustrative=(
                "the FCPF Carbon Fund credits national or subnational ER programmes; the band "
                "table is from secondary sources (the Criterion 22 text was not read)"
            ),
        ),
    )
}
# The configuration schema validates [accounting].standard against STANDARD_KEYS.
assert tuple(STANDARDS) == STANDARD_KEYS, "simulator.config.schema.STANDARD_KEYS is out of date"

#: Rules left out, with the reason (shown in the appendix).
NOT_AVAILABLE: dict[str, str] = {
    "VM0048-1.0 / VMD0055-1.1": (
        "not implemented: the text of their uncertainty sections was not available to this "
        "release, and the run applies no rule that has not been checked against its text"
    ),
    "CDM conservativeness factors": (
        "not implemented: the CDM table of conservativeness factors was not available to "
        "this release, so no factor from it is applied"
    ),
}


# --------------------------------------------------------------------------- applying a rule


def relative_half_width(draws, confidence: float, relative_to: str = "mean") -> dict:
    """Central interval of draws and its half-width relative to the mean or median.

    Parameters
    ----------
    draws : ndarray, shape (n, ...), or Distribution
        Monte Carlo draws (statistics over the first axis), or their streamed
        summary (:class:`simulator.engine.streaming.Distribution`).
    confidence : float
        Two-sided level (0.90: 5th and 95th percentiles).
    relative_to : {"mean", "median"}

    Returns
    -------
    dict
        ``low, high, half_width, centre`` and ``uncertainty`` = half-width / |centre|
        (``inf`` where the centre is 0).
    """
    dist = as_distribution(draws)
    alpha = (1.0 - confidence) / 2.0
    low, high = dist.quantile([alpha, 1.0 - alpha])
    centre = dist.mean if relative_to == "mean" else dist.quantile(0.5)
    half = (high - low) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(centre != 0, half / np.abs(centre), np.inf)
    return {"low": low, "high": high, "half_width": half, "centre": centre, "uncertainty": u}


@dataclass(frozen=True)
class Deduction:
    """A standard applied to simulated draws (arrays over the trailing axes of the draws).

    Attributes
    ----------
    standard : Standard
    uncertainty : ndarray
        Half-width / mean (or median) at the standard's confidence level, a fraction.
    fraction : ndarray
        Deducted fraction of the quantity the standard names.
    estimate : ndarray
        Mean NER (tCO2e).
    deduction : ndarray
        Uncertainty deduction (tCO2e): ``fraction x mean(applies_to)``, zero where
        the estimate is not positive, and never more than the estimate.
    adjusted : ndarray
        ``estimate - deduction``.
    """

    standard: Standard
    uncertainty: np.ndarray
    fraction: np.ndarray
    estimate: np.ndarray
    deduction: np.ndarray
    adjusted: np.ndarray

    @property
    def clause(self) -> str:
        return self.standard.citation


def deduction(standard: Standard, ner, gross=None) -> Deduction:
    """Apply a standard's uncertainty rule to Monte Carlo draws of NER.

    Parameters
    ----------
    standard : Standard
    ner : ndarray, shape (n_draws, ...), or Distribution
        Net emission reductions per draw (tCO2e), or their streamed summary.
    gross : ndarray or Distribution, like ``ner``, optional
        Gross reductions before leakage (baseline - project); required when the
        standard's deduction applies to them (ART TREES).

    Returns
    -------
    Deduction

    Notes
    -----
    A non-positive estimate carries no deduction (there is nothing to credit), and
    a deduction is capped at the estimate: a rule whose formula would deduct more
    than the estimate (e.g. VCS with U > 115%) leaves zero, not a debit.
    """
    ner = as_distribution(ner)
    needs_gross = "gross" in (standard.applies_to, standard.uncertainty_of)
    if needs_gross and gross is None:
        raise ValueError(f"{standard.key} deducts from gross reductions: pass `gross`")
    of = as_distribution(gross) if standard.uncertainty_of == "gross" else ner
    stats = relative_half_width(of, standard.confidence, standard.relative_to)
    u = stats["uncertainty"]
    estimate = ner.mean
    base = as_distribution(gross).mean if standard.applies_to == "gross" else estimate
    positive = estimate > 0
    fraction = np.where(positive, standard.rule(np.where(positive, u, 0.0)), 0.0)
    amount = np.where(positive, np.minimum(fraction * base, estimate), 0.0)
    return Deduction(standard, u, fraction, estimate, amount, estimate - amount)


# --------------------------------------------------------------------------- IPCC Approach 1


def ipcc_propagate_product(rel_uncertainties):
    """Relative uncertainty of a product of independent quantities (IPCC Approach 1).

    ``U_total = sqrt(sum U_i^2)`` (IPCC 2006 Guidelines Vol. 1 Ch. 3, Eq. 3.1).

    Parameters
    ----------
    rel_uncertainties : array_like
        Relative uncertainties of the factors (fractions, e.g. 95% half-width / mean).

    Examples
    --------
    >>> round(float(ipcc_propagate_product([0.3, 0.4])), 12)
    0.5
    """
    u = _fraction(rel_uncertainties)
    return np.sqrt(np.sum(u**2, axis=-1))


def ipcc_propagate_sum(values, rel_uncertainties):
    """Relative uncertainty of a sum of independent quantities (IPCC Approach 1).

    ``U_total = sqrt(sum (U_i x_i)^2) / |sum x_i|`` (IPCC 2006 Guidelines Vol. 1
    Ch. 3, Eq. 3.2).

    Parameters
    ----------
    values : array_like
        The quantities ``x_i`` being added.
    rel_uncertainties : array_like
        Their relative uncertainties ``U_i`` (fractions).

    Examples
    --------
    >>> round(float(ipcc_propagate_sum([100.0, 100.0], [0.1, 0.1])), 6)
    0.070711
    """
    x = np.asarray(values, dtype=float)
    u = _fraction(rel_uncertainties)
    total = np.abs(np.sum(x, axis=-1))
    return np.sqrt(np.sum((u * x) ** 2, axis=-1)) / total
