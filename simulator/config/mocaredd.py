"""``run.toml`` of a run in mocaredd mode: ``[accounting] mode = "mocaredd"``.

A directory written by ``reddsim import mocaredd WORKBOOK --out DIR`` without forest
areas, leakage belt or buffer holds the workbook itself and a ``run.toml`` like::

    schema_version = 1

    [project]
    name = "example1-4pools"

    [data]
    workbook = "data/workbook.xlsx"

    [simulation]
    n_draws = 10000   # user_inputs.n_iter
    seed = 93         # user_inputs.ran_seed

    [accounting]
    mode = "mocaredd"

``reddsim run`` then computes what mocaredd computes (reference level, monitored
emissions and emission reductions, :mod:`simulator.accounting.mocaredd`), not reddsim's
forward simulation: no strata, crediting period, leakage or buffer are involved. The
rest of the workbook's settings (truncation, units, confidence level, ...) are read
from the workbook, as mocaredd reads them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from models.settings import Section as _Section

__all__ = [
    "MODE",
    "MocareddProject",
    "MocareddData",
    "MocareddSimulation",
    "MocareddAccounting",
    "MocareddRunConfig",
    "MocareddSpec",
    "is_mocaredd_mode",
]

MODE = "mocaredd"


class MocareddProject(_Section):
    name: Annotated[str, Field(min_length=1)]
    description: str = ""


class MocareddData(_Section):
    workbook: Path  # the mocaredd .xlsx, relative to the run directory
    allow_outside_run_dir: bool = False

    def files(self) -> dict[str, Path]:
        return {"workbook": self.workbook}


class MocareddSimulation(_Section):
    """mocaredd's ``n_iter`` and ``ran_seed`` (NumPy PCG64 draws, not R's)."""

    n_draws: Annotated[int, Field(ge=100, le=10**8)]
    seed: Annotated[int, Field(ge=0, lt=2**63)]


class MocareddAccounting(_Section):
    mode: Literal["mocaredd"]


class MocareddRunConfig(_Section):
    """The whole ``run.toml`` of a mocaredd-mode run."""

    schema_version: Literal[1]
    project: MocareddProject
    data: MocareddData
    simulation: MocareddSimulation
    accounting: MocareddAccounting

    def digest(self) -> str:
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def is_mocaredd_mode(raw: dict) -> bool:
    """Does a parsed ``run.toml`` ask for mocaredd mode (``[accounting].mode``)?"""
    acc = raw.get("accounting") if isinstance(raw, dict) else None
    return isinstance(acc, dict) and acc.get("mode") == MODE


@dataclass(frozen=True)
class MocareddSpec:
    """A validated mocaredd-mode configuration with the location it came from."""

    config: MocareddRunConfig
    path: Path

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    def data_path(self, name: str) -> Path:
        return self.run_dir / getattr(self.config.data, name)

    def with_overrides(
        self, n_draws: int | None = None, seed: int | None = None, mc_tolerance=None
    ) -> MocareddSpec:
        """Same spec with ``[simulation]`` replaced where given; ``mc_tolerance`` refused."""
        from simulator.errors import ConfigError

        if mc_tolerance is not None:
            raise ConfigError(f"{self.path}: --mc-tolerance does not apply to mocaredd mode")
        raw = self.config.model_dump(mode="json")
        given = {"n_draws": n_draws, "seed": seed}
        raw["simulation"].update({k: v for k, v in given.items() if v is not None})
        from simulator.config.load import validate_mocaredd_config

        return MocareddSpec(validate_mocaredd_config(raw, self.path, "command line"), self.path)
