"""What every ``reddsim`` command shares: the app, the consoles, errors, logging, progress.

Results go to stdout (``out``); progress, logs and errors to stderr (``err``). A
:class:`~simulator.errors.ReddsimError` becomes one line on stderr and exit code 2
(:func:`fail`).
"""

from __future__ import annotations

import json
import logging
import math
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from simulator.errors import ReddsimError, describe_os_error, one_line

__all__ = [
    "app",
    "err",
    "out",
    "RunArg",
    "USER_ERRORS",
    "fail",
    "configure_logging",
    "quiet_libraries",
    "Stages",
    "interrupt",
    "catch_interrupts",
    "stop_if_interrupted",
    "finite",
]


app = typer.Typer(
    help="Monte Carlo uncertainty simulator for REDD+ forest carbon credits.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

err = Console(stderr=True)

out = Console()

RunArg = Annotated[
    Path, typer.Argument(help="Run directory (holding run.toml) or the TOML file itself.")
]


#: What a command turns into one line and exit 2: reddsim's own errors and the operating
#: system's (a full disk, a read-only file system, a path that cannot be created).
USER_ERRORS = (ReddsimError, OSError)


def fail(error: Exception) -> None:
    """Print ``error`` as one line on stderr (control characters escaped) and exit 2."""
    text = describe_os_error(error) if isinstance(error, OSError) else str(error)
    err.print(f"[bold red]error:[/] {escape(one_line(text))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = RichHandler(console=err, show_time=False, show_path=False, markup=False)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    for name in ("simulator", "models"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler] if verbose else []
        lg.setLevel(level)
    quiet_libraries(verbose)


def quiet_libraries(verbose: bool) -> None:
    # PyMC announces every sampler start (and sets its logger's level when imported, so
    # this runs after the import); keep stderr for our own progress.
    for name in ("pymc", "pytensor", "arviz"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.ERROR)


class _WhenCounted(ProgressColumn):
    """A column shown only for a stage that reports how far it is (``Stages.advance``)."""

    def __init__(self, column: ProgressColumn):
        super().__init__()
        self.column = column

    def render(self, task):
        return self.column.render(task) if task.fields.get("counted") else ""


class Stages:
    """Progress of a run's stages on stderr: a spinner and elapsed time per stage.

    On a terminal each stage gets a live line (spinner while it runs, its time when
    done), and a stage that counts its work (the simulation, per chunk of futures) a
    bar and the time remaining; elsewhere (a pipe, a CI log) one plain line per stage
    as it starts.
    """

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.live = not quiet and err.is_terminal
        self.progress = (
            Progress(
                SpinnerColumn(finished_text="[green]✓[/]"),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                _WhenCounted(BarColumn(bar_width=24)),
                _WhenCounted(TextColumn("{task.completed:,.0f}/{task.total:,.0f}")),
                _WhenCounted(TimeRemainingColumn()),
                console=err,
            )
            if self.live
            else None
        )
        self.task = None
        self._sampling = None

    def __enter__(self):
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        self._finish()
        if self.progress is not None:
            self._chains("")
            self.progress.stop()

    def _chains(self, stage: str) -> None:
        """While a model samples, PyMC's table of its chains replaces the live lines."""
        if self._sampling is not None:
            self._sampling.__exit__(None, None, None)
            self._sampling = None
            self.progress.start()
        if stage.startswith("sampling "):
            from models.sampling import chain_progress  # PyMC: only when a model samples

            self.progress.stop()
            self._sampling = chain_progress()
            self._sampling.__enter__()

    def _finish(self):
        if self.task is not None:
            task = next(t for t in self.progress.tasks if t.id == self.task)
            done = task.total if task.fields.get("counted") else 1
            self.progress.update(self.task, total=done, completed=done)
            self.progress.stop_task(self.task)

    def __call__(self, stage: str) -> None:
        stop_if_interrupted()
        if self.quiet:
            return
        if self.progress is None:
            err.print(f"[dim]▸ {escape(stage)}[/]", highlight=False)
            return
        self._finish()
        self.task = self.progress.add_task(escape(stage), total=None)
        self._chains(stage)

    def advance(self, done: int, total: int) -> None:
        """The current stage has done ``done`` of ``total`` units (futures)."""
        stop_if_interrupted()
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, total=total, completed=done, counted=True)


#: Signals received (SIGINT, SIGTERM): a run stops at the next stage even if a library
#: swallowed the KeyboardInterrupt that :func:`interrupt` raised.
_RECEIVED: list[int] = []


def interrupt(signum, frame):
    """Signal handler: unwind the run (its partial output is then removed)."""
    _RECEIVED.append(signum)
    raise KeyboardInterrupt


def _unraisable(hook):
    """``sys.unraisablehook`` that is silent about the interrupt :func:`interrupt` raised.

    A signal that lands while C code is calling back into Python (numba's compiler notifies
    llvmlite's object cache through a ctypes callback) makes the ``KeyboardInterrupt`` raised
    there unraisable: Python prints it with a traceback and carries on. The signal is already
    recorded, so the run stops at its next stage; only the noise is dropped. Anything else
    goes to the previous hook.
    """

    def silent(unraisable):
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and _RECEIVED:
            return
        hook(unraisable)

    return silent


def catch_interrupts() -> None:
    """SIGINT and SIGTERM (Ctrl-C, a scheduler, ``kill``) unwind the command.

    Set explicitly, because a shell's background jobs start with SIGINT ignored.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, interrupt)
    if not getattr(sys.unraisablehook, "reddsim", False):
        sys.unraisablehook = _unraisable(sys.unraisablehook)
        sys.unraisablehook.reddsim = True


def stop_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if a signal arrived (checked at every stage)."""
    if _RECEIVED:
        raise KeyboardInterrupt


def finite(x):  # json default for numpy scalars
    value = float(x)
    return value if math.isfinite(value) else None


def json_text(doc) -> str:
    """``doc`` as indented JSON, a value that is not finite (NaN: not tracked) as ``null``.

    Examples
    --------
    >>> print(json_text({"a": float("nan"), "b": [1.5, float("inf")]}), end="")
    {
      "a": null,
      "b": [
        1.5,
        null
      ]
    }
    """

    def clean(x):
        if isinstance(x, float):
            return x if math.isfinite(x) else None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(doc), indent=2, allow_nan=False, default=finite) + "\n"
