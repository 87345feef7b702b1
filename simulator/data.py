"""Reading a run's data files, with every value checked.

Each CSV has a fixed set of columns (:data:`SCHEMAS`). A missing or unknown
column, an unparsable or out-of-range value, a duplicated key or a stratum the
configuration does not know is a :class:`~simulator.errors.DataError` naming the
file, row, column and value. Nothing is clipped, dropped or filled in.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.map_accuracy import LOSS_CLASSES, AreaEstimate, annual_loss_estimates
from simulator.config import RunSpec
from simulator.errors import DataError

__all__ = ["Column", "POOLS", "STOCK_UNITS", "SCHEMAS", "RunData", "read_table", "load_data"]


@dataclass(frozen=True)
class Column:
    """One CSV column: its type, a validity check and what the check means."""

    kind: type  # str, int or float
    check: Callable[[object], bool] = lambda v: True
    rule: str = ""
    optional: bool = False  # an empty cell is allowed (NaN for numbers, "" for text)
    may_be_absent: bool = False  # the column itself may be left out (all cells empty)


# Upper bounds catch unit mistakes (m2 for ha, a pixel count for an area) and overflow:
# 1e9 ha is about the land area of a continent; a plot is at most 1000 ha.
_positive = Column(float, lambda v: 0 < v <= 1e9, "must be > 0 and <= 1e9")
_non_negative = Column(float, lambda v: 0 <= v <= 1e9, "must be >= 0 and <= 1e9")
_plot_area = Column(float, lambda v: 0 < v <= 1000, "must be > 0 and <= 1000 ha")
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


def read_table(path: Path, schema: dict[str, Column]) -> dict[str, np.ndarray]:
    """Read a CSV whose header is exactly the schema's columns (in any order).

    Returns
    -------
    dict of str to ndarray
        One array per column (``float64``, ``int64`` or ``str``), in file order.

    Raises
    ------
    DataError
        Naming the file, row (1-based, header is row 1), column and value.
    """
    try:
        # utf-8-sig: spreadsheets often save UTF-8 with a byte-order mark
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}: not UTF-8 text (byte {err.object[err.start]:#04x} at position {err.start}); "
            "save it as UTF-8 CSV"
        ) from err
    except (OSError, csv.Error) as err:
        raise DataError(f"{path}: cannot read: {err}") from err
    if not rows:
        raise DataError(f"{path}: empty file, expected columns {', '.join(schema)}")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in schema if c not in header and not schema[c].may_be_absent]
    unknown = [c for c in header if c not in schema]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        raise DataError(f"{path}: {'; '.join(parts)} (expected {', '.join(schema)})")
    body = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    if not body:
        raise DataError(f"{path}: no data rows")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataError(f"{path}: column {dupes[0]} appears twice in the header")
    values: dict[str, list] = {c: [] for c in schema}
    absent = [c for c in schema if c not in header]
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataError(f"{path}: row {lineno} has {len(row)} fields, header has {len(header)}")
        for name, raw in zip(header, row, strict=True):
            values[name].append(_parse(path, lineno, name, raw.strip(), schema[name]))
        for name in absent:
            values[name].append("" if schema[name].kind is str else float("nan"))
    return {
        name: np.asarray(vals, dtype={str: str, int: np.int64, float: np.float64}[col.kind])
        for (name, vals), col in zip(values.items(), schema.values(), strict=True)
    }


def _parse(path: Path, lineno: int, name: str, raw: str, col: Column):
    where = f"{path}: row {lineno}, column {name} = {raw!r}"
    if col.optional and raw == "":
        return "" if col.kind is str else float("nan")
    if col.kind is str:
        value = raw
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


@dataclass(frozen=True)
class RunData:
    """The validated data of a run (arrays by column name)."""

    deforestation: dict[str, np.ndarray]
    leakage_belt: dict[str, np.ndarray]
    plots: dict[str, np.ndarray] | None = None  # tree inventory, or ...
    trees: dict[str, np.ndarray] | None = None
    carbon_stocks: dict[str, np.ndarray] | None = None  # ... carbon stocks per stratum and pool
    accuracy: list[AreaEstimate] | None = None  # per year, when estimated from a map
    project_monitoring: dict[str, np.ndarray] | None = None


def load_data(spec: RunSpec) -> RunData:
    """Read and cross-check all data files of a run against its configuration."""
    tables = {
        name: read_table(spec.data_path(name), SCHEMAS[name]) for name in spec.config.data.files()
    }
    accuracy = None
    if "map_areas" in tables:
        tables["deforestation"], accuracy = _loss_from_map(
            spec, tables.pop("map_areas"), tables.pop("accuracy_sample")
        )
    if "carbon_stocks" in tables:
        _check_carbon_stocks(spec, tables["carbon_stocks"])
    else:
        _check_plots(spec, tables["plots"])
        _check_trees(spec, tables["plots"], tables["trees"])
    _check_years(_loss_path(spec), tables["deforestation"]["year"])
    _check_loss_below_forest(_loss_path(spec), tables["deforestation"])
    _check_years(spec.data_path("leakage_belt"), tables["leakage_belt"]["year"])
    if "project_monitoring" in tables:
        _check_years(spec.data_path("project_monitoring"), tables["project_monitoring"]["year"])
    _check_reference_period(spec, tables["deforestation"]["year"])
    return RunData(**tables, accuracy=accuracy)


def _check_plots(spec: RunSpec, plots: dict[str, np.ndarray]) -> None:
    path = spec.data_path("plots")
    strata = [s.name for s in spec.config.project.strata]
    seen: dict[str, int] = {}
    rows = zip(plots["plot_id"].tolist(), plots["stratum"].tolist(), strict=True)
    for lineno, (pid, stratum) in enumerate(rows, start=2):
        if stratum not in strata:
            raise DataError(
                f"{path}: row {lineno}, column stratum = {stratum!r}: not a stratum of "
                f"[project].strata ({', '.join(strata)})"
            )
        if pid in seen:
            raise DataError(
                f"{path}: row {lineno}, column plot_id = {pid!r}: duplicated plot id "
                f"(also row {seen[pid]})"
            )
        seen[pid] = lineno
    empty = [s for s in strata if not np.any(plots["stratum"] == s)]
    if empty:
        raise DataError(f"{path}: column stratum: no plots for stratum {', '.join(empty)}")


def _check_carbon_stocks(spec: RunSpec, stocks: dict[str, np.ndarray]) -> None:
    """Each stratum has AGB, at most one of BGB/RS, each pool once, units fit the pool."""
    path = spec.data_path("carbon_stocks")
    strata = [s.name for s in spec.config.project.strata]
    seen: dict[tuple[str, str], int] = {}
    rows = zip(
        stocks["stratum"].tolist(), stocks["pool"].tolist(), stocks["unit"].tolist(), strict=True
    )
    for lineno, (stratum, pool, unit) in enumerate(rows, start=2):
        if stratum not in strata:
            raise DataError(
                f"{path}: row {lineno}, column stratum = {stratum!r}: not a stratum of "
                f"[project].strata ({', '.join(strata)})"
            )
        allowed = {"RS": ("ratio",), "AGB": ("tC/ha", "tDM/ha"), "BGB": ("tC/ha", "tDM/ha")}
        if unit not in allowed.get(pool, ("tC/ha",)):
            raise DataError(
                f"{path}: row {lineno}, column unit = {unit!r}: pool {pool} must be in "
                f"{' or '.join(allowed.get(pool, ('tC/ha',)))}"
            )
        if (stratum, pool) in seen:
            raise DataError(
                f"{path}: row {lineno}, column pool = {pool!r}: stratum {stratum} lists it twice "
                f"(also row {seen[stratum, pool]})"
            )
        seen[stratum, pool] = lineno
    for stratum in strata:
        if (stratum, "AGB") not in seen:
            raise DataError(f"{path}: column pool: no AGB row for stratum {stratum}")
        if (stratum, "BGB") in seen and (stratum, "RS") in seen:
            raise DataError(
                f"{path}: row {seen[stratum, 'RS']}, column pool = 'RS': stratum {stratum} "
                f"gives BGB too (row {seen[stratum, 'BGB']}); give one of them"
            )


def _check_trees(spec: RunSpec, plots: dict, trees: dict) -> None:
    plots_path, path = spec.data_path("plots"), spec.data_path("trees")
    for lineno, (area, sub) in enumerate(
        zip(plots["area_ha"].tolist(), plots["subplot_area_ha"].tolist(), strict=True), start=2
    ):
        if sub > area:
            raise DataError(
                f"{plots_path}: row {lineno}, column subplot_area_ha = {sub:g}: larger than "
                f"area_ha ({area:g})"
            )
    stratum_of = dict(zip(plots["plot_id"].tolist(), plots["stratum"].tolist(), strict=True))
    seen: dict[str, int] = {}
    rows = zip(
        trees["plot_id"].tolist(), trees["tree_id"].tolist(), trees["stratum"].tolist(), strict=True
    )
    for lineno, (pid, tid, stratum) in enumerate(rows, start=2):
        if pid not in stratum_of:
            raise DataError(
                f"{path}: row {lineno}, column plot_id = {pid!r}: not a plot of {plots_path}"
            )
        if stratum != stratum_of[pid]:
            raise DataError(
                f"{path}: row {lineno}, column stratum = {stratum!r}: plot {pid} is in stratum "
                f"{stratum_of[pid]!r} in {plots_path}"
            )
        if tid in seen:
            raise DataError(
                f"{path}: row {lineno}, column tree_id = {tid!r}: duplicated tree id "
                f"(also row {seen[tid]})"
            )
        seen[tid] = lineno
    empty = sorted(set(stratum_of) - set(trees["plot_id"].tolist()))
    if empty:
        raise DataError(f"{path}: column plot_id: no trees for plot {', '.join(empty)}")
    if np.sum(np.isfinite(trees["height_m"])) < 10:
        raise DataError(
            f"{path}: column height_m: {int(np.sum(np.isfinite(trees['height_m'])))} measured "
            "heights; the height-diameter model needs at least 10"
        )


def _loss_from_map(spec: RunSpec, areas: dict, sample: dict):
    """Annual loss and its SE from the map and its accuracy sample (stratified estimator)."""
    map_path, sample_path = spec.data_path("map_areas"), spec.data_path("accuracy_sample")
    years = np.unique(areas["year"])
    _check_years(map_path, years)
    sample_years = np.unique(sample["year"])
    if not np.array_equal(years, sample_years):
        raise DataError(
            f"{sample_path}: column year = {sample_years.tolist()}: must be the years of "
            f"{map_path} ({years.tolist()})"
        )
    strata, mapped, counts = [], [], []
    for year in years.tolist():
        in_year = areas["year"] == year
        names = areas["stratum"][in_year].tolist()
        dupes = sorted({s for s in names if names.count(s) > 1})
        if dupes:
            raise DataError(f"{map_path}: year {year}: stratum {dupes[0]!r} listed twice")
        n = np.zeros((len(names), len(LOSS_CLASSES)))
        rows = sample["year"] == year
        for stratum, cls, c in zip(
            sample["stratum"][rows].tolist(),
            sample["reference_class"][rows].tolist(),
            sample["count"][rows].tolist(),
            strict=True,
        ):
            if stratum not in names:
                raise DataError(
                    f"{sample_path}: year {year}, column stratum = {stratum!r}: not a stratum "
                    f"of {map_path} in that year ({', '.join(names)})"
                )
            n[names.index(stratum), LOSS_CLASSES.index(cls)] += c  # sample points or counts
        strata.append(names)
        mapped.append(areas["mapped_area_ha"][in_year])
        counts.append(n)
    try:
        estimates = annual_loss_estimates(years.tolist(), strata, mapped, counts)
    except ValueError as err:
        raise DataError(f"{sample_path}: {err}") from err
    table = {
        "year": years.astype(np.int64),
        "forest_area_ha": np.array([m.sum() for m in mapped]),
        "loss_ha": np.array([e.area[0] for e in estimates]),
        "loss_se_ha": np.array([e.area_se[0] for e in estimates]),
    }
    bad = np.flatnonzero(table["loss_se_ha"] <= 0)
    if bad.size:
        raise DataError(
            f"{sample_path}: year {int(years[bad[0]])}: the loss estimate has zero standard "
            "error (no misclassified sample units); the rate model needs a positive SE"
        )
    return table, estimates


def _check_years(path: Path, years: np.ndarray) -> None:
    if years.size > 1 and not np.all(np.diff(years) == 1):
        raise DataError(
            f"{path}: column year = {years.tolist()}: years must be consecutive and increasing"
        )


def _check_loss_below_forest(path: Path, table: dict) -> None:
    over = np.flatnonzero(table["loss_ha"] >= table["forest_area_ha"])
    if over.size:
        i = int(over[0])
        raise DataError(
            f"{path}: year {int(table['year'][i])}: loss {table['loss_ha'][i]:g} ha is not below "
            f"the forest area {table['forest_area_ha'][i]:g} ha"
        )


def _loss_path(spec: RunSpec) -> Path:
    """The file the annual loss series comes from (the series itself, or the map)."""
    return spec.data_path("deforestation" if spec.config.data.deforestation else "map_areas")


def _check_reference_period(spec: RunSpec, years: np.ndarray) -> None:
    path = _loss_path(spec)
    if years.size < 5:
        raise DataError(f"{path}: column year: {years.size} years; the rate model needs at least 5")
    start = spec.config.crediting.start_year
    if years[-1] >= start:
        raise DataError(
            f"{path}: column year = {int(years[-1])}: the reference period must end before "
            f"the crediting period starts ([crediting].start_year = {start})"
        )
