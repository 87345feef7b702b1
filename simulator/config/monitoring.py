"""``run.toml`` of a monitoring run: ``kind = "monitoring"``.

A monitoring run verifies one or more monitoring periods. VCS issues credits at
verification, per monitoring period, from monitored data (VCS Standard v4.7 §3.5.6:
periods distinct, without overlap; §3.5.7: no gaps). Its ``run.toml`` names the
validated ex-ante run whose baseline it keeps, and the period's maps::

    schema_version = 1
    kind = "monitoring"

    [project]
    name = "Los Amigos Conservation Concession"

    [baseline]
    config = "../los-amigos/run.toml"     # the validated ex-ante configuration
    run = "../los-amigos/out/validated"   # its run directory: posterior.nc is reused
    config_sha256 = "..."                 # optional: the configuration validated

    [monitoring]
    map_areas = "data/monitoring_map_areas.csv"
    accuracy_sample = "data/monitoring_accuracy_sample.csv"
    belt_forest_ha = 300000               # forest of the leakage belt at the crediting start
    belt_relative_risk = 1.0              # its risk relative to the reference region's

    [crediting]
    periods = ["2026-2027", "2028-2030"]  # from the crediting start, in order

    [simulation]
    n_draws = 262144
    seed = 20270101

    [accounting]
    standard = "VCS-MR-4.4"
    risk = { internal = 4, external = 2, natural = 6 }

Project and leakage-belt loss of each period come from that period's map and its
accuracy sample (:mod:`simulator.data.monitoring`); the baseline and the carbon
stocks come from the ex-ante run's posterior, not refitted
(:mod:`simulator.inference.monitoring`). No effectiveness prior enters.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from models.settings import Section as _Section
from simulator.config.periods import check_periods, parse_period
from simulator.config.schema import Accounting

__all__ = [
    "KIND",
    "BELT",
    "MonitoringProject",
    "BaselineRun",
    "MonitoringData",
    "MonitoringCrediting",
    "MonitoringSimulation",
    "MonitoringRunConfig",
    "MonitoringSpec",
    "is_monitoring_run",
]

KIND = "monitoring"
#: The ``area`` of the monitoring tables that is the leakage belt (the others are strata).
BELT = "leakage_belt"


class MonitoringProject(_Section):
    name: Annotated[str, Field(min_length=1)]
    country: str = ""
    description: str = ""


class BaselineRun(_Section):
    """The validated ex-ante run whose baseline, carbon stocks and leakage model are kept."""

    config: Path  # its run.toml, relative to this run's directory
    run: Path  # its run directory (manifest.json, posterior.nc)
    config_sha256: Annotated[str | None, Field(pattern=r"^[0-9a-f]{64}$")] = None
    #: Accept a baseline run whose sampler or Monte Carlo gate failed and was overridden.
    allow_unconverged: bool = False


class MonitoringData(_Section):
    """The monitoring maps' areas and their accuracy samples, per period and area."""

    map_areas: Path
    accuracy_sample: Path
    belt_forest_ha: Annotated[float, Field(gt=0, le=1e9)]
    belt_relative_risk: Annotated[float, Field(gt=0, le=100)] = 1.0
    allow_outside_run_dir: bool = False

    def files(self) -> dict[str, Path]:
        return {"map_areas": self.map_areas, "accuracy_sample": self.accuracy_sample}


class MonitoringCrediting(_Section):
    """The periods verified, from the crediting start (each ``YYYY`` or ``YYYY-YYYY``)."""

    periods: Annotated[list[str], Field(min_length=1)]

    @model_validator(mode="after")
    def _periods(self):
        check_periods([parse_period(p) for p in self.periods])
        return self

    def period_spans(self) -> list[tuple[int, int]]:
        return [parse_period(p) for p in self.periods]


class MonitoringSimulation(_Section):
    """Joint draws held in memory (baseline, monitored areas, carbon)."""

    n_draws: Annotated[int, Field(ge=1000, le=2**22)] = 262_144
    seed: Annotated[int, Field(ge=0, lt=2**63)]


class MonitoringRunConfig(_Section):
    """The whole ``run.toml`` of a monitoring run."""

    schema_version: Literal[1]
    kind: Literal["monitoring"]
    project: MonitoringProject
    baseline: BaselineRun
    monitoring: MonitoringData
    crediting: MonitoringCrediting
    simulation: MonitoringSimulation
    accounting: Accounting

    def digest(self) -> str:
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def is_monitoring_run(raw: dict) -> bool:
    """Does a parsed ``run.toml`` say ``kind = "monitoring"``?"""
    return isinstance(raw, dict) and raw.get("kind") == KIND


@dataclass(frozen=True)
class MonitoringSpec:
    """A validated monitoring configuration with the location it came from."""

    config: MonitoringRunConfig
    path: Path

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    def data_path(self, name: str) -> Path:
        return self.run_dir / getattr(self.config.monitoring, name)

    def baseline_path(self, name: str) -> Path:
        """``config`` or ``run`` of ``[baseline]``, resolved against this run's directory."""
        return self.run_dir / getattr(self.config.baseline, name)

    def with_overrides(
        self, n_draws: int | None = None, seed: int | None = None, mc_tolerance=None
    ) -> MonitoringSpec:
        """Same spec with ``[simulation]`` replaced where given; ``mc_tolerance`` refused."""
        from simulator.errors import ConfigError

        if mc_tolerance is not None:
            raise ConfigError(f"{self.path}: --mc-tolerance does not apply to a monitoring run")
        raw = self.config.model_dump(mode="json")
        given = {"n_draws": n_draws, "seed": seed}
        raw["simulation"].update({k: v for k, v in given.items() if v is not None})
        from simulator.config.load import validate_monitoring_config

        return MonitoringSpec(validate_monitoring_config(raw, self.path, "command line"), self.path)
