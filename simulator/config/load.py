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
from simulator.config.mocaredd import MocareddRunConfig, MocareddSpec, is_mocaredd_mode
from simulator.config.monitoring import MonitoringRunConfig, MonitoringSpec, is_monitoring_run
from simulator.config.schema import CONFIG_NAME, RunConfig, RunSpec
from simulator.errors import ConfigError

__all__ = [
    "MAX_TOML_BYTES",
    "read_toml",
    "load_config",
    "load_run",
    "check_data_paths",
    "validate_config",
    "validate_mocaredd_config",
    "validate_monitoring_config",
]

#: A run configuration is a few kilobytes; anything past this is not one.
MAX_TOML_BYTES = 1 * 2**20


def read_toml(path: Path, what: str) -> dict:
    """Parse a TOML file; a missing or malformed file is a one-line :class:`ConfigError`."""
    try:
        if not path.is_file():
            raise ConfigError(f"{path}: no such {what}")
        size = path.stat().st_size
        if size > MAX_TOML_BYTES:
            raise ConfigError(f"{path}: {size:,} bytes; a {what} is at most {MAX_TOML_BYTES:,}")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 text") from err
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the {what} ({err.strerror})") from err
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    except RecursionError as err:
        raise ConfigError(f"{path}: not valid TOML: nested too deeply") from err


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
    raw = read_toml(path, "run configuration")
    if is_mocaredd_mode(raw):
        raise ConfigError(
            f"{path}: [accounting].mode = 'mocaredd': a mocaredd-mode run (reddsim check and "
            "reddsim run take it; this command needs a reddsim simulation run)"
        )
    if is_monitoring_run(raw):
        raise ConfigError(
            f"{path}: kind = 'monitoring': a monitoring run (reddsim check and reddsim run take "
            "it; this command needs an ex-ante run)"
        )
    spec = RunSpec(validate_config(raw, path), path)
    check_data_paths(spec, str(path))
    return spec


def load_run(path: str | Path) -> RunSpec | MocareddSpec | MonitoringSpec:
    """Read and validate a run configuration of any kind.

    ``[accounting] mode = "mocaredd"`` gives a :class:`MocareddSpec`
    (:mod:`simulator.config.mocaredd`), ``kind = "monitoring"`` a
    :class:`MonitoringSpec` (:mod:`simulator.config.monitoring`); anything else is an
    ex-ante run, validated as by :func:`load_config`.

    Raises
    ------
    ConfigError
        As :func:`load_config`.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_NAME
    raw = read_toml(path, "run configuration")
    if is_monitoring_run(raw):
        spec = MonitoringSpec(validate_monitoring_config(raw, path), path)
        check_data_paths(spec, str(path), section="monitoring")
        return spec
    if not is_mocaredd_mode(raw):
        return load_config(path)
    spec = MocareddSpec(validate_mocaredd_config(raw, path), path)
    check_data_paths(spec, str(path))
    return spec


def check_data_paths(spec, where: str, section: str = "data") -> None:
    """Check the ``[data]`` and ``[maps]`` paths: inside the run directory (unless allowed), files.

    Every reader of a run's data paths calls this (``reddsim check``/``run`` through
    :func:`load_config`, ``reddsim verify`` on the manifest's recorded configuration),
    so a path that escapes the run directory is refused wherever it comes from.

    Raises
    ------
    ConfigError
        ``where: [data].<name> = '<value>': <reason>`` for every bad path.
    """
    problems = []
    root = spec.run_dir.resolve()
    files = getattr(spec.config, section)
    paths = [(section, name, value, spec.data_path) for name, value in files.files().items()]
    maps = getattr(spec.config, "maps", None) if section == "data" else None
    if maps is not None:  # the maps the appendix draws: the same rules as the data files
        paths += [("maps", name, value, spec.map_path) for name, value in maps.files().items()]
    for where_in, name, value, path_of in paths:
        shown = f"[{where_in}].{name} = {str(value)!r}"
        if any(ch == "\x00" or not ch.isprintable() for ch in str(value)):
            problems.append(f"{shown}: a control character in a path")
            continue
        target = path_of(name)
        try:
            resolved = target.resolve()
            inside = resolved.is_relative_to(root)
            regular = target.is_file()
        except (OSError, RuntimeError, ValueError):  # a symlink loop, a name too long
            problems.append(f"{shown}: cannot be resolved (a symlink loop or an invalid name)")
            continue
        if not files.allow_outside_run_dir and not inside:
            problems.append(
                f"{shown}: outside the run directory "
                f"(set [{section}].allow_outside_run_dir = true to allow it)"
            )
        elif not regular:
            problems.append(
                f"{shown}: {'not a regular file' if target.exists() else 'file not found'}"
            )
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))


def _validate(model, raw: dict, path: Path, origin: str | None):
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        where = f"{path} ({origin})" if origin else str(path)
        raise ConfigError(f"{where}: {describe_errors(err, model)}") from err


def validate_config(raw: dict, path: Path, origin: str | None = None) -> RunConfig:
    """Validate a configuration dict (as read from ``path``), raising one-line ConfigError."""
    return _validate(RunConfig, raw, path, origin)


def validate_mocaredd_config(raw: dict, path: Path, origin: str | None = None):
    """Validate a mocaredd-mode configuration dict, raising one-line ConfigError."""
    return _validate(MocareddRunConfig, raw, path, origin)


def validate_monitoring_config(raw: dict, path: Path, origin: str | None = None):
    """Validate a monitoring-run configuration dict, raising one-line ConfigError."""
    return _validate(MonitoringRunConfig, raw, path, origin)
