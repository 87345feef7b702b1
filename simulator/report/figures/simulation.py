"""Figures of the simulated distribution: fan charts, total NER, MC convergence, waterfall."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from simulator.engine.streaming import Summary
from simulator.report.figures.style import save, styled

__all__ = ["fig_fan", "fig_total", "fig_convergence", "fig_waterfall"]


@styled
def fig_fan(path, fan: xr.Dataset, *, color: str, ylabel: str, title: str) -> None:
    """Per-year median, 50% and 90% intervals and mean of a simulated quantity."""
    years = fan["year"].values
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.fill_between(years, fan.q05, fan.q95, color=color, alpha=0.2, lw=0, label="90% interval")
    ax.fill_between(years, fan.q25, fan.q75, color=color, alpha=0.4, lw=0, label="50% interval")
    ax.plot(years, fan.q50, color=color, label="median")
    ax.plot(years, fan["mean"], color="k", ls="--", lw=1, label="mean")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.legend(frameon=False, fontsize=7, ncols=4, loc="lower center")
    ax.set_ylim(bottom=0)
    save(fig, path)


@styled
def fig_total(path, sim: Summary, summary: xr.Dataset) -> None:
    edges, counts, outside = sim["ner"].histogram(period=-1, bins=120)
    tot = summary.sel(period="total")
    fig, ax = plt.subplots(figsize=(8, 3.0))
    share = 100.0 * np.asarray(counts, dtype=float) / sim.n_draws  # % of futures per bin
    ax.stairs(share, edges / 1e6, fill=True, color="C2", alpha=0.7)
    for v, style, label in (
        (tot.ner_mean, "-", "mean"),
        (tot.ner_ci_low, "--", "90% CI"),
        (tot.ner_ci_high, "--", None),
    ):
        ax.axvline(float(v) / 1e6, color="k", ls=style, lw=1, label=label)
    ax.set_xlabel("total NER over the crediting period (MtCO2e)")
    width = float(edges[1] - edges[0]) / 1e6
    ax.set_ylabel(f"futures (% per {width:.3g} Mt bin)")
    beyond = f"; {outside:,} beyond the axis" if outside else ""
    ax.set_title(f"Total NER: {sim.n_draws:,} simulated futures{beyond}")
    ax.legend(frameon=False, fontsize=7, loc="upper left")
    save(fig, path)


@styled
def fig_convergence(path, sim: Summary, limit: float) -> None:
    """Total NER's mean and 90% bounds over the first n draws, relative to the final ones.

    ``limit``: the Monte Carlo gate's largest error over the mean (a fraction), shaded.
    """
    conv = sim.convergence
    n = conv["n"]
    final_mean = conv["mean"][-1]
    fig, ax = plt.subplots(figsize=(8, 3.0))
    band = 100 * limit
    ax.axhspan(-band, band, color="0.85", lw=0, label=f"±{band:g}% of the mean (gate)")
    for key, color, label in (
        ("ci_low", "C0", "5th percentile"),
        ("mean", "k", "mean"),
        ("ci_high", "C3", "95th percentile"),
    ):
        ax.plot(
            n,
            100 * (conv[key] - conv[key][-1]) / abs(final_mean),
            "o-",
            ms=3,
            color=color,
            label=label,
        )
    ax.set_xscale("log")
    ax.set_xlabel("draws")
    ax.set_ylabel("difference from final (% of mean)")
    ax.set_title(f"Monte Carlo convergence of total NER ({sim.n_draws:,} draws)")
    ax.legend(frameon=False, fontsize=7, ncols=4, loc="lower right")
    save(fig, path)


@styled
def fig_waterfall(path, summary: xr.Dataset) -> None:
    tot = summary.sel(period="total")
    steps = [
        ("baseline", float(tot.baseline)),
        ("project", -float(tot.project)),
        ("leakage", -float(tot.leakage)),
        ("uncertainty\ndeduction", -float(tot.uncertainty_deduction)),
        ("buffer", -float(tot.buffer)),
    ]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    level, top = 0.0, 0.0
    for i, (_, delta) in enumerate(steps):
        colour = "C0" if delta >= 0 else "C3"
        ax.bar(i, delta / 1e6, bottom=level / 1e6, color=colour)
        # each bar's value (tCO2e, signed as it enters) above its top
        upper = max(level, level + delta)
        ax.text(i, upper / 1e6, f"{delta:+,.0f}", ha="center", va="bottom", fontsize=8)
        level += delta
        top = max(top, upper)
    ax.bar(len(steps), level / 1e6, color="C2")
    ax.text(
        len(steps), max(level, 0.0) / 1e6, f"{level:,.0f}", ha="center", va="bottom", fontsize=8
    )
    ax.set_ylim(min(0.0, level / 1e6) * 1.1, top / 1e6 * 1.12)  # room for the labels
    ax.set_xticks(range(len(steps) + 1), [s[0] for s in steps] + ["credits"])
    ax.set_ylabel("MtCO2e over the period (labels: tCO2e)")
    ax.set_title("From baseline emissions to issuable credits (means)")
    save(fig, path)
