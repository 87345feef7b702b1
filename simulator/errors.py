"""Domain exceptions.

Every error a user can cause derives from :class:`ReddsimError`; the CLI turns
them into a one-line message and exit code 2. Third-party errors are wrapped
with ``raise ... from err`` so the cause stays available in logs.
"""

import unicodedata

__all__ = [
    "one_line",
    "describe_os_error",
    "ReddsimError",
    "ConfigError",
    "DataError",
    "ConvergenceError",
    "SimulationError",
    "OutputError",
]


class ReddsimError(Exception):
    """Base class of errors caused by a run's inputs or results.

    The message is made one line (:func:`one_line`) when the error is raised, so a
    header, key or value it quotes cannot add a line or a terminal escape wherever
    the message is shown.
    """

    def __init__(self, *args):
        super().__init__(*(one_line(a) if isinstance(a, str) else a for a in args))


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


def one_line(text: str) -> str:
    """``text`` with every control or line-breaking character escaped (``\\n``, ``\\x1b``).

    An error quotes what the user gave (a header, a key, a value, a path); printed
    raw, a newline in it would forge a second line and an ANSI escape would reach
    the terminal. Printable characters, including non-ASCII letters, are kept.

    Examples
    --------
    >>> print(one_line('bad "x\\nerror: forged" \\x1b[31mred'))
    bad "x\\nerror: forged" \\x1b[31mred
    """
    out = []
    for ch in text:
        if not (unicodedata.category(ch)[0] in "CZ" and ch != " "):
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def describe_os_error(err: OSError) -> str:
    """An operating-system error as ``<path>: <reason>`` (the file first, as every message)."""
    reason = err.strerror or type(err).__name__
    if err.filename is not None and err.filename2 is not None:
        return f"{err.filename} -> {err.filename2}: {reason}"
    if err.filename is not None:
        return f"{err.filename}: {reason}"
    return str(err) or reason
