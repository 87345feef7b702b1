"""Compiling the appendix with typst, and rebuilding it from a finished run.

typst confines a document's file reads to its root by path name only, so a
symlink inside the root would be read through. The appendix is therefore
compiled in a fresh directory holding copies of exactly the files it uses
(``appendix.typ``, ``appendix.json`` and ``figures/*.png``), each opened without
following symlinks and required to be a regular file; nothing else of the run
directory, or of anywhere else, can be read by the document.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

import typst

from simulator.errors import OutputError, describe_os_error
from simulator.files import atomic_path
from simulator.report.manifest import read_manifest

__all__ = ["MAX_SOURCE_BYTES", "compile_appendix", "rebuild_appendix"]

#: Largest ``appendix.typ``/``appendix.json``/figure a run writes is well under this.
MAX_SOURCE_BYTES = 64 * 2**20


def _read_regular(path: Path) -> bytes:
    """The bytes of ``path``, which must be a regular file and not a symlink."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as err:
        if path.is_symlink():
            raise OutputError(
                f"{path}: a symlink; the appendix reads only the run's own files"
            ) from err
        raise OutputError(f"{path}: cannot read it ({err.strerror})") from err
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OutputError(
                f"{path}: not a regular file; the appendix reads only the run's own files"
            )
        if info.st_size > MAX_SOURCE_BYTES:
            raise OutputError(f"{path}: {info.st_size:,} bytes, more than a run writes")
        return fh.read()


def _stage(out: Path, root: Path, data: str) -> None:
    """Copy the files the appendix uses from ``out`` into the empty ``root``."""
    for name in ("appendix.typ", data):
        (root / name).write_bytes(_read_regular(out / name))
    figures = out / "figures"
    if figures.is_symlink() or (figures.exists() and not figures.is_dir()):
        raise OutputError(
            f"{figures}: not a directory of the run; the appendix reads only the run's own files"
        )
    (root / "figures").mkdir()
    if figures.is_dir():
        for entry in sorted(figures.iterdir()):
            if entry.suffix == ".png":
                (root / "figures" / entry.name).write_bytes(_read_regular(entry))


def compile_appendix(out: Path, data: str = "appendix.json") -> Path:
    """Compile ``out/appendix.typ`` (reading ``data``, e.g. ``appendix.json``) to ``appendix.pdf``.

    The PDF is written beside its final name and renamed into place, so an existing
    ``appendix.pdf`` is replaced only by a complete one.

    Raises
    ------
    OutputError
        If typst cannot compile the source (e.g. a file it reads is missing).
    """
    pdf = out / "appendix.pdf"
    if pdf.is_dir() and not pdf.is_symlink():
        raise OutputError(f"{pdf}: a directory is in the way of the PDF; remove it")
    root = tempfile.mkdtemp(prefix="reddsim-typst-")
    try:
        _stage(out, Path(root), data)
        with atomic_path(pdf) as partial:
            typst.compile(str(Path(root) / "appendix.typ"), output=str(partial), root=root)
    except typst.TypstError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        first = first.replace(root, str(out))  # name the run's file, not the staged copy
        raise OutputError(f"{out / 'appendix.typ'}: typst cannot compile it: {first}") from err
    except OSError as err:
        raise OutputError(f"{pdf}: cannot write the appendix ({describe_os_error(err)})") from err
    finally:
        shutil.rmtree(root, ignore_errors=True)
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
        doc = json.loads(_read_regular(run_dir / "appendix.json").decode("utf-8"))
    except (ValueError, RecursionError) as err:
        raise OutputError(
            f"{run_dir / 'appendix.json'}: not readable JSON ({type(err).__name__})"
        ) from err
    gate = doc.get("gates") if isinstance(doc, dict) else None
    if isinstance(gate, dict) and not gate.get("passed", True) and not gate.get("override"):
        raise OutputError(
            f"{run_dir / 'appendix.json'}: the run's gates failed and were not overridden; "
            "re-run it as the gate's message says"
        )
    return compile_appendix(run_dir)
