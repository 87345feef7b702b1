"""Figures of the sensitivity stage: Sobol indices and sampling-effort planning."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

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


@styled
def fig_planning(path: Path, rows: list[dict], notes: dict) -> None:
    levers = list(dict.fromkeys(r["lever"] for r in rows))
    fig, axes = plt.subplots(1, len(levers), figsize=(4.5 * len(levers), 3.2), squeeze=False)
    for ax, lever in zip(axes[0], levers, strict=True):
        finite = [r for r in rows if r["lever"] == lever and r["added"] != "inf"]
        limit = next(r for r in rows if r["lever"] == lever and r["added"] == "inf")
        k = np.array([r["added"] for r in finite], dtype=float)
        u = np.array([r["uncertainty_pct"] for r in finite])
        se = np.array([r["uncertainty_pct_mcse"] for r in finite])
        x = np.maximum(k, 0.5)  # k = 0 on a log axis
        ax.errorbar(x, u, yerr=se, marker="o", ms=3, capsize=2, label="projected U")
        ax.axhline(limit["uncertainty_pct"], color="C7", ls="--", label="unlimited effort")
        ax.axhline(15, color="C3", ls=":", label="15% (no VCS deduction)")
        ax.set_xscale("log")
        ax.set_xlabel(f"added {lever.replace('_', ' ')} (0 plotted at 0.5)")
        ax.set_ylabel("uncertainty of total NER (%)")
        ax.legend(frameon=False, fontsize=7, loc="upper right")
    save(fig, path)
