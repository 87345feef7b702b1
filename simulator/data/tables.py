"""Reading a run's CSV files, every value checked against its column's rule.

Each CSV has a fixed set of columns (:data:`SCHEMAS`). A missing or unknown
column, an unparsable or out-of-range value is a
:class:`~simulator.errors.DataError` naming the file, row, column and value.
Nothing is clipped, dropped or filled in.
"""

from __future__ import annotations

import csv
import io
import math
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.map_accuracy import LOSS_CLASSES
from simulator.errors import DataError

__all__ = ["Column", "POOLS", "STOCK_UNITS", "SCHEMAS", "MAX_CSV_BYTES", "read_bytes", "read_table"]

#: Largest data file read (a national inventory of a million trees is ~100 MB).
MAX_CSV_BYTES = 2**30


def read_bytes(path: Path) -> bytes:
    """A data file's bytes, refusing what is not a regular file or larger than MAX_CSV_BYTES.

    Raises
    ------
    DataError
        Naming the file and the reason (missing, a directory or device, a symlink loop,
        too large).
    """
    try:
        with open(path, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise DataError(f"{path}: not a regular file")
            if info.st_size > MAX_CSV_BYTES:
                raise DataError(
                    f"{path}: {info.st_size:,} bytes; a data file is at most {MAX_CSV_BYTES:,}"
                )
            return fh.read()
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror or type(err).__name__}") from err
    except ValueError as err:  # an embedded NUL in the name
        raise DataError(f"{path}: cannot read: {err}") from err


@dataclass(frozen=True)
class Column:
    """One CSV column: its type, a validity check and what the check means."""

    kind: type  # str, int or float
    check: Callable[[object], bool] = lambda v: True
    rule: str = ""
    optional: bool = False  # an empty cell is allowed (NaN for numbers, "" for text)
    may_be_absent: bool = False  # the column itself may be left out (all cells empty)


# Upper bounds catch unit mistakes (m2 for ha, a pixel count for an area) and overflow:
# 1e9 ha is about the land area of a continent; a plot is 1 m2 to 1000 ha.
_positive = Column(float, lambda v: 0 < v <= 1e9, "must be > 0 and <= 1e9")
_non_negative = Column(float, lambda v: 0 <= v <= 1e9, "must be >= 0 and <= 1e9")
# at least 1 m2: a smaller plot (5e-324 ha) would make its per-hectare biomass overflow
_plot_area = Column(float, lambda v: 1e-4 <= v <= 1000, "must be >= 1e-4 (1 m2) and <= 1000 ha")
_year = Column(int, lambda v: 1900 <= v <= 2100, "must be a year between 1900 and 2100")

_name = Column(str, lambda v: v != "", "must not be empty")

#: Carbon pools of ``carbon_stocks.csv`` (IPCC 2006 Vol. 4 Ch. 1 pools; RS is a
#: root:shoot ratio that gives BGB = AGB * RS, as in FAO mocaredd).
POOLS = ("AGB", "BGB", "RS", "DW", "LI", "SOC")
#: Units of a stock: tonnes of carbon or of dry matter (AGB, BGB only; carbon =
#: dry matter x [biomass].carbon_fraction) per hectare, or a ratio (RS).
STOCK_UNITS = ("tC/ha", "tDM/ha", "ratio")

SCHEMAS: dict[str, dict[str, Column]] = {
    "plots": {
        "plot_id": _name,
        "stratum": _name,
        "area_ha": _plot_area,
        "subplot_area_ha": _plot_area,
        "subplot_max_dbh_cm": Column(float, lambda v: 0 <= v <= 500, "must be 0-500 cm"),
    },
    "trees": {
        "plot_id": _name,
        "tree_id": _name,
        "stratum": _name,
        "dbh_cm": Column(float, lambda v: 0 < v <= 500, "must be > 0 and <= 500 cm"),
        "height_m": Column(float, lambda v: 1.3 <= v <= 90, "must be 1.3-90 m", optional=True),
        "wood_density": Column(
            float, lambda v: 0.1 <= v <= 1.5, "must be 0.1-1.5 g/cm3", optional=True
        ),
        "genus": Column(str, optional=True),
        "species": Column(str, optional=True, may_be_absent=True),
        "family": Column(str, optional=True, may_be_absent=True),
        "wood_density_sd": Column(
            float,
            lambda v: 0 <= v <= 0.5,
            "must be 0-0.5 g/cm3",
            optional=True,
            may_be_absent=True,
        ),
    },
    # `reddsim biomass`: a tree table as BIOMASS users keep it (only plot, tree, D required)
    "biomass_trees": {
        "plot_id": _name,
        "tree_id": _name,
        "dbh_cm": Column(float, lambda v: 0 < v <= 500, "must be > 0 and <= 500 cm"),
        "stratum": Column(str, optional=True, may_be_absent=True),
        "height_m": Column(
            float, lambda v: 1.3 <= v <= 90, "must be 1.3-90 m", optional=True, may_be_absent=True
        ),
        "wood_density": Column(
            float,
            lambda v: 0.1 <= v <= 1.5,
            "must be 0.1-1.5 g/cm3",
            optional=True,
            may_be_absent=True,
        ),
        "wood_density_sd": Column(
            float,
            lambda v: 0 <= v <= 0.5,
            "must be 0-0.5 g/cm3",
            optional=True,
            may_be_absent=True,
        ),
        "genus": Column(str, optional=True, may_be_absent=True),
        "species": Column(str, optional=True, may_be_absent=True),
        "family": Column(str, optional=True, may_be_absent=True),
    },
    "biomass_plots": {
        "plot_id": _name,
        "area_ha": _plot_area,
        "stratum": Column(str, optional=True, may_be_absent=True),
        "subplot_area_ha": Column(
            float,
            lambda v: 0 < v <= 1000,
            "must be > 0 and <= 1000 ha",
            optional=True,
            may_be_absent=True,
        ),
        "subplot_max_dbh_cm": Column(
            float, lambda v: 0 <= v <= 500, "must be 0-500 cm", optional=True, may_be_absent=True
        ),
    },
    "heights": {
        "dbh_cm": Column(float, lambda v: 0 < v <= 500, "must be > 0 and <= 500 cm"),
        "height_m": Column(float, lambda v: 1.3 <= v <= 90, "must be 1.3-90 m"),
    },
    "deforestation": {
        "year": _year,
        "forest_area_ha": _positive,
        "loss_ha": _non_negative,
        "loss_se_ha": _positive,
    },
    "map_areas": {
        "year": _year,
        "stratum": _name,
        "mapped_area_ha": _positive,
    },
    "accuracy_sample": {
        "year": _year,
        "stratum": _name,
        "reference_class": Column(
            str, lambda v: v in LOSS_CLASSES, f"must be one of {', '.join(LOSS_CLASSES)}"
        ),
        "count": Column(int, lambda v: 0 <= v <= 10**9, "must be >= 0"),
    },
    # a monitoring run's maps: one per monitoring period, per project stratum and the belt
    "monitoring_map_areas": {
        "period": _name,
        "area": _name,
        "stratum": _name,
        "mapped_area_ha": _positive,
    },
    "monitoring_accuracy_sample": {
        "period": _name,
        "area": _name,
        "stratum": _name,
        "reference_class": Column(
            str, lambda v: v in LOSS_CLASSES, f"must be one of {', '.join(LOSS_CLASSES)}"
        ),
        "count": Column(int, lambda v: 0 <= v <= 10**9, "must be >= 0"),
    },
    "project_monitoring": {
        "year": _year,
        "expected_loss_ha": _non_negative,
        "observed_loss_ha": _non_negative,
        "observed_se_ha": _positive,
    },
    "carbon_stocks": {
        "stratum": _name,
        "pool": Column(str, lambda v: v in POOLS, f"must be one of {', '.join(POOLS)}"),
        "unit": Column(str, lambda v: v in STOCK_UNITS, f"must be one of {', '.join(STOCK_UNITS)}"),
        "mean": Column(float, lambda v: 0 < v <= 1e4, "must be > 0 and <= 1e4"),
        "sd": Column(float, lambda v: 0 < v <= 1e4, "must be > 0 and <= 1e4"),
    },
    "leakage_belt": {
        "year": _year,
        "avoided_ha": _non_negative,
        "belt_loss_ha": _non_negative,
        "belt_baseline_ha": _non_negative,
        "belt_se_ha": _positive,
    },
}


def read_table(
    path: Path, schema: dict[str, Column], content: bytes | None = None
) -> dict[str, np.ndarray]:
    """Read a CSV whose header is exactly the schema's columns (in any order).

    Parameters
    ----------
    path : Path
        The file (named in every message).
    schema : dict of str to Column
    content : bytes, optional
        The file's bytes, if already read (:func:`read_bytes`), so that what is
        parsed is exactly what was hashed.

    Returns
    -------
    dict of str to ndarray
        One array per column (``float64``, ``int64`` or ``str``), in file order.

    Raises
    ------
    DataError
        Naming the file, row (1-based, header is row 1), column and value.
    """
    if content is None:
        content = read_bytes(path)
    try:
        # utf-8-sig: spreadsheets often save UTF-8 with a byte-order mark
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}: not UTF-8 text (byte {err.object[err.start]:#04x} at position {err.start}); "
            "save it as UTF-8 CSV"
        ) from err
    if "\x00" in text:
        raise DataError(f"{path}: holds a NUL byte at position {text.index(chr(0))}; not a CSV")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as err:
        raise DataError(f"{path}: cannot read: {err}") from err
    if not rows:
        raise DataError(f"{path}: empty file, expected columns {', '.join(schema)}")
    header = [h.strip() for h in rows[0]]
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise DataError(
            f"{path}: column(s) {', '.join(map(repr, duplicated))} appear more than once "
            "in the header"
        )
    missing = [c for c in schema if c not in header and not schema[c].may_be_absent]
    unknown = [c for c in header if c not in schema]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        raise DataError(f"{path}: {'; '.join(parts)} (expected {', '.join(schema)})")
    linenos, cells = [], []
    for lineno, row in enumerate(rows[1:], start=2):
        if not "".join(row).strip():  # a blank line
            continue
        if len(row) != len(header):
            raise DataError(f"{path}: row {lineno} has {len(row)} fields, header has {len(header)}")
        linenos.append(lineno)
        cells.append(row)
    if not cells:
        raise DataError(f"{path}: no data rows")
    # every row has len(header) fields (checked above), so the transposition is exact
    columns = {
        name: [c.strip() for c in column]
        for name, column in zip(header, zip(*cells, strict=True), strict=True)
    }
    for name in schema:  # a column that may be left out: all its cells empty
        columns.setdefault(name, [""] * len(linenos))
    return {n: _parse_column(path, linenos, n, columns[n], schema[n]) for n in schema}


def _parse_column(path: Path, linenos: list[int], name: str, raws: list[str], col: Column):
    """One column's values as an array: whole-column conversion, cell by cell on a problem.

    The fast path converts and checks the column at once; if anything is wrong it
    re-reads the column cell by cell (:func:`_parse`), which names the first bad cell.
    """
    dtype = {str: str, int: np.int64, float: np.float64}[col.kind]
    try:
        if col.kind is str:
            values = [v for v in raws]
            todo = [v for v in values if v != ""] if col.optional else values
            if not all(map(str.isprintable, todo)):
                raise ValueError("a control character")
        else:
            missing = float("nan")
            if col.optional:
                values = [col.kind(v) if v != "" else missing for v in raws]
                todo = [v for v, r in zip(values, raws, strict=True) if r != ""]
            else:
                values = list(map(col.kind, raws))
                todo = values
            if col.kind is float and not all(map(math.isfinite, todo)):
                raise ValueError("not finite")
        if not all(map(col.check, todo)):
            raise ValueError("fails its rule")
    except ValueError:
        values = [_parse(path, n, name, raw, col) for n, raw in zip(linenos, raws, strict=True)]
    return np.asarray(values, dtype=dtype)


def _parse(path: Path, lineno: int, name: str, raw: str, col: Column):
    where = f"{path}: row {lineno}, column {name} = {raw!r}"
    if col.optional and raw == "":
        return "" if col.kind is str else float("nan")
    if col.kind is str:
        value = raw
        if not raw.isprintable():
            raise DataError(f"{where}: holds a control character")
    else:
        try:
            value = col.kind(raw)
        except ValueError as err:
            raise DataError(
                f"{where}: not a number" if col.kind is float else f"{where}: not an integer"
            ) from err
        if col.kind is float and not math.isfinite(value):
            raise DataError(f"{where}: must be finite")
    if not col.check(value):
        raise DataError(f"{where}: {col.rule}")
    return value
