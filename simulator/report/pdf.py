"""Compiling the appendix with typst, and rebuilding it from a finished run."""

from __future__ import annotations

import json
from pathlib import Path

import typst

from simulator.errors import OutputError
from simulator.files import atomic_path
from simulator.report.manifest import read_manifest

__all__ = ["compile_appendix", "rebuild_appendix"]


def compile_appendix(out: Path) -> Path:
    """Compile ``out/appendix.typ`` (reading ``appendix.json``) to ``appendix.pdf``.

    The PDF is written beside its final name and renamed into place, so an existing
    ``appendix.pdf`` is replaced only by a complete one.

    Raises
    ------
    OutputError
        If typst cannot compile the source (e.g. a file it reads is missing).
    """
    pdf = out / "appendix.pdf"
    try:
        with atomic_path(pdf) as partial:
            typst.compile(str(out / "appendix.typ"), output=str(partial), root=str(out))
    except typst.TypstError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise OutputError(f"{out / 'appendix.typ'}: typst cannot compile it: {first}") from err
    return pdf


def rebuild_appendix(run_dir: str | Path) -> Path:
    """Rebuild a run's ``appendix.pdf`` from its stored ``appendix.typ`` and ``appendix.json``.

    Nothing is re-run: the PDF shows the run's own numbers and figures, laid out by
    the template stored with the run.

    Parameters
    ----------
    run_dir : str or Path
        A run's output directory (``<run dir>/out/<run-id>`` or the ``--out`` of the run).

    Returns
    -------
    Path
        The rebuilt ``appendix.pdf``.

    Raises
    ------
    OutputError
        If ``run_dir`` is not a run directory, a stored file is missing or unreadable,
        the run's gates failed without an override, or typst fails.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise OutputError(f"{run_dir}: no such run directory")
    if not (run_dir / "manifest.json").is_file():
        raise OutputError(
            f"{run_dir}: not a reddsim run directory (no manifest.json); give the "
            "directory that `reddsim run` printed"
        )
    read_manifest(run_dir)  # a malformed manifest is refused, not rebuilt from
    for name in ("appendix.typ", "appendix.json"):
        if not (run_dir / name).is_file():
            raise OutputError(
                f"{run_dir / name}: missing; this run cannot be rebuilt without it "
                "(`reddsim verify` re-runs it from its manifest)"
            )
    try:
        doc = json.loads((run_dir / "appendix.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise OutputError(f"{run_dir / 'appendix.json'}: not readable JSON ({err})") from err
    gate = doc.get("gates") if isinstance(doc, dict) else None
    if isinstance(gate, dict) and not gate.get("passed", True) and not gate.get("override"):
        raise OutputError(
            f"{run_dir / 'appendix.json'}: the run's gates failed and were not overridden; "
            "re-run it as the gate's message says"
        )
    return compile_appendix(run_dir)
