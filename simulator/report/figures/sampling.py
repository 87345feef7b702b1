"""Sampler diagnostics figures: rank plots of the gated parameters.

The rank plots are the report's slowest figures (ArviZ's multi-chain uniformity
test, then many panels), and they need only ``posterior.nc``. :func:`rank_figures`
therefore draws them in a separate Python process (:data:`_CHILD`; by hand,
``python -m simulator.report.figures.sampling POSTERIOR FIGDIR GATED_JSON``) while
the run writes its other outputs, and collects them before the PDF is compiled. The process
reads the very draws the run wrote (NetCDF round-trips float64 exactly), so the
figures are those :func:`fig_rank` would draw in the run's own process. A subprocess
rather than :mod:`multiprocessing`, because a Dask worker (a batch member) may not
start child processes of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from simulator.report.figures.style import styled

__all__ = ["draw_rank_figures", "fig_rank", "rank_figures"]


@styled
def fig_rank(path: Path, tree: xr.DataTree, var_names: list[str]) -> None:
    # Thinned: autocorrelated NUTS draws make the unthinned uniformity test flag healthy chains.
    panels = sum(int(np.prod(tree.posterior[v].shape[2:])) for v in var_names)
    rows = -(-panels // 4)
    size = (10, 2.6 * rows) if panels > 1 else (5, 2.6)
    pc = az.plot_rank(
        tree,
        var_names=var_names,
        thin=True,
        figure_kwargs={"figsize": size, "layout": "constrained"},
    )
    pc.savefig(str(path))
    plt.close("all")


def rank_figure_path(figdir: Path, model: str) -> Path:
    """Where the rank plot of ``model`` is written."""
    return figdir / f"rank_{model}.png"


def draw_rank_figures(posterior: Path, figdir: Path, gated: dict[str, list[str]]) -> None:
    """Rank plot of each model's gated parameters, from a run's ``posterior.nc``."""
    with xr.open_datatree(posterior, engine="h5netcdf") as tree:
        for model, var_names in gated.items():
            fig_rank(rank_figure_path(figdir, model), tree[model].load(), var_names)


#: The rank-figure process: it exits as soon as the process that started it is gone
#: (a run killed with SIGKILL, a lost Dask worker), watching from before its imports,
#: so that it cannot write into the dead run's partial directory while the next run
#: of that configuration removes it.
_CHILD = """\
import os, sys, threading, time
def watch(parent):
    while os.getppid() == parent:
        time.sleep(0.1)
    os._exit(1)
threading.Thread(target=watch, args=(int(sys.argv[1]),), daemon=True).start()
from simulator.report.figures.sampling import main
main(sys.argv[2:])
"""


def main(argv: list[str]) -> None:
    """``POSTERIOR FIGDIR GATED_JSON``: :func:`draw_rank_figures` from the command line."""
    draw_rank_figures(Path(argv[0]), Path(argv[1]), json.loads(argv[2]))


@contextlib.contextmanager
def rank_figures(posterior: Path, figdir: Path, gated: dict[str, list[str]]):
    """Draw the rank plots of ``posterior.nc`` into ``figdir`` while the block runs.

    On leaving the block normally it waits for them, and a failure of the process
    is raised, with its last line; warnings the process printed are warned here
    (they are the run's). If the block raises, the process is killed.
    """
    # the child imports this package from where this process found it (``-c`` puts its
    # working directory first on its path, hence that directory and absolute paths)
    root = str(Path(__file__).resolve().parents[3])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    files = [str(Path(posterior).resolve()), str(Path(figdir).resolve())]
    process = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(os.getpid()), *files, json.dumps(gated)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": path},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield [rank_figure_path(figdir, model) for model in gated]
    except BaseException:
        process.kill()
        process.communicate()
        raise
    _, stderr = process.communicate()
    lines = [line for line in stderr.splitlines() if line.strip()]
    if process.returncode != 0:
        raise RuntimeError(f"rank figures: {lines[-1] if lines else 'no message'}")
    for line in lines:
        warnings.warn(f"rank figures: {line}", RuntimeWarning, stacklevel=3)


if __name__ == "__main__":
    main(sys.argv[1:])
