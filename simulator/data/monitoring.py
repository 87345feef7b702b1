"""A monitoring run's maps and accuracy samples, read, checked and estimated.

Two CSV files (schemas ``monitoring_map_areas`` and ``monitoring_accuracy_sample`` of
:data:`simulator.data.tables.SCHEMAS`) hold, per monitoring period and per *area*
(a project stratum, or ``leakage_belt``), the period's loss map by map stratum
(``loss``, ``buffer``, ``stable_forest``, ...) and its stratified accuracy sample.
Each (period, area) is one map: its loss area and standard error are the
stratified estimate (:func:`models.map_accuracy.loss_area_estimate`; Olofsson et al.
2014, Stehman 2014).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.map_accuracy import AreaEstimate, loss_area_estimate
from simulator.config.monitoring import BELT
from simulator.config.periods import parse_period, period_label
from simulator.data.load import stratum_counts
from simulator.data.tables import SCHEMAS, read_bytes, read_table
from simulator.errors import DataError

__all__ = ["MonitoredLoss", "read_monitored_loss"]


@dataclass(frozen=True)
class MonitoredLoss:
    """Loss estimates of every monitoring period and area.

    Attributes
    ----------
    periods : list of str
        Period labels, in order.
    areas : list of str
        The project strata, then :data:`~simulator.config.monitoring.BELT`.
    estimates : dict of (period, area) to AreaEstimate
    sha256 : dict of file name to SHA-256 of the bytes read
    """

    periods: list[str]
    areas: list[str]
    estimates: dict[tuple[str, str], AreaEstimate]
    sha256: dict[str, str]

    def loss(self, period: str, area: str) -> tuple[float, float]:
        """Estimated loss (ha) and its standard error."""
        est = self.estimates[(period, area)]
        return float(est.area[0]), float(est.area_se[0])


def read_monitored_loss(
    map_path: Path, sample_path: Path, periods: list[str], strata: list[str]
) -> MonitoredLoss:
    """Read both files and estimate the loss of every (period, area).

    Parameters
    ----------
    map_path, sample_path : Path
    periods : list of str
        The run's monitoring periods (``[crediting].periods``).
    strata : list of str
        The project strata of the validated baseline.

    Raises
    ------
    DataError
        One line naming the file, the period and area, the column and the value.
    """
    blobs = {p: read_bytes(p) for p in (map_path, sample_path)}
    areas = read_table(map_path, SCHEMAS["monitoring_map_areas"], blobs[map_path])
    sample = read_table(sample_path, SCHEMAS["monitoring_accuracy_sample"], blobs[sample_path])
    wanted = [period_label(parse_period(p)) for p in periods]
    names = [*strata, BELT]
    allowed = {
        "period": (wanted, "the periods of [crediting].periods"),
        "area": (names, f"the baseline's strata and {BELT}"),
    }
    for path, table in ((map_path, areas), (sample_path, sample)):
        for column, (values, what) in allowed.items():
            for value in table[column].tolist():
                label = _period(path, value) if column == "period" else value
                if label not in values:
                    raise DataError(
                        f"{path}: column {column} = {value!r}: not one of {what} "
                        f"({', '.join(values)})"
                    )
    map_periods = np.array([_period(map_path, v) for v in areas["period"].tolist()])
    sample_periods = np.array([_period(sample_path, v) for v in sample["period"].tolist()])
    estimates = {}
    for period in wanted:
        for area in names:
            where = f"period {period}, area {area}"
            in_map = (map_periods == period) & (areas["area"] == area)
            rows = (sample_periods == period) & (sample["area"] == area)
            if not in_map.any():
                raise DataError(f"{map_path}: {where}: no rows (every period maps every area)")
            if not rows.any():
                raise DataError(f"{sample_path}: {where}: no sample rows")
            strata_of_map = areas["stratum"][in_map].tolist()
            n = stratum_counts(map_path, sample_path, where, strata_of_map, sample, rows)
            try:
                est = loss_area_estimate(strata_of_map, areas["mapped_area_ha"][in_map], n)
            except ValueError as err:
                raise DataError(f"{sample_path}: {where}: {err}") from err
            estimates[(period, area)] = est
    sha = {p.name: hashlib.sha256(b).hexdigest() for p, b in blobs.items()}
    return MonitoredLoss(wanted, names, estimates, sha)


def _period(path: Path, value: str) -> str:
    try:
        return period_label(parse_period(value))
    except ValueError as err:
        raise DataError(f"{path}: column period = {value!r}: {err}") from err
