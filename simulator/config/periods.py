"""Monitoring periods as years: parsed, labelled and checked (VCS Standard v4.7 §3.5.6-3.5.7).

Below the accounting so that ``[crediting].periods`` is validated where it is read;
:mod:`simulator.accounting.periods` re-exports these.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["parse_period", "period_label", "check_periods"]

_PERIOD = re.compile(r"^\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?$")


def parse_period(text) -> tuple[int, int]:
    """``"2016"`` -> ``(2016, 2016)``; ``"2016-2020"`` -> ``(2016, 2020)`` (years inclusive).

    Raises
    ------
    ValueError
        For anything else, or a range that ends before it starts.
    """
    m = _PERIOD.match(str(text))
    if not m:
        raise ValueError(f"period {text!r} is not a year (2016) or a range of years (2016-2020)")
    first = int(m.group(1))
    last = int(m.group(2) or first)
    if last < first:
        raise ValueError(f"period {text!r} ends before it starts")
    return first, last


def period_label(period: tuple[int, int]) -> str:
    """``(2016, 2016)`` -> ``"2016"``; ``(2016, 2020)`` -> ``"2016-2020"``."""
    first, last = period
    return str(first) if first == last else f"{first}-{last}"


def check_periods(periods: Sequence[tuple[int, int]]) -> None:
    """Monitoring periods in order, distinct, not overlapping and without gaps.

    References
    ----------
    VCS Standard v4.7, §3.5.6 ("a distinct time period that does not overlap with
    previous monitoring periods") and §3.5.7 (AFOLU projects "shall not have gaps
    between monitoring periods").

    Raises
    ------
    ValueError
        Naming the first offending pair.
    """
    if not periods:
        raise ValueError("no monitoring periods given")
    for (a0, a1), (b0, b1) in zip(periods, periods[1:], strict=False):
        pa, pb = period_label((a0, a1)), period_label((b0, b1))
        if b0 <= a1:
            raise ValueError(
                f"monitoring periods {pa} and {pb} overlap or are out of order "
                "(VCS Standard v4.7 §3.5.6)"
            )
        if b0 > a1 + 1:
            raise ValueError(
                f"monitoring periods {pa} and {pb} leave a gap ({a1 + 1}-{b0 - 1}) "
                "(VCS Standard v4.7 §3.5.7)"
            )
