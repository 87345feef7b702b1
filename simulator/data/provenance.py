"""A run's provenance file: where its published magnitudes and priors come from, and its scope.

``[data].provenance`` (optional) names a TOML file of the run directory that the
appendix prints, so that every number an auditor reads can be traced on the page:

``[[magnitude]]``
    one published magnitude the run's data or settings rest on: ``quantity``,
    ``published`` (the value as published), ``source`` and ``used`` (the value the
    run uses, and how it follows from the published one);
``[prior.<parameter>]``
    the ``source`` of a parameter's prior and the ``reason`` it is reasonable, by the
    parameter's code name (:data:`PRIOR_KEYS`);
``[scope]``
    statements of scope and design: ``pools`` and ``gases`` (included, excluded and
    why), ``reference_region`` (boundary, area, similarity to the project),
    ``reference_period`` (and its gap to the crediting start), ``plot_design`` (the
    field plots' sampling design), ``qa_qc`` (their quality control) and
    ``risk_report`` (the non-permanence risk report behind the buffer's scores).

The file is hashed with the data files (``data_sha256``) and checked by ``reddsim
verify``. A problem is a one-line :class:`~simulator.errors.DataError` naming the
file, the key and the value.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from simulator.config.messages import describe_errors
from simulator.errors import DataError

__all__ = ["PRIOR_KEYS", "Provenance", "read_provenance"]

#: Code names of the parameters a prior source may name: the free parameters of the
#: biomass (inventory or stock), deforestation (with an allocation) and leakage models.
PRIOR_KEYS = (
    "mu_0",
    "sigma_stratum",
    "mu_stratum",
    "tau",
    "carbon_fraction",
    "root_shoot",
    "stock",
    "a",
    "b",
    "c",
    "sigma",
    "phi",
    "effectiveness",
    "post_conversion_tco2e_ha",
    "jurisdiction_loss_ha",
    "risk_share",
    "displacement",
    "belt_baseline_z",
)

_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Magnitude(_Entry):
    quantity: _Text
    published: _Text
    source: _Text
    used: _Text


class PriorSource(_Entry):
    source: _Text
    reason: _Text


class Scope(_Entry):
    pools: _Text
    gases: _Text
    reference_region: _Text
    reference_period: _Text
    plot_design: _Text
    qa_qc: _Text
    risk_report: _Text


class Provenance(_Entry):
    magnitude: list[Magnitude] = []
    prior: dict[str, PriorSource] = {}
    scope: Scope | None = None

    def rows(self) -> int:
        """Entries of the file (the appendix's data-sources table counts them)."""
        return len(self.magnitude) + len(self.prior) + (self.scope is not None)


def read_provenance(path: Path, content: bytes) -> Provenance:
    """Parse and check a provenance file's bytes (as read and hashed by the loader)."""
    try:
        raw = tomllib.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise DataError(f"{path}: not a valid TOML file: {err}") from err
    try:
        doc = Provenance.model_validate(raw)
    except ValidationError as err:
        raise DataError(f"{path}: {describe_errors(err, Provenance)}") from err
    unknown = sorted(set(doc.prior) - set(PRIOR_KEYS))
    if unknown:
        raise DataError(
            f"{path}: [prior.{unknown[0]}]: not a parameter of reddsim's models "
            f"(one of: {', '.join(PRIOR_KEYS)})"
        )
    return doc
