"""A run's data, read and cross-checked against its configuration.

Each file is read by :func:`simulator.data.tables.read_table`; here the tables are
checked against each other and against ``run.toml`` (a duplicated key, a stratum
the configuration does not know, a reference period that overlaps the crediting
period), each problem a :class:`~simulator.errors.DataError` naming the file,
row, column and value. Nothing is clipped, dropped or filled in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.map_accuracy import (
    LOSS_CLASSES,
    AreaEstimate,
    annual_loss_estimates,
    pooled_loss_estimates,
)
from simulator.config import RunSpec
from simulator.data.provenance import Provenance, read_provenance
from simulator.data.tables import SCHEMAS, read_bytes, read_table
from simulator.errors import DataError

__all__ = ["RunData", "load_data"]


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
    #: Sources of the published magnitudes and priors, scope (``[data].provenance``).
    provenance: Provenance | None = None
    #: SHA-256 of each file's bytes as read (by ``[data]`` name).
    sha256: dict[str, str] = field(default_factory=dict)


def load_data(spec: RunSpec) -> RunData:
    """Read and cross-check all data files of a run against its configuration."""
    tables, sha256, provenance = {}, {}, None
    for name in spec.config.data.files():
        # hashed as read: the manifest records the content the run used
        content = read_bytes(spec.data_path(name))
        sha256[name] = hashlib.sha256(content).hexdigest()
        if name == "provenance":
            provenance = read_provenance(spec.data_path(name), content)
            continue
        tables[name] = read_table(spec.data_path(name), SCHEMAS[name], content)
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
    return RunData(**tables, accuracy=accuracy, provenance=provenance, sha256=sha256)


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
    """Annual loss, its SE and covariance from the map and its accuracy sample.

    The series the rate model takes is the model-based one, each stratum's proportion
    pooled across years (:func:`models.map_accuracy.pooled_loss_estimates`), with the
    covariance its shared hyperparameters give the years (``loss_cov_ha2``); the
    stratified estimates of each year (Olofsson et al. 2014) are returned beside it
    for the accuracy report.
    """
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
        n = stratum_counts(
            map_path, sample_path, f"year {year}", names, sample, sample["year"] == year
        )
        strata.append(names)
        mapped.append(areas["mapped_area_ha"][in_year])
        counts.append(n)
    try:
        estimates = annual_loss_estimates(years.tolist(), strata, mapped, counts)
    except ValueError as err:
        raise DataError(f"{sample_path}: {err}") from err
    pooled = pooled_loss_estimates(strata, mapped, counts)
    table = {
        "year": years.astype(np.int64),
        "forest_area_ha": np.array([m.sum() for m in mapped]),
        "loss_ha": pooled["loss_ha"],
        "loss_se_ha": pooled["loss_se_ha"],
        "loss_cov_ha2": pooled["loss_cov_ha2"],
    }
    bad = np.flatnonzero(table["loss_se_ha"] <= 0)
    if bad.size:
        raise DataError(
            f"{sample_path}: year {int(years[bad[0]])}: the loss estimate has zero standard "
            "error (no misclassified sample units); the rate model needs a positive SE"
        )
    return table, estimates


def stratum_counts(
    map_path: Path, sample_path: Path, where: str, names: list[str], sample: dict, rows
) -> np.ndarray:
    """Sample counts per map stratum and reference class of one map (one year, one period).

    ``names`` are the map's strata (rows of the result, in order), ``rows`` selects the
    sample's rows of that map; ``where`` names it in messages (``"year 2019"``).

    Raises
    ------
    DataError
        A stratum listed twice in the map, or a sample row of a stratum the map lacks.
    """
    dupes = sorted({s for s in names if names.count(s) > 1})
    if dupes:
        raise DataError(f"{map_path}: {where}: stratum {dupes[0]!r} listed twice")
    n = np.zeros((len(names), len(LOSS_CLASSES)))
    for stratum, cls, c in zip(
        sample["stratum"][rows].tolist(),
        sample["reference_class"][rows].tolist(),
        sample["count"][rows].tolist(),
        strict=True,
    ):
        if stratum not in names:
            raise DataError(
                f"{sample_path}: {where}, column stratum = {stratum!r}: not a stratum of "
                f"{map_path} there ({', '.join(names)})"
            )
        n[names.index(stratum), LOSS_CLASSES.index(cls)] += c  # sample points or counts
    return n


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
