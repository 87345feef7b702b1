"""Figures of the sensitivity stage: Sobol indices and sampling-effort planning."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import xarray as xr

from simulator.accounting.standards import STANDARDS
from simulator.report.figures.style import save, styled

__all__ = ["fig_sensitivity", "fig_planning"]


@styled
def fig_sensitivity(path: Path, ind: xr.Dataset, notes: dict) -> None:
    labels = [str(v) for v in ind["label"].values]
    y = np.arange(len(labels))[::-1]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 0.32 * len(labels) + 1.4), sharey=True)
    ax1.barh(y + 0.2, ind.s1, 0.4, xerr=ind.s1_conf, label="first order S1", color="C0")
    ax1.barh(y - 0.2, ind.st, 0.4, xerr=ind.st_conf, label="total ST", color="C1")
    ax1.set_yticks(y, labels)
    ax1.set_xlabel(f"Sobol index of total NER ({notes['index_confidence']:.0%} CI)")
    ax1.axvline(0, color="k", lw=0.5)
    ax1.legend(loc="lower right", frameon=False)
    u_all = notes["u_all_pct"]
    ax2.barh(y + 0.2, ind.u_only_pct, 0.4, label="only this group varies", color="C2")
    ax2.barh(y - 0.2, ind.u_fixed_pct, 0.4, label="this group fixed", color="C7")
    ax2.axvline(u_all, color="k", lw=0.8, ls="--", label=f"all vary ({u_all:.1f}%)")
    ax2.axvline(15, color="C3", lw=0.8, ls=":", label="15% (no VCS deduction)")
    ax2.set_xlabel(f"uncertainty of total NER (% of mean, {notes['confidence']:.0%} CI)")
    ax2.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False, fontsize=7)
    save(fig, path)


#: The added effort of each planning lever, as the x axis names it.
PLANNING_AXES = {
    "plots": "added field plots per stratum",
    "accuracy_points": "added accuracy points per stratum and year",
}


def _no_deduction_up_to(standard_key: str | None) -> float | None:
    """The largest U (%) the standard deducts nothing for, or None if it always deducts."""
    std = STANDARDS.get(standard_key or "")
    if std is None:
        return None
    grid = np.linspace(0.0, 2.0, 20_001)
    free = std.rule(grid) == 0
    return 100.0 * float(grid[free].max()) if free[0] and not free.all() else None


@styled
def fig_planning(path: Path, rows: list[dict], notes: dict) -> None:
    """Projected U and credits gained against added effort: the planning table's numbers."""
    levers = list(dict.fromkeys(r["lever"] for r in rows))
    threshold = _no_deduction_up_to(notes.get("standard"))
    std = STANDARDS.get(notes.get("standard") or "")
    centre = std.relative_to if std is not None else "mean"
    fig, axes = plt.subplots(
        2, len(levers), figsize=(4.6 * len(levers), 5.8), squeeze=False, sharex="col"
    )
    for j, lever in enumerate(levers):
        ax_u, ax_c = axes[0, j], axes[1, j]
        finite = [r for r in rows if r["lever"] == lever and r["added"] != "inf"]
        limit = next(r for r in rows if r["lever"] == lever and r["added"] == "inf")
        k = np.array([r["added"] for r in finite], dtype=float)
        u = np.array([r["uncertainty_pct"] for r in finite])
        se = np.array([r["uncertainty_pct_mcse"] for r in finite])
        gained = np.array([r["credits_gained"] for r in finite])
        ax_u.errorbar(k, u, yerr=se, marker="o", ms=3, capsize=2, label="projected U ± MC s.e.")
        ax_u.plot(k[:1], u[:1], "s", color="k", ms=5, label=f"this run ({u[0]:.2f}%)")
        ax_u.axhline(
            limit["uncertainty_pct"],
            color="C7",
            ls="--",
            label=f"unlimited effort ({limit['uncertainty_pct']:.2f}%)",
        )
        if threshold is not None and threshold >= limit["uncertainty_pct"] - 1.0:
            ax_u.axhline(threshold, color="C3", ls=":", label=f"{threshold:g}% (no deduction)")
        elif threshold is not None:
            ax_u.plot([], [], " ", label=f"no deduction at U ≤ {threshold:g}% (off scale)")
        ax_u.set_ylabel(f"U of total NER (%)\n{notes['confidence']:.0%} half-width / {centre}")
        ax_u.legend(
            frameon=False, fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2
        )
        ax_c.plot(k, gained, marker="o", ms=3, color="C2", label="projected")
        ax_c.axhline(
            limit["credits_gained"],
            color="C7",
            ls="--",
            label=f"unlimited effort ({limit['credits_gained']:,.0f})",
        )
        ax_c.set_ylabel("credits gained over the run\n(tCO2e)")
        ax_c.yaxis.set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))
        ax_c.set_xscale("symlog", linthresh=1.0, linscale=0.5)
        ax_c.set_xlim(left=-0.4)
        ax_c.xaxis.set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))
        ax_c.set_xlabel(f"{PLANNING_AXES.get(lever, 'added ' + lever)}\n(symmetric log scale)")
        ax_c.legend(frameon=False, fontsize=7, loc="lower right")
    save(fig, path)
