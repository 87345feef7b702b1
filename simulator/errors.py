"""Domain exceptions.

Every error a user can cause derives from :class:`ReddsimError`; the CLI turns
them into a one-line message and exit code 2. Third-party errors are wrapped
with ``raise ... from err`` so the cause stays available in logs.
"""

__all__ = [
    "ReddsimError",
    "ConfigError",
    "DataError",
    "ConvergenceError",
    "SimulationError",
    "OutputError",
]


class ReddsimError(Exception):
    """Base class of errors caused by a run's inputs or results."""


class ConfigError(ReddsimError):
    """A run configuration is invalid (unknown key, bad value, missing file)."""


class DataError(ReddsimError):
    """A data file is unreadable or holds an invalid value."""


class ConvergenceError(ReddsimError):
    """Sampler diagnostics fail the gate (R-hat, ESS, divergences)."""


class SimulationError(ReddsimError):
    """The forward simulation produced invalid numbers (e.g. a loss rate above 1)."""


class OutputError(ReddsimError):
    """An output directory cannot be written or read (exists, not a run directory)."""
