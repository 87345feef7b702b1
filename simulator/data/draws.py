"""Monte Carlo draws simulated elsewhere, in long form, read and checked.

Jurisdictional programmes often run their Monte Carlo in a spreadsheet; this reads
its draws so that reddsim can account them (``reddsim account``). The table has one
row per period and draw:

``period``
    a calendar year (``2016``) or a range of years (``2016-2020``);
``draw``
    the draw's identifier (an integer); the same draws in every period, so that a
    draw is one joint outcome over the periods;
``ner``
    net emission reductions of the period in that draw (tCO2e);
``gross`` (optional)
    reductions before leakage (tCO2e), which ART TREES deducts from and VCS
    withholds the buffer on.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator.config.periods import check_periods, parse_period, period_label
from simulator.errors import DataError

__all__ = ["Draws", "read_draws", "DRAW_COLUMNS"]

#: Required columns, then the optional one.
DRAW_COLUMNS = ("period", "draw", "ner", "gross")


@dataclass(frozen=True)
class Draws:
    """Draws per period, rows in the order of the sorted draw identifiers.

    Attributes
    ----------
    path : Path
    periods : list of (first_year, last_year)
    ner : ndarray, shape (n_draws, n_periods)
    gross : ndarray or None
    """

    path: Path
    periods: list[tuple[int, int]]
    ner: np.ndarray
    gross: np.ndarray | None

    @property
    def n_draws(self) -> int:
        return int(self.ner.shape[0])


def _number(path, line, field, text) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path}: line {line}: {field} = {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{path}: line {line}: {field} = {text!r} is not finite")
    return value


def read_draws(path: str | Path) -> Draws:
    """Read and check a long-form draws table.

    Raises
    ------
    DataError
        One line naming the file, the line or column and the value: a missing or
        unknown column, a bad period, draw or number, a repeated (period, draw),
        periods that overlap or leave gaps, or periods holding different draws.
    """
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror})") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise DataError(f"{path}: is empty") from None
        except (csv.Error, UnicodeDecodeError) as e:
            raise DataError(f"{path}: not a readable CSV ({e})") from None
        for col in DRAW_COLUMNS[:3]:
            if col not in header:
                raise DataError(f"{path}: missing column {col!r} (needs period, draw, ner)")
        unknown = [h for h in header if h not in DRAW_COLUMNS]
        if unknown:
            raise DataError(
                f"{path}: unknown column {unknown[0]!r} (columns: period, draw, ner, gross)"
            )
        if len(set(header)) != len(header):
            raise DataError(f"{path}: a column is repeated in the header")
        idx = {h: i for i, h in enumerate(header)}
        has_gross = "gross" in idx
        values: dict[tuple[int, int], dict[int, tuple[float, float]]] = {}
        try:
            for line, row in enumerate(reader, start=2):
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != len(header):
                    raise DataError(
                        f"{path}: line {line}: {len(row)} fields, the header has {len(header)}"
                    )
                text = row[idx["period"]].strip()
                try:
                    period = parse_period(text)
                except ValueError as e:
                    raise DataError(f"{path}: line {line}: {e}") from None
                d = row[idx["draw"]].strip()
                try:
                    draw = int(d)
                except ValueError:
                    raise DataError(
                        f"{path}: line {line}: draw = {d!r} is not an integer"
                    ) from None
                ner = _number(path, line, "ner", row[idx["ner"]].strip())
                gross = (
                    _number(path, line, "gross", row[idx["gross"]].strip())
                    if has_gross
                    else math.nan
                )
                per = values.setdefault(period, {})
                if draw in per:
                    raise DataError(
                        f"{path}: line {line}: period {text}, draw {draw} is given twice"
                    )
                per[draw] = (ner, gross)
        except (csv.Error, UnicodeDecodeError) as e:
            raise DataError(f"{path}: not a readable CSV ({e})") from None
    if not values:
        raise DataError(f"{path}: has no draws")
    periods = sorted(values)
    try:
        check_periods(periods)
    except ValueError as e:
        raise DataError(f"{path}: {e}") from None
    ids = sorted(values[periods[0]])
    for p in periods[1:]:
        if sorted(values[p]) != ids:
            raise DataError(
                f"{path}: period {period_label(p)} holds other draws than period "
                f"{period_label(periods[0])} (every period needs the same draw ids)"
            )
    if len(ids) < 2:
        raise DataError(f"{path}: needs at least 2 draws per period, has {len(ids)}")
    ner = np.array([[values[p][i][0] for p in periods] for i in ids])
    gross = np.array([[values[p][i][1] for p in periods] for i in ids]) if has_gross else None
    return Draws(path, periods, ner, gross)
