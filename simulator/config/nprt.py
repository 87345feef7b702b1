"""The overall non-permanence risk rating of the VCS AFOLU Non-Permanence Risk Tool v4.2.

The rating sets the share of credits withheld for the AFOLU pooled buffer. It is
arithmetic on three category scores, needed both by the configuration (a
``[accounting.risk]`` table or a typed ``buffer_pct`` is checked against it) and by
the accounting, so it lives here, below both; :mod:`simulator.accounting.standards`
re-exports it.
"""

from __future__ import annotations

import math

__all__ = [
    "NPRT_MINIMUM",
    "NPRT_MAXIMUM",
    "NPRT_CATEGORY_THRESHOLDS",
    "RiskAnalysisFailed",
    "nprt_risk_rating",
    "check_buffer_pct",
]

#: §2.5.2: "The minimum risk rating shall be 12, regardless of the risk rating calculated
#: using Table 15."
NPRT_MINIMUM = 12
#: §2.5.3: a project whose overall rating exceeds 60 fails the risk analysis.
NPRT_MAXIMUM = 60
#: §2.5.3 1)-3): the project fails where a category's total exceeds its threshold.
NPRT_CATEGORY_THRESHOLDS = {"internal": 35.0, "external": 20.0, "natural": 35.0}


class RiskAnalysisFailed(ValueError):
    """The project fails the AFOLU non-permanence risk analysis (not eligible for crediting)."""


def nprt_risk_rating(internal: float, external: float, natural: float) -> int:
    """Overall non-permanence risk rating (%) from the three category scores.

    Parameters
    ----------
    internal, external, natural : float
        Category totals of Table 5 (internal), Table 9 (external) and Table 11
        (natural risk). Each is at least zero (§2.1 5): "The total rating for any
        category shall not be less than zero").

    Returns
    -------
    int
        The rating in percent: ``ceil(internal + external + natural)`` (Table 15 and
        §2.5.1, "rounded up to the nearest whole percent"), at least 12 (§2.5.2).

    Raises
    ------
    RiskAnalysisFailed
        Where a category exceeds its threshold (internal 35, external 20, natural
        35) or the overall rating exceeds 60 (§2.5.3): the project "fails the risk
        analysis" and is not eligible for crediting.
    ValueError
        For a negative or non-finite score.

    References
    ----------
    VCS AFOLU Non-Permanence Risk Tool v4.2 (3 May 2024), §2.1 5), §2.5.1-2.5.3
    and Table 15, pp. 25-26.

    Examples
    --------
    >>> nprt_risk_rating(2, 4, 1.5)
    12
    >>> nprt_risk_rating(10, 6, 2.1)
    19
    """
    scores = {"internal": internal, "external": external, "natural": natural}
    for name, value in scores.items():
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ValueError(
                f"{name} risk = {value:g}: a category total is a finite score of at least 0 "
                "(AFOLU Non-Permanence Risk Tool v4.2 §2.1)"
            )
        limit = NPRT_CATEGORY_THRESHOLDS[name]
        if value > limit:
            raise RiskAnalysisFailed(
                f"{name} risk = {value:g} exceeds its threshold of {limit:g}: the project fails "
                "the non-permanence risk analysis (AFOLU Non-Permanence Risk Tool v4.2 §2.5.3)"
            )
    # Round the sum of exact decimals: 10 + 6 + 2.1 is 18.1, not 18.100000000000001.
    total = round(sum(float(v) for v in scores.values()), 9)
    rating = math.ceil(total)
    if rating > NPRT_MAXIMUM:
        raise RiskAnalysisFailed(
            f"overall risk rating {rating} exceeds {NPRT_MAXIMUM}: the project fails the "
            "non-permanence risk analysis (AFOLU Non-Permanence Risk Tool v4.2 §2.5.3)"
        )
    return max(NPRT_MINIMUM, rating)


def check_buffer_pct(buffer_pct: float) -> float:
    """A stated risk rating (%) checked against the tool's bounds: 12 to 60 (§2.5.2-2.5.3).

    Raises
    ------
    ValueError
        Below the minimum of 12 or above 60 (the analysis failed), or not finite.
    """
    value = float(buffer_pct)
    if not math.isfinite(value) or not NPRT_MINIMUM <= value <= NPRT_MAXIMUM:
        raise ValueError(
            f"buffer_pct = {value:g}: the AFOLU Non-Permanence Risk Tool v4.2 gives ratings "
            f"from {NPRT_MINIMUM} (§2.5.2 minimum) to {NPRT_MAXIMUM} (above it the project "
            "fails, §2.5.3)"
        )
    return value
