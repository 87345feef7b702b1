"""Sampler diagnostics figures: rank histograms of the gated parameters.

The rank plots are the report's slowest figures (an effective sample size per
parameter for the thinning, then many panels), and they need only ``posterior.nc``.
:func:`rank_figures` therefore draws them in a separate Python process
(:data:`_CHILD`; by hand, ``python -m simulator.report.figures.sampling POSTERIOR
FIGDIR JSON``, the JSON holding ``{"gated": ..., "titles": ...}``) while the run
writes its other outputs, and collects them before the PDF is compiled. The process
reads the very draws the run wrote (NetCDF round-trips float64 exactly), so the
figures are those :func:`fig_rank` would draw in the run's own process. A subprocess
rather than :mod:`multiprocessing`, because a Dask worker (a batch member) may not
start child processes of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from arviz_base.labels import BaseLabeller
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy import stats

from simulator.report.figures.style import styled
from simulator.report.labels import parameter_label

__all__ = [
    "BAND_PROB",
    "draw_rank_figures",
    "fig_rank",
    "rank_bins",
    "rank_figure_path",
    "rank_figures",
    "rank_histograms",
    "rank_panels",
    "rank_titles",
    "uniform_band",
]

#: Probability that one bin's count of one chain falls inside the band if the ranks
#: are uniform.
BAND_PROB = 0.99

#: Most bins of a rank histogram, and the fewest draws of a chain a bin should expect.
MAX_BINS = 20
MIN_PER_BIN = 10

#: Width of one panel (inches) and panels per row: a row of four is the appendix's
#: full text width.
PANEL_WIDTH = 2.5
PER_ROW = 4

_FONT = 10.5  # printed at about 7 pt: a 10-inch row is shown at the text width (17 cm)


def rank_bins(n_per_chain: int) -> int:
    """Bins of a rank histogram of chains of ``n_per_chain`` draws.

    :data:`MAX_BINS`, fewer when a bin would expect fewer than :data:`MIN_PER_BIN`
    draws of a chain (at least one bin).
    """
    return max(1, min(MAX_BINS, n_per_chain // MIN_PER_BIN))


def rank_histograms(draws: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-chain histograms of the pooled ranks of ``draws`` (chain × draw).

    All chains' draws are ranked together (:func:`scipy.stats.rankdata`, ties given
    their average rank), 1 to N; bin ``k`` holds the ranks in
    ``[0.5 + k N / bins, 0.5 + (k + 1) N / bins)``, so each bin spans the same share of
    the ranks (the same number of them when ``bins`` divides N, else one more or less).
    Returns the counts (chain × bins) and the bin edges, in rank units.
    """
    draws = np.asarray(draws, dtype=float)
    if draws.ndim != 2:
        raise ValueError(f"draws must be chain × draw, not of shape {draws.shape}")
    ranks = stats.rankdata(draws, method="average", axis=None).reshape(draws.shape)
    edges = 0.5 + draws.size * np.arange(bins + 1) / bins
    counts = np.stack([np.histogram(chain, bins=edges)[0] for chain in ranks])
    return counts, edges


def uniform_band(
    n_per_chain: int, bins: int, prob: float = BAND_PROB
) -> tuple[float, float, float]:
    """``(low, expected, high)``: one bin's count of one chain if the ranks are uniform.

    A chain of ``n_per_chain`` draws puts Binomial(``n_per_chain``, 1/``bins``) of them
    in a bin; ``low`` and ``high`` are that distribution's ``(1 - prob) / 2`` and
    ``(1 + prob) / 2`` quantiles, so the band ``[low, high]`` holds a bin's count with
    probability at least ``prob`` (the count is discrete). This is the band of the
    rank histograms of simulation-based calibration (Talts, Betancourt, Simpson,
    Vehtari & Gelman 2018, "Validating Bayesian inference algorithms with
    simulation-based calibration", arXiv:1804.06788: the 99% interval of
    Binomial(N, 1/B) per bin, N draws in B bins). It is pointwise: about one bin in a hundred falls
    outside by chance. Ranks pooled over a few chains are drawn without replacement,
    so a chain's count is in fact hypergeometric, a little narrower: the binomial band
    errs towards passing a healthy chain.
    """
    tail = (1 - prob) / 2
    low, high = stats.binom.ppf([tail, 1 - tail], n_per_chain, 1 / bins)
    return float(low), n_per_chain / bins, float(high)


def rank_panels(posterior: xr.Dataset, var_names: list[str]) -> Iterator[tuple[str, xr.DataArray]]:
    """Each scalar of ``var_names``: its code name as ArviZ names it, and its draws.

    The code name is that of :func:`arviz.summary`'s rows (``mu_stratum[terra_firme]``,
    ``sigma``), the key of a panel's title.
    """
    labeller = BaseLabeller()
    for var, sel, isel in az.xarray_sel_iter(
        posterior[var_names], var_names=var_names, skip_dims={"chain", "draw"}
    ):
        draws = posterior[var].sel(sel).transpose("chain", "draw")
        yield labeller.make_label_flat(var, sel, isel), draws


def rank_titles(
    trees: Mapping[str, xr.DataTree], gated: dict[str, list[str]], strata: dict[str, str]
) -> dict[str, str]:
    """Title of each rank panel of each model: its :func:`~simulator.report.labels.parameter_label`.

    ``trees`` are the posteriors by model, ``gated`` the parameters each rank plot shows
    and ``strata`` the strata's display names (:func:`simulator.report.labels.strata_labels`).
    """
    return {
        code: parameter_label(code, strata)
        for model, var_names in gated.items()
        for code, _ in rank_panels(trees[model].posterior.to_dataset(), var_names)
    }


def _wrap(title: str, width: int = 27) -> str:
    """``title`` on lines of about ``width`` characters, not breaking inside parentheses."""
    kept = re.sub(r"\([^)]*\)", lambda m: m.group().replace(" ", "\N{NO-BREAK SPACE}"), title)
    return "\n".join(textwrap.wrap(kept, width=width, break_long_words=False))


def _row_major(items: list, ncols: int) -> list:
    """``items`` reordered so that a legend of ``ncols`` columns (filled column by column)
    shows them row by row."""
    rows = [items[i : i + ncols] for i in range(0, len(items), ncols)]
    return [row[c] for c in range(ncols) for row in rows if c < len(row)]


@styled
def fig_rank(
    path: Path,
    tree: xr.DataTree,
    var_names: list[str],
    titles: dict[str, str] | None = None,
) -> None:
    """Rank histograms of ``var_names`` of a model's posterior, one panel per scalar.

    The rank plots of Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021),
    "Rank-normalization, folding, and localization: an improved R-hat for assessing
    convergence of MCMC", Bayesian Analysis 16(2), 667-718: each panel
    pools the draws of all chains of one scalar, ranks them and shows per chain the
    histogram of its ranks (:func:`rank_histograms`) as a step line. Chains that sample
    the same distribution have uniform ranks: their counts stay near the expected count
    (dashed) and inside the shaded band of :func:`uniform_band`; a chain stuck in part
    of the distribution piles its ranks up at one end.

    The draws are first thinned as ArviZ's rank plot does, with :func:`arviz.thin` at
    its default factor (from the bulk and tail ESS of ``var_names``, one factor for the
    figure), because autocorrelated draws scatter more than the band allows for
    independent ones. ``titles`` maps a panel's code name (:func:`rank_panels`) to its
    title; a panel without one keeps its code name.
    """
    posterior = tree.posterior.to_dataset()[var_names]
    factor = posterior.azstats.thin_factor()
    thinned = az.thin(posterior, factor=factor)
    n_chains, n_draws = thinned.sizes["chain"], thinned.sizes["draw"]
    bins = rank_bins(n_draws)
    low, expected, high = uniform_band(n_draws, bins)
    panels = [
        (code, *rank_histograms(draws.values, bins))
        for code, draws in rank_panels(thinned, var_names)
    ]
    counts = np.stack([c for _, c, _ in panels])
    span = max(high, counts.max()) - min(low, counts.min())
    ylim = (max(0.0, min(low, counts.min()) - 0.08 * span), max(high, counts.max()) + 0.08 * span)

    cols = min(PER_ROW, len(panels))
    rows = -(-len(panels) // PER_ROW)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(PANEL_WIDTH * cols, 2.7 * rows + 0.55),
        squeeze=False,
        layout="constrained",
    )
    colours = [f"C{i % 10}" for i in range(n_chains)]
    for ax, (code, chain_counts, edges) in zip(axes.flat, panels, strict=False):
        ax.axhspan(low, high, color="0.86", linewidth=0, zorder=0)
        ax.axhline(expected, color="0.3", linestyle="--", linewidth=0.9, zorder=1)
        for chain, colour in zip(chain_counts, colours, strict=True):
            ax.stairs(chain, edges, baseline=None, color=colour, linewidth=1.2, zorder=2)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(*ylim)
        ax.set_title(_wrap((titles or {}).get(code, code)), fontsize=_FONT)
        ax.set_xlabel("rank (all chains pooled)", fontsize=_FONT)
        ax.set_ylabel("draws per bin", fontsize=_FONT)
        ax.tick_params(labelsize=_FONT - 0.5)
        ax.xaxis.set_major_locator(plt.MaxNLocator(4, integer=True))
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)

    handles = [Line2D([], [], color=c, linewidth=1.5) for c in colours]
    names = [f"chain {i + 1}" for i in range(n_chains)]
    handles += [Patch(color="0.86"), Line2D([], [], color="0.3", linestyle="--", linewidth=0.9)]
    names += [f"{BAND_PROB:.0%} band if ranks are uniform", "expected count"]
    kept = "all kept" if factor == 1 else f"1 in {factor} kept"
    ncols = {1: 1, 2: 2}.get(cols, len(names))
    fig.legend(
        _row_major(handles, ncols),
        _row_major(names, ncols),
        loc="outside upper center",
        ncols=ncols,
        fontsize=_FONT,
        frameon=False,
        title=_wrap(
            f"{n_chains} chains × {n_draws:,} draws ({kept}), {bins} bins per panel", 30 * cols
        ),
        title_fontsize=_FONT,
    )
    fig.savefig(path)
    plt.close(fig)


def rank_figure_path(figdir: Path, model: str) -> Path:
    """Where the rank plot of ``model`` is written."""
    return figdir / f"rank_{model}.png"


def draw_rank_figures(
    posterior: Path,
    figdir: Path,
    gated: dict[str, list[str]],
    titles: dict[str, str] | None = None,
) -> None:
    """Rank plot of each model's gated parameters, from a run's ``posterior.nc``.

    ``titles``: each panel's title by its code name (:func:`fig_rank`).
    """
    with xr.open_datatree(posterior, engine="h5netcdf") as tree:
        for model, var_names in gated.items():
            fig_rank(rank_figure_path(figdir, model), tree[model].load(), var_names, titles)


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
    """``POSTERIOR FIGDIR JSON``: :func:`draw_rank_figures` from the command line.

    ``JSON`` is ``{"gated": {model: [parameter, ...]}, "titles": {code name: title}}``
    (``"titles"`` optional).
    """
    spec = json.loads(argv[2])
    draw_rank_figures(Path(argv[0]), Path(argv[1]), spec["gated"], spec.get("titles"))


@contextlib.contextmanager
def rank_figures(
    posterior: Path,
    figdir: Path,
    gated: dict[str, list[str]],
    titles: dict[str, str] | None = None,
):
    """Draw the rank plots of ``posterior.nc`` into ``figdir`` while the block runs.

    ``gated`` lists each model's parameters, ``titles`` gives each panel's title by its
    code name (:func:`rank_titles`); both reach the process as JSON on its command line.
    On leaving the block normally it waits for them, and a failure of the process
    is raised, with its last line; warnings the process printed are warned here
    (they are the run's). If the block raises, the process is killed.
    """
    # the child imports this package from where this process found it (``-c`` puts its
    # working directory first on its path, hence that directory and absolute paths)
    root = str(Path(__file__).resolve().parents[3])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    files = [str(Path(posterior).resolve()), str(Path(figdir).resolve())]
    spec = json.dumps({"gated": gated, "titles": titles or {}})
    process = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(os.getpid()), *files, spec],
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
