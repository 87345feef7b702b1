"""The uncertainty appendix: figures, tables and a typst PDF.

:func:`write_outputs` writes everything a run leaves behind besides
``manifest.json``: ``posterior.nc``, ``summary.nc``, ``tables/*.csv``,
``figures/*.png``, ``appendix.json`` + ``appendix.typ`` (the typst source and
the numbers it shows, so the PDF can be rebuilt) and ``appendix.pdf``.
Numbers are formatted here, in Python; the typst template only lays them out.
"""

from __future__ import annotations

import json
import logging
import shutil
from importlib import resources
from pathlib import Path

import arviz as az
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import typst  # noqa: E402
import xarray as xr  # noqa: E402
from scipy import stats  # noqa: E402

from models import biomass, deforestation, leakage  # noqa: E402
from models.sampling import ESS_MIN, RHAT_MAX, flat_draws  # noqa: E402
from simulator import outputs, prior_sensitivity  # noqa: E402
from simulator.accounting import SIDE_BY_SIDE, Accounts  # noqa: E402
from simulator.config import RunSpec  # noqa: E402
from simulator.data import RunData  # noqa: E402
from simulator.errors import OutputError  # noqa: E402
from simulator.hazard import loss_fraction  # noqa: E402
from simulator.inference import Posteriors, relative_risk  # noqa: E402
from simulator.kernels import KernelInputs  # noqa: E402
from simulator.reference import log_hazard_paths  # noqa: E402
from simulator.standards import (  # noqa: E402
    NOT_AVAILABLE,
    STANDARDS,
    art_trees_deduction_fraction,
    fcpf_conservativeness_factor,
    vcs_deduction_fraction,
)
from simulator.streaming import BLOCK_SIZE, N_BINS, Summary  # noqa: E402

__all__ = ["write_outputs", "compile_appendix", "rebuild_appendix", "FIGURES"]

log = logging.getLogger(__name__)

FREE = {
    "biomass": biomass.FREE_PARAMETERS + biomass.STOCK_FREE_PARAMETERS,
    "deforestation": deforestation.FREE_PARAMETERS,
    "leakage": leakage.FREE_PARAMETERS,
}
FIGURES = (
    "deforestation_checks.png",
    "baseline_loss.png",
    "plot_agb.png",
    "biomass_density.png",
    "deforestation_rates.png",
    "parameters.png",
    "rank_biomass.png",
    "rank_deforestation.png",
    "rank_leakage.png",
    "ner_fan.png",
    "ner_total.png",
    "waterfall.png",
    "mc_convergence.png",
)

plt.rcParams.update(
    {"figure.dpi": 150, "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}
)


def _t(x: float) -> str:
    """tCO2e with thousands separators."""
    return f"{x:,.0f}"


def _pct(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}f}%"


def _to_sd(x: float, sd: float) -> str:
    """``x`` to the decimal place of the second significant digit of ``sd``."""
    if not (np.isfinite(sd) and sd > 0):
        return f"{x:.4g}"
    decimals = max(0, 1 - int(np.floor(np.log10(sd))))
    return f"{x:,.{decimals}f}"


def _range(x: np.ndarray, scale: float = 1.0, prob: float = 0.90) -> str:
    """Central interval of draws as ``"lo – hi"`` (one decimal, after dividing by scale)."""
    lo, hi = np.quantile(x, [(1 - prob) / 2, (1 + prob) / 2]) / scale
    return f"{lo:.1f} – {hi:.1f}"


def write_outputs(
    out: Path,
    spec: RunSpec,
    data: RunData,
    posteriors: Posteriors,
    inputs: KernelInputs,
    sim: Summary,
    accounts: Accounts,
    budget: dict[str, np.ndarray],
    manifest: dict,
    years: np.ndarray,
    sensitivity=None,
) -> None:
    """Write posterior, summary, tables, figures and the appendix into ``out``.

    ``sensitivity`` (a :class:`simulator.sensitivity.SensitivityResult`, optional)
    adds its tables, figures and appendix section (:func:`write_sensitivity`).
    """
    cfg = spec.config
    attrs = {"config_sha256": cfg.digest(), "reddsim_version": manifest["versions"]["reddsim"]}
    outputs.write_posterior(posteriors.combined(attrs), out / "posterior.nc")
    summary = accounts.summary.assign_attrs(attrs)
    outputs.write_summary(summary, out / "summary.nc")
    outputs.write_csv(summary, "period", outputs.TABLE_COLUMNS, out / "tables" / "summary.csv")
    outputs.write_standards_csv(accounts.side_by_side, out / "tables" / "standards.csv")
    prior_rows = prior_sensitivity.prior_sensitivity(spec, inputs)
    _write_rows(out / "tables" / "prior_sensitivity.csv", prior_sensitivity.COLUMNS, prior_rows)
    strata = [st.name for st in cfg.project.strata]
    if posteriors.plots is not None:
        budget_ds = _write_inventory_tables(out, data, posteriors, budget, strata)
    fan = outputs.quantiles_dataset(sim["ner"], years)
    outputs.write_csv(fan, "year", list(fan.data_vars), out / "tables" / "ner_quantiles.csv")
    loss_fan = outputs.quantiles_dataset(sim["baseline_loss"], years)
    outputs.write_csv(
        loss_fan, "year", list(loss_fan.data_vars), out / "tables" / "baseline_loss_quantiles.csv"
    )
    post_tables = {}
    for name, tree in posteriors.trees.items():
        table = az.summary(tree, var_names=_free(name, tree), ci_prob=0.90, round_to="none")
        table.to_csv(out / "tables" / f"posterior_{name}.csv")
        post_tables[name] = table
    figdir = out / "figures"
    figdir.mkdir()
    _fig_biomass(figdir / "biomass_density.png", spec, posteriors)
    if posteriors.plots is not None:
        _fig_plot_agb(figdir / "plot_agb.png", strata, posteriors.plots)
    _fig_rates(
        figdir / "deforestation_rates.png",
        spec,
        data,
        posteriors.trees["deforestation"],
        inputs,
        years,
    )
    _fig_parameters(figdir / "parameters.png", spec, posteriors)
    ppc = _fig_deforestation_checks(
        figdir / "deforestation_checks.png",
        data,
        posteriors.trees["deforestation"],
        cfg.simulation.seed,
    )
    for name, tree in posteriors.trees.items():
        _fig_rank(figdir / f"rank_{name}.png", tree, _free(name, tree))
    _fig_fan(
        figdir / "ner_fan.png",
        fan,
        color="C2",
        ylabel="NER (tCO2e / yr)",
        title="Net emission reductions per year (simulated distribution)",
    )
    _fig_fan(
        figdir / "baseline_loss.png",
        loss_fan,
        color="C3",
        ylabel="baseline loss (ha / yr)",
        title="Projected baseline deforestation in the project area",
    )
    _fig_total(figdir / "ner_total.png", sim, summary)
    _fig_waterfall(figdir / "waterfall.png", summary)
    _fig_convergence(figdir / "mc_convergence.png", sim)
    doc = _appendix_data(spec, data, posteriors, post_tables, summary, manifest)
    doc["standards"] = _standards_data(accounts, cfg.accounting.standard)
    doc["budget"] = (
        _budget_data(budget_ds, posteriors.plots) if posteriors.plots is not None else None
    )
    doc["stocks"] = _stocks_data(data, posteriors) if data.carbon_stocks is not None else None
    doc["accuracy"] = _accuracy_data(data)
    doc["baseline_loss"] = _baseline_loss_data(sim)
    doc["ppc"] = ppc
    if data.accuracy is not None:
        acc = _accuracy_dataset(data)
        outputs.write_csv(
            acc, "year", list(acc.data_vars), out / "tables" / "accuracy_assessment.csv"
        )
    doc["ipcc"] = _ipcc_data(accounts.ipcc)
    doc["gates"] = _gates_data(manifest, posteriors)
    doc["monte_carlo"] = _monte_carlo_data(summary, sim)
    doc["components"] = _component_rows(sim, summary)
    doc["deduction"] = _worked_deduction(STANDARDS[cfg.accounting.standard], summary)
    doc["buffer"] = _buffer_data(summary)
    doc["prior_sensitivity"] = [
        {
            "parameter": r["parameter"],
            "case": r["case"],
            "prior": r["prior"],
            "mean": _t(r["ner_mean"]),
            "low": _t(r["ner_ci_low"]),
            "u": f"{r['uncertainty_pct']:.1f}%",
            "credits": _t(r["credits"]),
            "change": "" if r["case"] == "run" else f"{r['credits_vs_run_pct']:+.1f}%",
        }
        for r in prior_rows
    ]
    if sensitivity is not None:
        doc["sensitivity"] = write_sensitivity(out, sensitivity)
    (out / "appendix.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    template = resources.files("simulator.templates").joinpath("appendix.typ")
    shutil.copyfile(str(template), out / "appendix.typ")
    compile_appendix(out)


def _free(name: str, tree: xr.DataTree) -> list[str]:
    """The model's free parameters present in its posterior (inventory or stock biomass)."""
    return [v for v in FREE[name] if v in tree.posterior]


def _write_inventory_tables(out: Path, data, posteriors, budget, strata) -> xr.Dataset:
    """Error budget, each tree's wood density and each plot's AGB (inventory runs only)."""
    budget_ds = _budget_dataset(budget, strata)
    outputs.write_csv(
        budget_ds, "stratum", list(budget_ds.data_vars), out / "tables" / "biomass_error_budget.csv"
    )
    inv = posteriors.plots.inventory
    tree_wd = xr.Dataset(
        {
            "plot_id": ("tree_id", data.trees["plot_id"]),
            "genus": ("tree_id", data.trees["genus"]),
            "source": ("tree_id", inv.wood_density_source),
            "wood_density": ("tree_id", inv.wood_density),
            "wood_density_sd": ("tree_id", inv.wood_density_sd),
        },
        coords={"tree_id": data.trees["tree_id"]},
    )
    outputs.write_csv(
        tree_wd, "tree_id", list(tree_wd.data_vars), out / "tables" / "tree_wood_density.csv"
    )
    plot_ds = _plot_dataset(posteriors.plots)
    outputs.write_csv(plot_ds, "plot_id", list(plot_ds.data_vars), out / "tables" / "plot_agb.csv")
    # design-based (Cochran) stratum means of the plots' AGB beside the model's posterior
    design = biomass.design_based_means(strata, inv.plot_stratum, posteriors.plots.mean)
    agb = flat_draws(posteriors.trees["biomass"], "agb_mg_ha")
    lo, hi = np.quantile(agb, [0.05, 0.95], axis=0)
    rows = [
        {
            "stratum": name,
            "n_plots": int(design["n"][i]),
            "design_mean_mg_ha": float(design["mean"][i]),
            "design_se_mg_ha": float(design["se"][i]),
            "posterior_mean_mg_ha": float(agb[:, i].mean()),
            "posterior_sd_mg_ha": float(agb[:, i].std(ddof=1)),
            "posterior_q05_mg_ha": float(lo[i]),
            "posterior_q95_mg_ha": float(hi[i]),
        }
        for i, name in enumerate(strata)
    ]
    _write_rows(out / "tables" / "biomass_design_based.csv", list(rows[0]), rows)
    return budget_ds


def _write_rows(path: Path, columns, rows: list[dict]) -> None:
    """A CSV of dict rows in ``columns`` order; floats with 17 significant digits."""

    def cell(v):
        return f"{v:.17g}" if isinstance(v, float) else str(v)

    lines = [",".join(columns)]
    for r in rows:
        lines.append(",".join(f'"{c}"' if "," in c else c for c in (cell(r[k]) for k in columns)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


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
    partial = out / ".appendix.pdf.partial"
    try:
        typst.compile(str(out / "appendix.typ"), output=str(partial), root=str(out))
        partial.replace(pdf)
    except typst.TypstError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise OutputError(f"{out / 'appendix.typ'}: typst cannot compile it: {first}") from err
    finally:
        partial.unlink(missing_ok=True)
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


# --------------------------------------------------------------------------- figures


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _fig_biomass(path: Path, spec: RunSpec, posteriors: Posteriors) -> None:
    strata = [s.name for s in spec.config.project.strata]
    tree = posteriors.trees["biomass"]
    plots = posteriors.plots
    # Stated carbon stocks have no dry-matter AGB: show AGB carbon instead.
    agb = flat_draws(tree, "agb_mg_ha" if plots is not None else "agb_tco2e_ha")
    carbon = flat_draws(tree, "carbon_tco2e_ha")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.2))
    for i, name in enumerate(strata):
        if plots is not None:
            pts = plots.mean[plots.inventory.plot_stratum == name]
            jitter = np.linspace(-0.15, 0.15, pts.size) if pts.size > 1 else np.zeros(1)
            ax1.scatter(
                pts, i + 0.25 + jitter * 0.3, s=8, color="0.6", label="plots" if i == 0 else None
            )
        lo, med, hi = np.quantile(agb[:, i], [0.05, 0.5, 0.95])
        ax1.errorbar(
            med,
            i,
            xerr=[[med - lo], [hi - med]],
            fmt="o",
            color="C0",
            capsize=3,
            label="stratum mean, 90% CI" if i == 0 else None,
        )
        lo, med, hi = np.quantile(carbon[:, i], [0.05, 0.5, 0.95])
        ax2.errorbar(med, i, xerr=[[med - lo], [hi - med]], fmt="o", color="C2", capsize=3)
    for ax in (ax1, ax2):
        ax.set_yticks(range(len(strata)), strata)
        ax.invert_yaxis()
    if plots is not None:
        ax1.set_xlabel("above-ground biomass (Mg/ha)")
        ax2.set_xlabel("carbon density, AGB + BGB (tCO2e/ha)")
        ax1.set_title("Plot means and posterior stratum means")
    else:
        ax1.set_xlabel("above-ground biomass carbon (tCO2e/ha)")
        ax2.set_xlabel("carbon density, all pools given (tCO2e/ha)")
        ax1.set_title("Stratum AGB carbon from stated stocks")
    ax1.legend(frameon=False, fontsize=7, loc="lower right")
    ax2.set_title("Stratum carbon density, 90% CI")
    _save(fig, path)


def _fig_plot_agb(path: Path, strata: list[str], plots) -> None:
    """Each plot's Monte Carlo AGB (median and 95% interval), grouped by stratum."""
    lo, med, hi = np.quantile(plots.draws, [0.025, 0.5, 0.975], axis=1)
    fig, ax = plt.subplots(figsize=(8, 3.4))
    x = 0
    ticks = []
    for i, name in enumerate(strata):
        idx = np.flatnonzero(plots.inventory.plot_stratum == name)
        idx = idx[np.argsort(med[idx])]
        xs = np.arange(x, x + idx.size)
        ax.errorbar(
            xs,
            med[idx],
            yerr=[med[idx] - lo[idx], hi[idx] - med[idx]],
            fmt="o",
            ms=2.5,
            color=f"C{i}",
            elinewidth=0.8,
            label=name,
        )
        ticks.append((xs.mean(), name))
        x += idx.size + 2
    ax.set_xticks([t for t, _ in ticks], [n for _, n in ticks])
    ax.set_ylabel("plot AGB (Mg/ha)")
    ax.set_title("AGB by plot: tree-level Monte Carlo, median and 95% interval")
    _save(fig, path)


def _fig_rates(path, spec, data, tree, inputs: KernelInputs, years) -> None:
    d = data.deforestation
    obs = 100 * d["loss_ha"] / d["forest_area_ha"]
    se = 100 * d["loss_se_ha"] / d["forest_area_ha"]
    fitted = flat_draws(tree, "rate_pct")
    k = np.arange(inputs.log_rate_mean.shape[0])
    projected = 100 * loss_fraction(log_hazard_paths(inputs, 0, k.astype(np.uint64), k))
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for x, series, colour, label in (
        (d["year"], fitted, "C0", "fitted rate"),
        (years, projected, "C3", "projected baseline rate"),
    ):
        lo, med, hi = np.quantile(series, [0.05, 0.5, 0.95], axis=0)
        ax.fill_between(x, lo, hi, color=colour, alpha=0.25, lw=0)
        ax.plot(x, med, color=colour, label=f"{label} (median, 90% band)")
    ax.errorbar(
        d["year"],
        obs,
        yerr=1.96 * se,
        fmt="o",
        ms=3,
        color="k",
        capsize=2,
        label="map-derived loss, 95% CI",
    )
    first, last = spec.config.deforestation.highway_paving
    ax.axvspan(first, last, color="0.85", lw=0, label="highway paving")
    ax.set_ylabel("annual forest loss (% of forest)")
    ax.set_title("Reference-region deforestation rate")
    ax.legend(frameon=False, fontsize=7, loc="upper left")
    _save(fig, path)


def _fig_deforestation_checks(path, data: RunData, tree: xr.DataTree, seed: int) -> dict:
    """Prior and posterior predictive checks of the observed loss rates; returns coverage."""
    d = data.deforestation
    years = d["year"]
    obs = 100 * d["loss_ha"] / d["forest_area_ha"]
    se = 100 * d["loss_se_ha"] / d["forest_area_ha"]
    prior = tree["prior_predictive"]["loss_pct"].transpose("chain", "draw", "year").values
    prior = prior.reshape(-1, prior.shape[-1])
    post = deforestation.posterior_predictive(tree, se, seed)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.0), sharex=True)
    lo_post, hi_post = np.quantile(post, [0.05, 0.95], axis=0)
    inside = int(np.sum((obs >= lo_post) & (obs <= hi_post)))
    for ax, draws, title in (
        (axes[0], prior, "prior predictive"),
        (axes[1], post, f"posterior predictive: {inside} of {obs.size} inside 90%"),
    ):
        lo, q25, q75, hi = np.quantile(draws, [0.05, 0.25, 0.75, 0.95], axis=0)
        ax.fill_between(years, lo, hi, color="C0", alpha=0.2, lw=0, label="90%")
        ax.fill_between(years, q25, q75, color="C0", alpha=0.4, lw=0, label="50%")
        ax.plot(years, obs, "ko", ms=3, label="observed")
        ax.set_title(title, fontsize=8)
    axes[0].set_yscale("symlog", linthresh=0.1)
    axes[0].set_ylabel("annual loss (% of forest)")
    axes[1].legend(frameon=False, fontsize=7, loc="upper left")
    _save(fig, path)
    return {"inside": str(inside), "n": str(obs.size)}


def _fig_parameters(path, spec, posteriors: Posteriors) -> None:
    cfg = spec.config
    defo, leak = posteriors.trees["deforestation"], posteriors.trees["leakage"]
    eff, disp = cfg.deforestation.effectiveness, cfg.leakage.displacement
    panels = [
        (
            defo,
            "effectiveness",
            "project effectiveness e",
            stats.beta(eff.alpha, eff.beta, loc=eff.lower, scale=1.0 - eff.lower),
        ),
        (leak, "displacement", "leakage displacement λ", stats.beta(disp.alpha, disp.beta)),
        (defo, "post_conversion_tco2e_ha", "post-conversion carbon (tCO2e/ha)", None),
        (defo, "sigma", "process noise σ of log hazard", None),
        (defo, "c", "highway effect c (log hazard)", None),
        (defo, "b", "trend b (log hazard per year)", None),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(8, 4.2))
    for ax, (tree, var, label, prior) in zip(axes.flat, panels, strict=True):
        x = flat_draws(tree, var)
        ax.hist(x, bins=50, density=True, color="C0", alpha=0.7, label="posterior")
        if prior is not None:
            grid = np.linspace(*np.quantile(x, [0.0005, 0.9995]), 200)
            ax.plot(grid, prior.pdf(grid), color="k", lw=1, ls="--", label="prior")
            ax.legend(frameon=False, fontsize=7)
        ax.set_title(label, fontsize=8)
        ax.set_yticks([])
    _save(fig, path)


def _fig_rank(path: Path, tree: xr.DataTree, var_names: list[str]) -> None:
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


def _fig_fan(path, fan: xr.Dataset, *, color: str, ylabel: str, title: str) -> None:
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
    _save(fig, path)


def _fig_total(path, sim: Summary, summary: xr.Dataset) -> None:
    edges, counts, outside = sim["ner"].histogram(period=-1, bins=120)
    tot = summary.sel(period="total")
    fig, ax = plt.subplots(figsize=(8, 3.0))
    ax.stairs(counts, edges / 1e6, fill=True, color="C2", alpha=0.7)
    for v, style, label in (
        (tot.ner_mean, "-", "mean"),
        (tot.ner_ci_low, "--", "90% CI"),
        (tot.ner_ci_high, "--", None),
    ):
        ax.axvline(float(v) / 1e6, color="k", ls=style, lw=1, label=label)
    ax.set_xlabel("total NER over the crediting period (MtCO2e)")
    ax.set_yticks([])
    beyond = f"; {outside:,} beyond the axis" if outside else ""
    ax.set_title(f"Total NER: {sim.n_draws:,} simulated futures{beyond}")
    ax.legend(frameon=False, fontsize=7)
    _save(fig, path)


def _fig_convergence(path, sim: Summary) -> None:
    """Total NER's mean and 90% bounds over the first n draws, relative to the final ones."""
    conv = sim.convergence
    n = conv["n"]
    final_mean = conv["mean"][-1]
    fig, ax = plt.subplots(figsize=(8, 3.0))
    ax.axhspan(-0.1, 0.1, color="0.85", lw=0, label="±0.1% of the mean")
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
    ax.legend(frameon=False, fontsize=7, ncols=4)
    _save(fig, path)


def _fig_waterfall(path, summary: xr.Dataset) -> None:
    tot = summary.sel(period="total")
    steps = [
        ("baseline", float(tot.baseline)),
        ("project", -float(tot.project)),
        ("leakage", -float(tot.leakage)),
        ("uncertainty\ndeduction", -float(tot.uncertainty_deduction)),
        ("buffer", -float(tot.buffer)),
    ]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    level = 0.0
    for i, (_, delta) in enumerate(steps):
        colour = "C0" if delta >= 0 else "C3"
        ax.bar(i, delta / 1e6, bottom=level / 1e6, color=colour)
        level += delta
    ax.bar(len(steps), level / 1e6, color="C2")
    ax.set_xticks(range(len(steps) + 1), [s[0] for s in steps] + ["credits"])
    ax.set_ylabel("MtCO2e over the period")
    ax.set_title("From baseline emissions to issuable credits (means)")
    _save(fig, path)


# --------------------------------------------------------------------------- appendix data


def _appendix_data(spec, data, posteriors, post_tables, summary, manifest) -> dict:
    cfg = spec.config
    risk = relative_risk(spec)
    bio = posteriors.trees["biomass"]
    agb_co2 = flat_draws(bio, "agb_tco2e_ha")
    carbon = flat_draws(bio, "carbon_tco2e_ha")
    area = np.array([s.area_ha for s in cfg.project.strata])
    agb_total = agb_co2 @ area
    strata = []
    for i, s in enumerate(cfg.project.strata):
        if posteriors.plots is not None:
            mask = data.plots["stratum"] == s.name
            n_plots, agb_plots = str(int(mask.sum())), f"{posteriors.plots.mean[mask].mean():.1f}"
        else:
            n_plots, agb_plots = "–", "–"  # stated carbon stocks, no plots
        strata.append(
            {
                "name": s.name,
                "area": f"{s.area_ha:,.0f}",
                "risk": f"{risk[i]:.3f}",
                "plots": n_plots,
                "agb_plots": agb_plots,
                "carbon": f"{carbon[:, i].mean():.1f}",
                "carbon_ci": _range(carbon[:, i]),
            }
        )
    rows = [
        {
            "period": r["period"],
            "baseline": _t(r["baseline"]),
            "project": _t(r["project"]),
            "leakage": _t(r["leakage"]),
            "ner": _t(r["ner_mean"]),
            "ci": f"{_t(r['ner_ci_low'])} – {_t(r['ner_ci_high'])}",
            "mcse": f"±{_t(max(r['ner_ci_low_mcse'], r['ner_ci_high_mcse']))}",
            "u": _pct(r["uncertainty_pct"]),
            "factor": f"{r['adjustment_factor']:.4f}",
            "deduction": _t(r["uncertainty_deduction"]),
            "adjusted": _t(r["adjusted_ner"]),
            "stock_change": _t(r["stock_change"]),
            "buffer": _t(r["buffer"]),
            "credits": _t(r["credits"]),
        }
        for r in outputs.period_records(summary)
    ]
    params = {}
    for name, table in post_tables.items():
        params[name] = [
            {
                "name": str(idx),
                "mean": _to_sd(row["mean"], row["sd"]),
                "sd": _to_sd(row["sd"], row["sd"]),
                "lo": _to_sd(row["eti90_lb"], row["sd"]),
                "hi": _to_sd(row["eti90_ub"], row["sd"]),
                "ess_bulk": f"{row['ess_bulk']:.0f}",
                "ess_tail": f"{row['ess_tail']:.0f}",
                "rhat": f"{row['r_hat']:.3f}",
            }
            for idx, row in table.iterrows()
        ]
    diags = [
        {
            "model": d.model,
            "rhat": f"{d.max_r_hat:.3f}",
            "ess_bulk": f"{d.min_ess_bulk:.0f}",
            "ess_tail": f"{d.min_ess_tail:.0f}",
            "div": str(d.divergences),
            "n": f"{d.n_samples:,}",
            "passed": "pass" if d.passed else "FAIL",
        }
        for d in posteriors.diagnostics
    ]
    tot = summary.sel(period="total")
    s = cfg.sampler
    return {
        "project": cfg.project.name,
        "country": cfg.project.country,
        "description": cfg.project.description,
        "run_id": manifest["run_id"],
        "created": manifest["created_utc"],
        "config_sha256": manifest["config_sha256"],
        "git_commit": manifest["git_commit"] or "not in a git repository",
        "standard": summary.attrs["standard_title"],
        "citation": summary.attrs["citation"],
        "confidence": f"{100 * summary.attrs['confidence']:.0f}%",
        "relative_to": summary.attrs["relative_to"],
        "buffer_pct": f"{cfg.accounting.buffer_pct:g}%",
        "buffer_on": summary.attrs["buffer_on"],
        "start_year": str(cfg.crediting.start_year),
        "end_year": str(cfg.crediting.start_year + cfg.crediting.years - 1),
        "years": str(cfg.crediting.years),
        "n_draws": f"{cfg.simulation.n_draws:,}",
        "seed": str(cfg.simulation.seed),
        "chunk_size": f"{cfg.simulation.chunk_size:,}",
        "rng": manifest["rng"],
        "threads": str(manifest["numba_threads"]),
        "total_area": f"{area.sum():,.0f}",
        "agb_total": f"{agb_total.mean() / 1e6:.1f}",
        "agb_total_ci": _range(agb_total, 1e6),
        "strata": strata,
        "data_files": [
            {
                "name": name,
                "path": str(getattr(cfg.data, name)),
                "sha": sha,
                "rows": f"{_data_rows(spec.data_path(name)):,}",
                "role": DATA_ROLES.get(name, ""),
            }
            for name, sha in manifest["data_sha256"].items()
        ],
        "readme": (spec.run_dir / "README.md").is_file(),
        "generator": next((p.name for p in sorted(spec.run_dir.glob("generate*.py"))), ""),
        "priors": _priors(cfg),
        "sampler": (
            f"NUTS (nutpie), {s.chains} chains × {s.draws:,} draws after {s.tune:,} "
            f"tuning steps, target acceptance {s.target_accept}"
        ),
        "gate": f"R-hat ≤ {RHAT_MAX}, bulk and tail ESS ≥ {ESS_MIN}, no divergent transitions",
        "override": cfg.sampler.allow_failed_diagnostics,
        "all_passed": all(d.passed for d in posteriors.diagnostics),
        "diagnostics": diags,
        "params": params,
        "rows": rows,
        "total": {
            "ner": _t(tot.ner_mean),
            "ci": f"{_t(tot.ner_ci_low)} – {_t(tot.ner_ci_high)}",
            "u": _pct(float(tot.uncertainty_pct)),
            "factor": f"{float(tot.adjustment_factor):.4f}",
            "deduction": _t(tot.uncertainty_deduction),
            "deduction_pct": _pct(100 * float(tot.uncertainty_deduction / tot.ner_mean)),
            "adjusted": _t(tot.adjusted_ner),
            "stock_change": _t(tot.stock_change),
            "buffer": _t(tot.buffer),
            "credits": _t(tot.credits),
            "mcse_lo": _t(tot.ner_ci_low_mcse),
            "mcse_hi": _t(tot.ner_ci_high_mcse),
        },
        "versions": [{"name": k, "version": v} for k, v in manifest["versions"].items()],
        "command": (
            f"reddsim run {spec.path.parent} --seed {cfg.simulation.seed} "
            f"--draws {cfg.simulation.n_draws}"
            + (
                " --allow-unconverged"
                if manifest["gates"]["override"] == "--allow-unconverged"
                else ""
            )
        ),
        "chains": str(s.chains),
        "draws_per_chain": f"{s.draws:,}",
        "tune": f"{s.tune:,}",
        "target_accept": f"{s.target_accept:g}",
        "rhat_max": f"{RHAT_MAX:g}",
        "ess_min": f"{ESS_MIN:,}",
        "synthetic": "synthetic" in (cfg.project.description or "").lower(),
        "baseline": (
            "allocated: the jurisdiction's projected loss J times the project's risk share s, "
            "spread over strata by risk-weighted remaining forest (the VM0048 shape)"
            if cfg.deforestation.baseline == "allocated"
            else "reference region: the projected hazard applied to the project's remaining forest"
        ),
        "noise": (
            "AR(1), $u_t = phi u_(t-1) + sigma sqrt(1 - phi^2) epsilon_t$"
            if cfg.deforestation.noise == "ar1"
            else "independent between years"
        ),
        "gap_years": str(
            deforestation.gap_years(data.deforestation["year"], cfg.crediting.start_year)
        ),
        "belt_cv": f"{cfg.leakage.belt_baseline_cv:g}",
    }


def _priors(cfg) -> list[dict]:
    """Prior of every parameter, as shown in the appendix (from config and model constants)."""
    b, d, lk = cfg.biomass, cfg.deforestation, cfg.leakage
    bh, dh = biomass.HYPERPRIORS, deforestation.HYPERPRIORS
    rs, post = b.root_shoot, d.post_conversion_tco2e_ha
    rows = [
        ("carbon fraction CF", f"Normal({b.carbon_fraction.mean:g}, {b.carbon_fraction.sd:g})"),
        ("root:shoot R", f"Normal({rs.mean:g}, {rs.sd:g}) on [{rs.lower:g}, {rs.upper:g}]"),
        ("stratum log-mean AGB μ_s", "Normal(μ_0, σ_s)"),
        ("μ_0 (log Mg/ha)", "Normal({:.3f}, {:g})".format(*bh["mu_0"])),
        ("σ_s", f"HalfNormal({bh['sigma_stratum']:g})"),
        ("between-plot SD τ_s (log)", f"HalfNormal({bh['tau']:g})"),
    ]
    if cfg.data.carbon_stocks is not None:  # stated stocks: no inventory model, CF only for DM
        rows = [
            ("carbon stock per stratum and pool", "Normal(stated mean, SD) on [0, ∞)"),
            (
                "carbon fraction CF (pools in dry matter)",
                f"Normal({b.carbon_fraction.mean:g}, {b.carbon_fraction.sd:g}) on [0, 1]",
            ),
        ]
    tagged = [(name, prior, "biomass") for name, prior in rows]
    defo = [
        ("log-hazard intercept a", "Normal({:.3f}, {:g})".format(*dh["a"])),
        ("trend b", "Normal({:g}, {:g})".format(*dh["b"])),
        ("highway effect c", "Normal({:g}, {:g})".format(*dh["c"])),
        ("process noise σ (marginal SD)", f"HalfNormal({dh['sigma']:g})"),
    ]
    if d.noise == "ar1":
        defo.append(("AR(1) coefficient φ", "(φ + 1)/2 ~ Beta({:g}, {:g})".format(*dh["phi"])))
    defo += [
        (
            "effectiveness e (vs the regional hazard)",
            f"Beta({d.effectiveness.alpha:g}, {d.effectiveness.beta:g})"
            + (f" on [{d.effectiveness.lower:g}, 1]" if d.effectiveness.lower else ""),
        ),
        ("post-conversion carbon (tCO2e/ha)", f"Gamma(mean {post.mean:g}, sd {post.sd:g})"),
    ]
    if d.allocation is not None:
        j, share = d.allocation.jurisdiction_loss_ha, d.allocation.risk_share
        defo += [
            ("jurisdiction loss J (ha/yr)", f"Gamma(mean {j.mean:g}, sd {j.sd:g})"),
            ("project risk share s", f"Beta({share.alpha:g}, {share.beta:g})"),
        ]
    tagged += [(name, prior, "deforestation") for name, prior in defo]
    tagged.append(
        (
            "leakage displacement λ",
            f"Beta({lk.displacement.alpha:g}, {lk.displacement.beta:g})",
            "leakage",
        )
    )
    if lk.belt_baseline_cv > 0:
        tagged.append(
            ("belt counterfactual error log κ", f"Normal(0, {lk.belt_baseline_cv:g})", "leakage")
        )
    return [{"name": name, "prior": prior, "model": m} for name, prior, m in tagged]


def _standards_data(accounts: Accounts, primary: str) -> dict:
    side = accounts.side_by_side
    rows = []
    for key in side.standard.values:
        std = STANDARDS[str(key)]
        for r in outputs.period_records(side.sel(standard=key), ("ner_mean", *SIDE_BY_SIDE)):
            if r["period"] != "total":
                continue
            rows.append(
                {
                    "key": str(key)
                    + (" (run)" if key == primary else "")
                    + (" *" if side.attrs["n_draws"] < std.min_draws else ""),
                    "title": std.title,
                    "level": f"{100 * r['confidence']:.0f}%",
                    "relative_to": std.relative_to,
                    "u": _pct(r["uncertainty_pct"]),
                    "fraction": _pct(100 * r["deduction_fraction"], 2),
                    "deduction": _t(r["uncertainty_deduction"]),
                    "buffer": _t(r["buffer"]),
                    "credits": _t(r["credits"]),
                    "citation": std.citation,
                    "buffer_on": {
                        "stock_change": "unadjusted stock change (leakage excluded)",
                        "after_deduction": "NER after the uncertainty deduction",
                    }[std.buffer_on],
                }
            )
    per_year = [
        {
            "period": str(p),
            "credits": [_t(side.credits.sel(standard=k, period=p)) for k in side.standard.values],
        }
        for p in side.period.values
    ]
    return {
        "rows": rows,
        "keys": [str(k) for k in side.standard.values],
        "per_year": per_year,
        "not_available": [{"name": k, "why": v} for k, v in NOT_AVAILABLE.items()],
        "buffer_pct": f"{side.attrs['buffer_pct']:g}%",
        "too_few": [
            f"{k} requires at least {STANDARDS[k].min_draws:,} Monte Carlo draws"
            for k in map(str, side.standard.values)
            if side.attrs["n_draws"] < STANDARDS[k].min_draws
        ],
    }


def _ipcc_data(ipcc: dict) -> dict:
    return {
        "level": f"{100 * ipcc['confidence']:.0f}%",
        "components": [
            {"name": name, "mean": f"{mean:,.4g}", "u": _pct(100 * u)}
            for name, mean, u in ipcc["components"]
        ],
        "approach1": _pct(100 * ipcc["approach1"]),
        "approach2": _pct(100 * ipcc["approach2"]),
        "ef_mc": _pct(100 * ipcc["emission_factor_monte_carlo"]),
    }


#: What each input file holds (the appendix's data-sources table).
DATA_ROLES = {
    "plots": "field plots: stratum, area, subplot design",
    "trees": "tree inventory: diameter, height, genus, wood density",
    "deforestation": "annual loss of the reference region with its SE",
    "map_areas": "mapped area per year and map stratum",
    "accuracy_sample": "stratified accuracy-assessment sample of each year's map",
    "leakage_belt": "leakage-belt monitoring: belt loss, its baseline and SE",
    "project_monitoring": "monitored loss inside the project",
}


def _data_rows(path: Path) -> int:
    """Data rows of a CSV file (lines after the header, blank lines not counted)."""
    with open(path, encoding="utf-8") as fh:
        return max(0, sum(1 for line in fh if line.strip()) - 1)


def _rel(x: float) -> str:
    """A relative Monte Carlo error as a percentage with three decimals."""
    return f"{100 * x:.3f}%" if np.isfinite(x) else "undefined"


def _gates_data(manifest: dict, posteriors: Posteriors) -> dict:
    """Both gates, their outcome and any override (first page and §Sampler)."""
    g = manifest["gates"]
    mc = g["monte_carlo"]
    failures = [
        f"{d.model} model: {', '.join(d.failures())}"
        for d in posteriors.diagnostics
        if not d.passed
    ]
    if not mc["passed"]:
        failures.append(
            f"Monte Carlo error of the total-NER interval bounds {_rel(mc['relative_high'])} / "
            f"{_rel(mc['relative_low'])} of the mean (limit {100 * mc['limit']:g}%)"
        )
    return {
        "passed": g["passed"],
        "sampler_passed": g["sampler_passed"],
        "mc_passed": mc["passed"],
        "override": g["override"] or "",
        "failures": failures,
        "mc_relative": _rel(max(mc["relative_low"], mc["relative_high"])),
        "mc_limit": f"{100 * mc['limit']:g}%",
        "mc_required": f"{mc['required_draws']:,}" if mc["required_draws"] else "",
    }


def _monte_carlo_data(summary: xr.Dataset, sim: Summary) -> dict:
    """Monte Carlo standard error of the mean and of each CI bound, per period."""
    rows = []
    for r in outputs.period_records(summary):
        mean = abs(r["ner_mean"])

        def rel(v, mean=mean):
            return _rel(v / mean) if mean > 0 else "undefined"

        rows.append(
            {
                "period": r["period"],
                "mean": _t(r["ner_mean"]),
                "mean_mcse": _t(r["ner_mean_mcse"]),
                "low": _t(r["ner_ci_low"]),
                "low_mcse": _t(r["ner_ci_low_mcse"]),
                "low_rel": rel(r["ner_ci_low_mcse"]),
                "high": _t(r["ner_ci_high"]),
                "high_mcse": _t(r["ner_ci_high_mcse"]),
                "high_rel": rel(r["ner_ci_high_mcse"]),
            }
        )
    ner = sim["ner"]
    bound = getattr(ner, "quantile_error_bound", np.zeros_like(ner.mean))
    return {
        "rows": rows,
        "bins": f"{N_BINS:,}",
        "block": f"{BLOCK_SIZE:,}",
        "quantile_error": _rel(float(bound[-1] / abs(ner.mean[-1]))),
    }


def _component_rows(sim: Summary, summary: xr.Dataset) -> list[dict]:
    """Per period: mean and central interval (the standard's level) of each component."""
    conf = float(summary.attrs["confidence"])
    q = [(1 - conf) / 2, (1 + conf) / 2]
    parts = ("baseline", "project", "leakage")
    cis = {name: sim[name].quantile(q) for name in parts}
    rows = []
    for i, r in enumerate(outputs.period_records(summary)):
        row = {"period": r["period"]}
        for name in parts:
            row[name] = _t(r[name])
            row[f"{name}_ci"] = f"{_t(cis[name][0][i])} – {_t(cis[name][1][i])}"
        row["ner"] = _t(r["ner_mean"])
        row["ner_ci"] = f"{_t(r['ner_ci_low'])} – {_t(r['ner_ci_high'])}"
        rows.append(row)
    return rows


def _q(x: float) -> str:
    """A number inside typst math, quoted so that its thousands separators stay tight."""
    return f'"{x:,.0f}"'


def _worked_deduction(std, summary: xr.Dataset) -> dict:
    """The run standard's deduction for the whole period, as typst math with the numbers in."""
    tot = {k: float(summary[k].sel(period="total")) for k in summary.data_vars}
    lo, hi, mean, median = tot["ner_ci_low"], tot["ner_ci_high"], tot["ner_mean"], tot["ner_median"]
    u, frac, ded = (
        tot["uncertainty_pct"] / 100,
        tot["deduction_fraction"],
        tot["uncertainty_deduction"],
    )
    level = f"{100 * std.confidence:.0f}"
    centre, centre_name = (mean, "mean") if std.relative_to == "mean" else (median, "median")
    lines = [
        f'U = ("UCL"_{level} - "LCL"_{level}) / (2 dot "{centre_name}") = '
        f"({_q(hi)} - {_q(lo)}) / (2 times {_q(centre)}) = {100 * u:.2f} %"
    ]
    if std.rule is vcs_deduction_fraction:
        lines += [
            f"f = min(1, 1 - U + 15 %) = min(1, 1 - {100 * u:.2f} % + 15 %) = {1 - frac:.4f}",
            f'"deduction" = "NER" dot (1 - f) = {_q(mean)} times {frac:.4f} = {_q(ded)}',
        ]
    elif std.rule is art_trees_deduction_fraction:
        lines += [
            f'"UA" = 0.524417 dot U / 1.645006 = 0.524417 times {u:.4f} / 1.645006 = {frac:.6f}',
            f'"UNC" = ("ER" + "REMV") dot "UA" = {_q(tot["stock_change"])} times {frac:.6f} '
            f"= {_q(ded)}",
        ]
    elif std.rule is fcpf_conservativeness_factor:
        lines += [
            f'"set-aside" = {100 * frac:g} % quad ("band of" U = {100 * u:.1f} %)',
            f'"deduction" = "NER" dot {100 * frac:g} % = {_q(mean)} times {frac:.2f} = {_q(ded)}',
        ]
    return {
        "lines": lines,
        "adjusted": _t(tot["adjusted_ner"]),
    }


def _buffer_data(summary: xr.Dataset) -> dict:
    """Buffer and credits of the whole period as typst math with the numbers in."""
    tot = {k: float(summary[k].sel(period="total")) for k in summary.data_vars}
    pct = float(summary.attrs["buffer_pct"])
    on = summary.attrs["buffer_on"]
    base, name = (
        (tot["stock_change"], "(E^b - E^p)")
        if on == "stock_change"
        else (tot["adjusted_ner"], '"adjusted NER"')
    )
    return {
        "lines": [
            f'"buffer" = {pct:g} % dot {name} = {pct / 100:g} times {_q(base)} '
            f"= {_q(tot['buffer'])}",
            f'"credits" = "adjusted NER" - "buffer" = {_q(tot["adjusted_ner"])} - '
            f"{_q(tot['buffer'])} = {_q(tot['credits'])}",
        ],
    }


BUDGET_SOURCES = (
    "allometry",
    "diameter",
    "wood_density",
    "height",
    "sampling",
    "carbon_fraction",
    "root_shoot",
)


def _budget_dataset(budget: dict[str, np.ndarray], strata: list[str]) -> xr.Dataset:
    """Variance shares (%) per stratum, and the total relative SD (%)."""
    total = budget["total"]
    data = {f"{k}_pct": ("stratum", 100 * budget[k] / total) for k in BUDGET_SOURCES}
    data["relative_sd_pct"] = ("stratum", 100 * np.sqrt(total))
    return xr.Dataset(data, coords={"stratum": strata})


def _budget_data(budget_ds: xr.Dataset, plots) -> dict:
    inv = plots.inventory
    sources, counts = np.unique(inv.wood_density_source, return_counts=True)
    n = inv.dbh_cm.size
    hd = plots.height_model
    return {
        "rows": [
            {
                "stratum": str(s),
                **{k: f"{float(budget_ds[f'{k}_pct'].sel(stratum=s)):.1f}" for k in BUDGET_SOURCES},
                "rsd": f"{float(budget_ds.relative_sd_pct.sel(stratum=s)):.1f}%",
            }
            for s in budget_ds.stratum.values
        ],
        "n_trees": f"{n:,}",
        "n_plots": str(inv.n_plots),
        "heights_measured": _pct(100 * np.mean(np.isfinite(inv.height_m))),
        "wood_density": ", ".join(
            f"{s} {c:,} ({100 * c / n:.0f}%)" for s, c in zip(sources, counts, strict=True)
        ),
        "height_model": f"{hd.form.replace('_', '-')} (RSE {hd.rse:.2f} m; "
        + ", ".join(f"{k.replace('_', '-')} {v:.2f}" for k, v in hd.rse_by_form.items())
        + f"; n = {hd.n:,})",
        "n_mc": f"{plots.draws.shape[1]:,}",
    }


def _stocks_data(data: RunData, posteriors: Posteriors) -> dict:
    """Stated carbon stocks and their posterior (truncated at zero), for the appendix."""
    stocks = data.carbon_stocks
    draws = flat_draws(posteriors.trees["biomass"], "stock")
    rows = [
        {
            "stratum": str(stocks["stratum"][i]),
            "pool": str(stocks["pool"][i]),
            "unit": str(stocks["unit"][i]),
            "stated": f"{stocks['mean'][i]:.4g} ± {stocks['sd'][i]:.3g}",
            "posterior": f"{draws[:, i].mean():.4g}",
            "ci": _range(draws[:, i]),
        }
        for i in range(stocks["mean"].size)
    ]
    return {"rows": rows}


def _plot_dataset(plots) -> xr.Dataset:
    inv = plots.inventory
    lo, hi = np.quantile(plots.draws, [0.025, 0.975], axis=1)
    return xr.Dataset(
        {
            "agb_mean_mg_ha": ("plot_id", plots.mean),
            "agb_sd_mg_ha": ("plot_id", plots.sd),
            "agb_q025_mg_ha": ("plot_id", lo),
            "agb_q975_mg_ha": ("plot_id", hi),
            "n_trees": ("plot_id", np.bincount(inv.tree_plot, minlength=inv.n_plots).astype(float)),
        },
        coords={"plot_id": inv.plot_id, "stratum": ("plot_id", inv.plot_stratum)},
    )


def _accuracy_dataset(data: RunData) -> xr.Dataset:
    """Per-year accuracy assessment of the loss map (stratified estimator)."""
    est = data.accuracy
    years = data.deforestation["year"]

    def col(f):
        return ("year", np.array([f(e) for e in est], dtype=float))

    return xr.Dataset(
        {
            "mapped_loss_ha": col(lambda e: e.mapped("loss")),
            "loss_ha": col(lambda e: e.area[0]),
            "loss_se_ha": col(lambda e: e.area_se[0]),
            "loss_ci_low_ha": col(lambda e: e.area_ci[0, 0]),
            "loss_ci_high_ha": col(lambda e: e.area_ci[0, 1]),
            "users_accuracy_loss": col(lambda e: e.users_accuracy[0]),
            "users_accuracy_loss_se": col(lambda e: e.users_accuracy_se[0]),
            "producers_accuracy_loss": col(lambda e: e.producers_accuracy[0]),
            "producers_accuracy_loss_se": col(lambda e: e.producers_accuracy_se[0]),
            "overall_accuracy": col(lambda e: e.overall_accuracy),
            "overall_accuracy_se": col(lambda e: e.overall_accuracy_se),
        },
        coords={"year": years},
    )


def _pm(estimate: float, se: float) -> str:
    """``estimate ± 95% half-width`` to two decimals."""
    return f"{estimate:.2f} ± {1.96 * se:.2f}"


def _accuracy_data(data: RunData) -> dict | None:
    if data.accuracy is None:
        return None
    ds = _accuracy_dataset(data)
    rows = []
    for i, year in enumerate(ds.year.values):
        r = {k: float(ds[k].values[i]) for k in ds.data_vars}
        rows.append(
            {
                "year": str(year),
                "mapped": _t(r["mapped_loss_ha"]),
                "loss": _t(r["loss_ha"]),
                "se": _t(r["loss_se_ha"]),
                "ci": f"{_t(r['loss_ci_low_ha'])} – {_t(r['loss_ci_high_ha'])}",
                "ua": _pm(r["users_accuracy_loss"], r["users_accuracy_loss_se"]),
                "pa": _pm(r["producers_accuracy_loss"], r["producers_accuracy_loss_se"]),
                "oa": f"{100 * r['overall_accuracy']:.2f}%",
            }
        )
    return {"rows": rows, "strata": ", ".join(data.accuracy[0].strata)}


def _baseline_loss_data(sim: Summary) -> dict:
    loss = sim["baseline_loss"]
    lo, hi = loss.quantile([0.05, 0.95])[:, -1]
    return {"mean": _t(loss.mean[-1]), "ci": f"{_t(lo)} – {_t(hi)}"}


# --------------------------------------------------------------------------- sensitivity

__all__ += ["write_sensitivity", "SENSITIVITY_FIGURES"]

#: Figures of the sensitivity stage (written by :func:`write_sensitivity`).
SENSITIVITY_FIGURES = ("sensitivity.png", "planning.png")

#: Columns of ``tables/sensitivity.csv`` and ``tables/planning.csv``.
SENSITIVITY_COLUMNS = ("label", "s1", "s1_conf", "st", "st_conf", "u_only_pct", "u_fixed_pct")
PLANNING_COLUMNS = (
    "lever",
    "added",
    "ner_mean",
    "uncertainty_pct",
    "uncertainty_pct_mcse",
    "deduction_fraction",
    "uncertainty_deduction",
    "credits",
    "credits_gained",
    "removes_deduction",
)


def write_sensitivity(out: Path, result) -> dict:
    """Write the sensitivity tables and figures; return their appendix section's data.

    Parameters
    ----------
    out : Path
        The run's output directory (``tables/`` and ``figures/`` exist).
    result : simulator.sensitivity.SensitivityResult
    """
    ind = result.indices
    outputs.write_csv(ind, "group", list(SENSITIVITY_COLUMNS), out / "tables" / "sensitivity.csv")
    plan = xr.Dataset(
        {c: ("row", np.array([r[c] for r in result.planning])) for c in PLANNING_COLUMNS},
        coords={"row": np.arange(len(result.planning))},
    )
    outputs.write_csv(plan, "row", list(PLANNING_COLUMNS), out / "tables" / "planning.csv")
    _fig_sensitivity(out / "figures" / "sensitivity.png", ind, result.notes)
    _fig_planning(out / "figures" / "planning.png", result.planning, result.notes)
    return _sensitivity_data(result)


def _fig_sensitivity(path: Path, ind: xr.Dataset, notes: dict) -> None:
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
    _save(fig, path)


def _fig_planning(path: Path, rows: list[dict], notes: dict) -> None:
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
        ax.legend(frameon=False, fontsize=7)
    _save(fig, path)


def _sensitivity_data(result) -> dict:
    ind, notes = result.indices, result.notes

    def ci(v, c):
        return f"{v:.3f} ± {c:.3f}"

    groups = [
        {
            "label": str(ind.label.values[i]),
            "s1": ci(float(ind.s1[i]), float(ind.s1_conf[i])),
            "st": ci(float(ind.st[i]), float(ind.st_conf[i])),
            "u_only": _pct(float(ind.u_only_pct[i])),
            "u_fixed": _pct(float(ind.u_fixed_pct[i])),
        }
        for i in range(ind.sizes["group"])
    ]
    plan = [
        {
            "lever": r["lever"].replace("_", " "),
            "added": str(r["added"]) if r["added"] != "inf" else "unlimited",
            "u": f"{r['uncertainty_pct']:.1f}% ± {r['uncertainty_pct_mcse']:.1f}",
            "fraction": _pct(100 * r["deduction_fraction"]),
            "deduction": _t(r["uncertainty_deduction"]),
            "credits": _t(r["credits"]),
            "gained": _t(r["credits_gained"]),
        }
        for r in result.planning
    ]
    searches = []
    for lever, s in result.searches.items():
        if s["smallest"] is not None:
            text = f"{s['smallest']} more {s['unit']} remove the deduction"
        elif s["reachable"]:
            text = f"more than {s['k_max']} {s['unit']} would be needed"
        else:
            text = (
                f"not reachable by {lever.replace('_', ' ')} alone: even unlimited "
                f"{s['unit']} leave a deduction"
            )
        searches.append({"lever": lever.replace("_", " "), "text": text})
    dep = notes["dependence"]
    return {
        "groups": groups,
        "planning": plan,
        "searches": searches,
        "standard": notes["standard"],
        "level": _pct(100 * notes["confidence"], 0),
        "index_level": _pct(100 * notes["index_confidence"], 0),
        "n_base": f"{notes['n_base']:,}",
        "n_evaluations": f"{notes['n_evaluations']:,}",
        "inner_draws": f"{notes['inner_draws']:,}",
        "u_all": _pct(notes["u_all_pct"]),
        "map_share": _pct(100 * notes["rate_map_share"]),
        "allometry_share": ", ".join(
            f"{k} {100 * v:.1f}%" for k, v in notes["allometry_share"].items()
        ),
        "plots": ", ".join(f"{k} {v}" for k, v in notes["n_plots"].items()),
        "rho": f"{dep['rho']:.3f}",
        "rho_pair": " and ".join(dep["pair"]),
    }
