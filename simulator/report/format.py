"""Number formatting for the appendix: one home for each way a number is printed."""

from __future__ import annotations

import numpy as np

__all__ = ["tco2e", "pct", "to_sd", "central_range", "rel_pct", "pm95"]


def tco2e(x: float) -> str:
    """tCO2e with thousands separators."""
    return f"{x:,.0f}"


def pct(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}f}%"


def to_sd(x: float, sd: float) -> str:
    """``x`` to the decimal place of the second significant digit of ``sd``."""
    if not (np.isfinite(sd) and sd > 0):
        return f"{x:.4g}"
    decimals = max(0, 1 - int(np.floor(np.log10(sd))))
    return f"{x:,.{decimals}f}"


def central_range(x: np.ndarray, scale: float = 1.0, prob: float = 0.90) -> str:
    """Central interval of draws as ``"lo – hi"`` (one decimal, after dividing by scale)."""
    lo, hi = np.quantile(x, [(1 - prob) / 2, (1 + prob) / 2]) / scale
    return f"{lo:.1f} – {hi:.1f}"


def rel_pct(x: float) -> str:
    """A relative Monte Carlo error as a percentage with three decimals."""
    return f"{100 * x:.3f}%" if np.isfinite(x) else "undefined"


def pm95(estimate: float, se: float) -> str:
    """``estimate ± 95% half-width`` to two decimals."""
    return f"{estimate:.2f} ± {1.96 * se:.2f}"
