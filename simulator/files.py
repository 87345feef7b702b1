"""Writing files so that they exist whole or not at all.

Every output of reddsim that may be read while or after it is written goes
through :func:`atomic_path`: the content is written to a new file created
exclusively beside the final one (a random name, ``O_EXCL``: an existing path,
or a symlink planted at a predictable name, is never followed), then renamed
over the final name. A failure removes the temporary file and leaves any
previous version untouched. :func:`install_directory` does the same for a whole
directory (a run directory, an imported project).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "write_text", "write_bytes", "install_directory"]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A fresh temporary path beside ``path``; renamed to ``path`` if the block succeeds.

    The temporary file is created exclusively (so nothing existing is opened or
    followed) with the final name's suffix (``np.savez`` and typst choose formats by
    suffix). Write to it by name inside the block.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("whole")
    >>> (d / "a.txt").read_text(), sorted(p.name for p in d.iterdir())
    ('whole', ['a.txt'])
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=f".partial{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 text to ``path`` atomically (:func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes to ``path`` atomically (:func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def install_directory(tmp: Path, final: Path, replace: bool = False) -> None:
    """Rename the complete directory ``tmp`` to ``final``.

    ``final`` may be absent or an empty directory; a non-empty ``final`` is replaced
    only with ``replace``, and then only after the new directory is in place: the old
    one is moved aside, ``tmp`` renamed in, and the old one deleted (if the rename
    fails, the old one is put back).

    Raises
    ------
    FileExistsError
        If ``final`` is a non-empty directory and ``replace`` is false.
    """
    tmp, final = Path(tmp), Path(final)
    if final.exists() and final.is_dir() and any(final.iterdir()):
        if not replace:
            raise FileExistsError(f"{final}: exists and is not empty")
        old = final.parent / f".replaced-{final.name}-{os.getpid()}"
        final.rename(old)
        try:
            tmp.rename(final)
        except BaseException:
            old.rename(final)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    tmp.rename(final)  # rename(2) replaces an empty directory
