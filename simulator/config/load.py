"""Reading ``run.toml``: parse, validate against the schema, check the data paths.

:func:`load_config` reads and validates everything the file says and reports *all*
problems at once, each with the file, the field's location
(``[accounting].buffer_pct``) and the bad value, with a "did you mean" for
misspelt keys (:mod:`simulator.config.messages`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from simulator.config.messages import describe_errors
from simulator.config.schema import CONFIG_NAME, RunConfig, RunSpec
from simulator.errors import ConfigError

__all__ = ["read_toml", "load_config", "validate_config"]


def read_toml(path: Path, what: str) -> dict:
    """Parse a TOML file; a missing or malformed file is a one-line :class:`ConfigError`."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such {what}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err


def load_config(path: str | Path) -> RunSpec:
    """Read and validate a run configuration.

    Parameters
    ----------
    path : str or Path
        A run directory (holding ``run.toml``) or the TOML file itself.

    Returns
    -------
    RunSpec

    Raises
    ------
    ConfigError
        One line listing every problem: file, field location, value and reason.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_NAME
    spec = RunSpec(validate_config(read_toml(path, "run configuration"), path), path)
    problems = []
    root = spec.run_dir.resolve()
    for name, value in spec.config.data.files().items():
        target = spec.data_path(name)
        if not spec.config.data.allow_outside_run_dir and not target.resolve().is_relative_to(root):
            problems.append(
                f"[data].{name} = {str(value)!r}: outside the run directory "
                "(set [data].allow_outside_run_dir = true to allow it)"
            )
        elif not target.is_file():
            problems.append(f"[data].{name} = {str(value)!r}: file not found")
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))
    return spec


def validate_config(raw: dict, path: Path, origin: str | None = None) -> RunConfig:
    """Validate a configuration dict (as read from ``path``), raising one-line ConfigError."""
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as err:
        where = f"{path} ({origin})" if origin else str(path)
        raise ConfigError(f"{where}: {describe_errors(err, RunConfig)}") from err
