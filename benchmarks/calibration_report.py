"""Figures, JSON and markdown of a calibration study (:mod:`benchmarks.calibration`)."""

from __future__ import annotations

import json
import platform
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from benchmarks.calibration import (  # noqa: E402
    ALPHA,
    BINS,
    LEVELS,
    MISSPECIFICATIONS,
    NER_DRAWS,
    RANK_DRAWS,
    REPLICATIONS,
    Study,
    coverage_table,
    ecdf_band,
    ecdf_uniformity,
    misspecified_coverage_table,
    sbc_table,
)

__all__ = [
    "write_report",
    "load_study",
    "plot_ranks",
    "plot_ecdf",
    "plot_coverage",
    "plot_misspecified_coverage",
]

N_VALUES = RANK_DRAWS + 1


def _grid(n: int):
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    width = max(3.2 * cols, 7.5)  # room for the title above a single panel
    fig, axes = plt.subplots(rows, cols, figsize=(width, 2.4 * rows + 0.4), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def _title(fig, text: str) -> None:
    """Figure title wrapped to the figure's width (about 13 characters per inch at 9 pt)."""
    fig.suptitle(textwrap.fill(text, int(fig.get_figwidth() * 13)), fontsize=9)


def plot_ranks(study: Study, model: str, path: Path) -> None:
    """Rank histograms (BINS bins) with the expected count and its 99% pointwise band."""
    table = {row["quantity"]: row for row in sbc_table(study, model)}
    labels = list(study.ranks[model])
    fig, axes = _grid(len(labels))
    for ax, label in zip(axes, labels, strict=False):
        r = np.asarray(study.ranks[model][label])
        n = r.size
        lo, hi = stats.binom(n, 1 / BINS).ppf([ALPHA / 2, 1 - ALPHA / 2])
        ax.axhspan(lo, hi, color="0.85", lw=0)
        ax.axhline(n / BINS, color="0.4", lw=1)
        ax.hist(r, bins=np.linspace(0, N_VALUES, BINS + 1), color="C0", edgecolor="white")
        row = table[label]
        ax.set_title(f"{label}\nchi2 p={row['p_chi2']:.3f}, ECDF p={row['p_ecdf']:.3f}", fontsize=8)
        ax.set_xlim(0, N_VALUES)
        ax.tick_params(labelsize=7)
    _title(
        fig,
        f"SBC rank histograms, {model} model ({len(study.ranks[model][labels[0]])} data sets, "
        f"ranks among {RANK_DRAWS} draws); grey: 99% pointwise band",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_ecdf(study: Study, model: str, path: Path) -> None:
    """ECDF of fractional ranks minus the uniform CDF, with the test's simultaneous band."""
    labels = list(study.ranks[model])
    prob = 1 - ALPHA / (2 * len(labels))
    fig, axes = _grid(len(labels))
    n = len(study.ranks[model][labels[0]])
    z, lower, upper = ecdf_band(n, N_VALUES, prob)
    for ax, label in zip(axes, labels, strict=False):
        r = np.asarray(study.ranks[model][label])
        ecdf = np.array([np.mean(r < j) for j in range(1, N_VALUES)])
        ax.fill_between(z, lower - z, upper - z, color="0.85", lw=0, step="mid")
        ax.plot(z, ecdf - z, color="C0", lw=1.2, drawstyle="steps-mid")
        ax.axhline(0, color="0.4", lw=0.8)
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=7)
    _title(
        fig,
        f"SBC ECDF difference, {model} model; grey: {100 * prob:.2f}% simultaneous band "
        "(Säilynoja et al. 2022, Bonferroni over quantities and tests)",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_coverage(study: Study, path: Path) -> None:
    """PIT of the true total NER in its simulated distribution, and interval coverage."""
    pit = np.asarray(study.ner_pit)
    n = pit.size
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    # PIT on the 1/N_VALUES grid: the same band as the ranks'
    ranks = np.minimum((pit * N_VALUES).astype(int), N_VALUES - 1)
    z, lower, upper = ecdf_band(n, N_VALUES, 1 - ALPHA)
    ecdf = np.array([np.mean(ranks < j) for j in range(1, N_VALUES)])
    ax1.fill_between(z, lower - z, upper - z, color="0.85", lw=0, step="mid")
    ax1.plot(z, ecdf - z, color="C0", drawstyle="steps-mid")
    ax1.axhline(0, color="0.4", lw=0.8)
    ax1.set_xlabel("PIT of true total NER")
    ax1.set_ylabel("ECDF - uniform")
    ax1.set_title(
        f"PIT ECDF (n={n}), 99% simultaneous band, p={ecdf_uniformity(ranks, N_VALUES):.3f}",
        fontsize=9,
    )
    rows = coverage_table(study)
    for i, row in enumerate(rows):
        lo, hi = row["accept_low"] / row["n"], row["accept_high"] / row["n"]
        ax2.plot([i - 0.3, i + 0.3], [row["level"]] * 2, color="0.3", lw=1)
        ax2.fill_between([i - 0.3, i + 0.3], lo, hi, color="0.85", lw=0)
        ax2.errorbar(
            i,
            row["rate"],
            yerr=[[row["rate"] - row["rate_ci99_low"]], [row["rate_ci99_high"] - row["rate"]]],
            fmt="o",
            color="C0",
            capsize=4,
        )
    ax2.set_xticks(range(len(rows)), [f"{row['level']:.0%} ({row['standard']})" for row in rows])
    ax2.set_ylabel("coverage of true total NER")
    ax2.set_title("coverage, 99% Clopper-Pearson CI; grey: 99% acceptance", fontsize=9)
    ax2.set_xlim(-0.6, len(rows) - 0.4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_misspecified_coverage(rows: list[dict], path: Path) -> None:
    """Coverage per misspecified scenario beside the well-specified chain, per level.

    ``rows``: :func:`benchmarks.calibration.misspecified_coverage_table`. Each scenario's
    coverage with its 99% Clopper-Pearson CI, the well-specified coverage on the same
    replications (open marker), the nominal level and its 99% acceptance region.
    """
    levels = sorted({r["level"] for r in rows})
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    fig, axes = plt.subplots(1, len(levels), figsize=(4.6 * len(levels), 3.6), squeeze=False)
    for ax, level in zip(axes.flat, levels, strict=True):
        sel = [r for r in rows if r["level"] == level]
        n = sel[0]["n"]
        ax.axhspan(sel[0]["accept_low"] / n, sel[0]["accept_high"] / n, color="0.88", lw=0)
        ax.axhline(level, color="0.3", lw=1)
        for i, r in enumerate(sel):
            ax.errorbar(
                i,
                r["rate"],
                yerr=[[r["rate"] - r["rate_ci99_low"]], [r["rate_ci99_high"] - r["rate"]]],
                fmt="o",
                color="C3",
                capsize=4,
                label="misspecified (99% CI)" if i == 0 else None,
            )
            ax.plot(
                i + 0.15,
                r["well_specified_rate"],
                "o",
                mfc="none",
                color="C0",
                label="well specified, same replications" if i == 0 else None,
            )
        ax.set_xticks(range(len(scenarios)), [sc.replace("_", "\n") for sc in scenarios])
        ax.set_xlim(-0.5, len(scenarios) - 0.5)
        ax.set_ylabel("coverage of true total NER")
        ax.set_title(f"{level:.0%} interval ({sel[0]['standard']}), n={n}", fontsize=9)
        ax.tick_params(labelsize=8)
    axes.flat[0].legend(fontsize=7, loc="lower left")
    _title(fig, "Coverage under misspecification; grey: 99% acceptance region of the nominal level")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _diagnostics_summary(diagnostics: dict) -> dict:
    out = {}
    for model, d in diagnostics.items():
        rhat = np.asarray(d["max_r_hat"])
        ess = np.asarray(d["min_ess_bulk"])
        div = np.asarray(d["divergences"])
        out[model] = {
            "fits": int(rhat.size),
            "fits_with_divergences": int(np.sum(div > 0)),
            "fits_r_hat_above_1.01": int(np.sum(rhat > 1.01)),
            "fits_r_hat_above_1.05": int(np.sum(rhat > 1.05)),
            "max_r_hat": float(rhat.max()),
            "min_ess_bulk_median": float(np.median(ess)),
            "min_ess_bulk_min": float(ess.min()),
            "fits_min_ess_bulk_below_rank_draws": int(np.sum(ess < RANK_DRAWS)),
            # the run's own sampler gate: R-hat <= 1.01, bulk and tail ESS >= 400, no divergences
            "fits_passing_gate": int(np.sum(d.get("passed", []))),
            # failed with R-hat <= 1.01 and no divergences: by bulk or tail ESS < 400 alone
            "fits_failing_gate_on_ess_only": int(
                np.sum(~np.asarray(d.get("passed", []), dtype=bool) & (rhat <= 1.01) & (div == 0))
            ),
        }
    return out


def _pit_ranks(pit) -> np.ndarray:
    """PIT values on the rank grid 0..RANK_DRAWS (the ranks' ECDF test applies)."""
    return np.minimum((np.asarray(pit) * (RANK_DRAWS + 1)).astype(int), RANK_DRAWS)


def load_study(path: Path) -> Study:
    """The :class:`Study` saved in a ``calibration.json`` (to redraw without refitting)."""
    saved = json.loads(Path(path).read_text())["study"]
    saved["intervals"] = {float(k): [tuple(b) for b in v] for k, v in saved["intervals"].items()}
    for res in saved.get("misspecified", {}).values():
        res["intervals"] = {float(k): [tuple(b) for b in v] for k, v in res["intervals"].items()}
    return Study(**saved)


def write_report(study: Study, out: Path, command: str | None = None) -> str:
    """Write figures, ``calibration.json`` and ``calibration.md`` to ``out``; return the md.

    ``command`` is the command that ran the study (default: this process's).
    """
    out.mkdir(parents=True, exist_ok=True)
    sbc = {model: sbc_table(study, model) for model in study.ranks}
    cov = coverage_table(study)
    for model in study.ranks:
        plot_ranks(study, model, out / f"sbc_{model}_ranks.png")
        plot_ecdf(study, model, out / f"sbc_{model}_ecdf.png")
    plot_coverage(study, out / "coverage_ner.png")
    mis = misspecified_coverage_table(study) if study.misspecified else []
    if mis:
        plot_misspecified_coverage(mis, out / "coverage_misspecified.png")
    pit = _pit_ranks(study.ner_pit)
    statuses = {s: study.status.count(s) for s in sorted(set(study.status))}
    doc = {
        "command": command or " ".join(["python -m benchmarks.calibration", *sys.argv[1:]]),
        "replications": study.replications,
        "replications_default": REPLICATIONS,
        "seed": study.seed,
        "samplers": study.samplers,
        "rank_draws": RANK_DRAWS,
        "bins": BINS,
        "alpha": ALPHA,
        "ner_draws": NER_DRAWS,
        "levels": {str(k): v for k, v in LEVELS.items()},
        "seconds": study.seconds,
        "python": platform.python_version(),
        "sbc": sbc,
        "sbc_passed": {m: all(r["passed"] for r in rows) for m, rows in sbc.items()},
        "diagnostics": _diagnostics_summary(study.diagnostics),
        "whole_chain_status": statuses,
        "coverage": cov,
        "ner_pit_ecdf_p": ecdf_uniformity(pit, RANK_DRAWS + 1) if pit.size else None,
        "misspecifications": {
            k: {"model": m, "data": d} for k, (m, d) in MISSPECIFICATIONS.items()
        },
        "misspecified_coverage": mis,
        "misspecified_diagnostics": _diagnostics_summary(
            {k: v["diagnostics"] for k, v in study.misspecified.items()}
        ),
        "misspecified_status": {
            k: {s: v["status"].count(s) for s in sorted(set(v["status"]))}
            for k, v in study.misspecified.items()
        },
        "misspecified_ner_pit_ecdf_p": {
            k: ecdf_uniformity(_pit_ranks(v["ner_pit"]), RANK_DRAWS + 1)
            for k, v in study.misspecified.items()
            if v["ner_pit"]
        },
        "study": {k: v for k, v in asdict(study).items() if k not in ("intervals",)}
        | {"intervals": {str(k): v for k, v in study.intervals.items()}},
    }
    (out / "calibration.json").write_text(json.dumps(doc, indent=1) + "\n")
    md = _markdown(doc)
    (out / "calibration.md").write_text(md)
    return md


def _markdown(doc: dict) -> str:
    lines = [
        "# Calibration of the models and of the whole chain",
        "",
        f"Command: `{doc['command'].strip()}` (seed {doc['seed']}, "
        f"{doc['replications']} replications). Written by `benchmarks/calibration.py`; "
        "the method is in its docstring."
        + (
            f" Fewer replications than the study's default ({doc['replications_default']}): "
            "binomial intervals and uniformity tests are correspondingly wider and weaker."
            if doc["replications"] < doc.get("replications_default", 0)
            else ""
        ),
        "",
        "Time (s): "
        + ", ".join(f"{k} {v:.0f}" for k, v in doc["seconds"].items())
        + f" (2 cores shared; Python {doc['python']}).",
        "",
        "## Simulation-based calibration",
        "",
        f"Ranks of each true quantity among {doc['rank_draws']} thinned posterior draws; "
        f"chi-square over {doc['bins']} bins and the simultaneous ECDF test (Säilynoja et al. "
        f"2022). Each p-value is compared with {doc['alpha']} / (2k), k quantities per model "
        "(Bonferroni: family-wise level 1% per model).",
        "",
    ]
    for model, rows in doc["sbc"].items():
        d = doc["diagnostics"][model]
        s = doc["samplers"][model]
        lines += [
            f"### {model} ({'passes' if doc['sbc_passed'][model] else 'FAILS'}; "
            f"threshold {rows[0]['threshold']:.2g})",
            "",
            f"Sampler {s['chains']} chains x {s['draws']} draws, {s['tune']} tuning. "
            f"Fits: {d['fits']}; with divergences {d['fits_with_divergences']}; "
            f"R-hat > 1.01: {d['fits_r_hat_above_1.01']}, > 1.05: {d['fits_r_hat_above_1.05']} "
            f"(max {d['max_r_hat']:.3f}); min bulk ESS median {d['min_ess_bulk_median']:.0f}, "
            f"lowest {d['min_ess_bulk_min']:.0f}. Passing the run's own sampler gate "
            f"(R-hat <= 1.01, bulk and tail ESS >= 400, no divergences): "
            f"{d['fits_passing_gate']} of {d['fits']}"
            + (
                f" ({d['fits_failing_gate_on_ess_only']} of the others fail on ESS alone)."
                if "fits_failing_gate_on_ess_only" in d
                else "."
            ),
            "",
            f"![ranks](sbc_{model}_ranks.png)",
            f"![ecdf](sbc_{model}_ecdf.png)",
            "",
            "| quantity | n | chi2 (df 9) | p chi2 | p ECDF | passes |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['quantity']} | {r['n']} | {r['chi2']:.1f} | {r['p_chi2']:.3f} | "
            f"{r['p_ecdf']:.3f} | {'yes' if r['passed'] else 'NO'} |"
            for r in rows
        ]
        lines.append("")
    lines += [
        "## Whole-chain coverage of total NER",
        "",
        "Estimand: the realised total NER of the crediting period of a project whose "
        "parameters are drawn from the models' priors: the forward kernel run with the "
        "true parameters and its own seed (one future of the true project). Interval: "
        "the accounting's total-NER interval from the fitted posteriors "
        "(`simulator.inference.kernel_inputs` -> `simulator.engine.kernels.simulate` -> "
        f"`simulator.accounting.account`, {doc['ner_draws']} futures).",
        "",
        "Replications by outcome: "
        + ", ".join(f"{k}: {v}" for k, v in doc["whole_chain_status"].items())
        + ".",
        "",
        "![coverage](coverage_ner.png)",
        "",
        "| level | standard | n | covered | rate | 99% acceptance | 99% CI of rate | passes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['level']:.0%} | {r['standard']} | {r['n']} | {r['covered']} | {r['rate']:.3f} | "
        f"{r['accept_low']}-{r['accept_high']} | {r['rate_ci99_low']:.3f}-"
        f"{r['rate_ci99_high']:.3f} | {'yes' if r['passed'] else 'NO'} |"
        for r in doc["coverage"]
    ]
    if doc["ner_pit_ecdf_p"] is not None:
        lines += [
            "",
            f"PIT of the true total NER, simultaneous ECDF test: p = {doc['ner_pit_ecdf_p']:.3f}.",
        ]
    if doc["misspecified_coverage"]:
        lines += _misspecified_markdown(doc)
    return "\n".join(lines) + "\n"


def _misspecified_markdown(doc: dict) -> list[str]:
    rows = doc["misspecified_coverage"]
    lines = [
        "",
        "## Coverage under misspecification",
        "",
        "The whole chain again, on the first replications, with one model's data generated "
        "by a different process than the one fitted (the same true parameters, the same "
        "fits of the other two models and the same seeds of the futures as the "
        "well-specified replication, so the two are paired). The estimand is the realised "
        "total NER of the true generating process. These coverages are measured, not "
        "tested: they show how far the intervals degrade when the model is wrong in that way.",
        "",
        "| scenario | model | data generated with |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {v['model']} | {v['data']} |" for k, v in doc["misspecifications"].items()]
    lines += [""]
    for k, d in doc["misspecified_diagnostics"].items():
        status = ", ".join(f"{s}: {c}" for s, c in doc["misspecified_status"][k].items())
        lines.append(
            f"- {k}: {d['fits']} fits, {d['fits_passing_gate']} passing the run's sampler gate "
            f"({d['fits_failing_gate_on_ess_only']} others failing on ESS alone), "
            f"{d['fits_with_divergences']} with divergences, max R-hat {d['max_r_hat']:.3f}; "
            f"whole chain {status}; PIT ECDF test p = "
            f"{doc['misspecified_ner_pit_ecdf_p'].get(k, float('nan')):.3g}."
        )
    lines += [
        "",
        "![coverage under misspecification](coverage_misspecified.png)",
        "",
        "| scenario | level | n | covered | rate | 99% CI of rate | well specified, same "
        "replications | median width / well specified | within nominal 99% acceptance |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['scenario']} | {r['level']:.0%} ({r['standard']}) | {r['n']} | {r['covered']} | "
        f"{r['rate']:.3f} | {r['rate_ci99_low']:.3f}-{r['rate_ci99_high']:.3f} | "
        f"{r['well_specified_covered']} ({r['well_specified_rate']:.3f}) | "
        f"{r['median_width'] / r['well_specified_median_width']:.2f} | "
        f"{'yes' if r['passed'] else 'no'} |"
        for r in rows
    ]
    return lines
