"""Everything a run writes besides ``manifest.json``: posterior, summary, tables, figures, appendix.

:func:`write_outputs` writes ``posterior.nc``, ``summary.nc``, ``tables/*.csv``
(:mod:`simulator.report.tables`), ``figures/*.png`` (:mod:`simulator.report.figures`),
``appendix.json`` (:mod:`simulator.report.appendix`, every number formatted) +
``appendix.typ`` (the typst template, so the PDF can be rebuilt) and
``appendix.pdf`` (:mod:`simulator.report.pdf`).
"""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import arviz as az
import numpy as np

from simulator.accounting import Accounts
from simulator.accounting.standards import STANDARDS
from simulator.analysis import prior_sensitivity
from simulator.config import RunSpec
from simulator.data import RunData
from simulator.engine.kernels import KernelInputs
from simulator.engine.streaming import Summary
from simulator.inference import Posteriors
from simulator.report import appendix, tables
from simulator.report.figures import biomass as fig_biomass
from simulator.report.figures import deforestation as fig_deforestation
from simulator.report.figures import leakage as fig_leakage
from simulator.report.figures import maps as fig_maps
from simulator.report.figures import sampling as fig_sampling
from simulator.report.figures import sensitivity as fig_sensitivity
from simulator.report.figures import simulation as fig_simulation
from simulator.report.labels import relabel, strata_labels
from simulator.report.pdf import compile_appendix

__all__ = ["FIGURES", "SENSITIVITY_FIGURES", "write_maps", "write_outputs", "write_sensitivity"]


#: Figures of the appendix (besides those of the sensitivity stage).
FIGURES = (
    "deforestation_checks.png",
    "biomass_checks.png",
    "leakage_checks.png",
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
    noise_comparison: list[dict] | None = None,
    replicates: dict[str, np.ndarray] | None = None,
    prior_rows: list[dict] | None = None,
    maps=None,
) -> None:
    """Write posterior, summary, tables, figures and the appendix into ``out``.

    ``sensitivity`` (a :class:`simulator.sensitivity.SensitivityResult`, optional)
    adds its tables, figures and appendix section (:func:`write_sensitivity`);
    ``noise_comparison`` (:func:`simulator.analysis.noise_choice.compare_noise`, optional)
    ``tables/noise_comparison.csv`` and its paragraph; ``replicates``
    (:func:`simulator.inference.fit.cached_replicates`, optional) are the posterior
    predictive draws the biomass and leakage checks summarise (drawn here if absent);
    ``prior_rows`` (:func:`simulator.analysis.prior_sensitivity.cached_prior_sensitivity`,
    optional) the prior-sensitivity table (computed here if absent); ``maps``
    (:func:`simulator.report.figures.maps.read_run_maps`, a run with ``[maps]``)
    ``figures/maps.png`` and its place in the appendix, with the files' SHA-256.
    """
    replicates = replicates or {}
    cfg = spec.config
    attrs = {"config_sha256": cfg.digest(), "reddsim_version": manifest["versions"]["reddsim"]}
    tables.write_posterior(posteriors.combined(attrs), out / "posterior.nc")
    figdir = out / "figures"
    figdir.mkdir()
    gated = {name: posteriors.gated[name] for name in posteriors.trees}
    titles = fig_sampling.rank_titles(posteriors.trees, gated, strata_labels(cfg))
    # the rank plots are drawn from posterior.nc by another process meanwhile
    with fig_sampling.rank_figures(out / "posterior.nc", figdir, gated, titles):
        summary = accounts.summary.assign_attrs(attrs)
        tables.write_summary(summary, out / "summary.nc")
        tables.write_csv(summary, "period", tables.TABLE_COLUMNS, out / "tables" / "summary.csv")
        tables.write_standards_csv(accounts.side_by_side, out / "tables" / "standards.csv")
        if accounts.periods is not None:
            periods = accounts.periods.table.to_dataframe().reset_index()
            periods.to_csv(out / "tables" / "monitoring_periods.csv", index=False)
            vint = accounts.periods.vintages.rename("credits").to_dataframe().reset_index()
            vint.to_csv(out / "tables" / "vintages.csv", index=False)
        if prior_rows is None:
            prior_rows = prior_sensitivity.prior_sensitivity(spec, inputs)
        tables.write_rows(
            out / "tables" / "prior_sensitivity.csv", prior_sensitivity.COLUMNS, prior_rows
        )
        strata = [st.name for st in cfg.project.strata]
        if posteriors.plots is not None:
            budget_ds = tables.write_inventory_tables(out, data, posteriors, budget, strata)
        fan = tables.quantiles_dataset(sim["ner"], years)
        tables.write_csv(fan, "year", list(fan.data_vars), out / "tables" / "ner_quantiles.csv")
        loss_fan = tables.quantiles_dataset(sim["baseline_loss"], years)
        tables.write_csv(
            loss_fan,
            "year",
            list(loss_fan.data_vars),
            out / "tables" / "baseline_loss_quantiles.csv",
        )
        post_tables = {}
        for name, tree in posteriors.trees.items():
            table = az.summary(
                tree, var_names=posteriors.gated[name], ci_prob=0.90, round_to="none"
            )
            table.to_csv(out / "tables" / f"posterior_{name}.csv")
            post_tables[name] = table
        fig_biomass.fig_biomass_density(figdir / "biomass_density.png", spec, posteriors)
        if posteriors.plots is not None:
            fig_biomass.fig_plot_agb(figdir / "plot_agb.png", strata_labels(cfg), posteriors.plots)
        fig_deforestation.fig_rates(
            figdir / "deforestation_rates.png",
            spec,
            data,
            posteriors.trees["deforestation"],
            inputs,
            years,
        )
        fig_deforestation.fig_parameters(figdir / "parameters.png", spec, posteriors)
        ppc = fig_deforestation.fig_deforestation_checks(
            figdir / "deforestation_checks.png",
            data,
            posteriors.trees["deforestation"],
            cfg.simulation.seed,
        )
        ppc_biomass = (
            fig_biomass.fig_biomass_checks(
                figdir / "biomass_checks.png",
                strata_labels(cfg),
                posteriors.plots,
                posteriors.trees["biomass"],
                cfg.biomass,
                cfg.simulation.seed,
                replicates.get("biomass"),
            )
            if posteriors.plots is not None
            else None
        )
        ppc_leakage = (
            fig_leakage.fig_leakage_checks(
                figdir / "leakage_checks.png",
                data,
                posteriors.trees["leakage"],
                cfg.leakage,
                cfg.simulation.seed,
                replicates.get("leakage"),
            )
            if data.leakage_belt is not None and "leakage" in posteriors.trees
            else None
        )
        fig_simulation.fig_fan(
            figdir / "ner_fan.png",
            fan,
            color="C2",
            ylabel="NER (tCO2e / yr)",
            title="Net emission reductions per year (simulated distribution)",
        )
        fig_simulation.fig_fan(
            figdir / "baseline_loss.png",
            loss_fan,
            color="C3",
            ylabel="baseline loss (ha / yr)",
            title="Projected baseline deforestation in the project area",
        )
        fig_simulation.fig_total(figdir / "ner_total.png", sim, summary)
        fig_simulation.fig_waterfall(figdir / "waterfall.png", summary)
        fig_simulation.fig_convergence(
            figdir / "mc_convergence.png", sim, manifest["gates"]["monte_carlo"]["limit"]
        )
        doc = appendix.appendix_data(spec, data, posteriors, post_tables, summary, manifest)
        doc["standards"] = appendix.standards_data(accounts, cfg.accounting.standard)
        doc["budget"] = (
            appendix.budget_data(budget_ds, posteriors.plots, strata_labels(cfg))
            if posteriors.plots is not None
            else None
        )
        doc["stocks"] = (
            appendix.stocks_data(data, posteriors, strata_labels(cfg))
            if data.carbon_stocks is not None
            else None
        )
        doc["accuracy"] = appendix.accuracy_data(data)
        write_maps(doc, figdir, maps, strata_labels(cfg))
        doc["baseline_loss"] = appendix.baseline_loss_data(sim)
        doc["ppc"] = ppc
        doc["ppc_biomass"] = ppc_biomass
        doc["ppc_leakage"] = ppc_leakage
        if data.accuracy is not None:
            acc = tables.accuracy_dataset(data)
            tables.write_csv(
                acc, "year", list(acc.data_vars), out / "tables" / "accuracy_assessment.csv"
            )
        doc["ipcc"] = appendix.ipcc_data(accounts.ipcc)
        doc["gates"] = appendix.gates_data(manifest, posteriors)
        doc["monte_carlo"] = appendix.monte_carlo_data(summary, sim)
        doc["components"] = appendix.component_rows(sim, summary)
        doc["deduction"] = appendix.worked_deduction(STANDARDS[cfg.accounting.standard], summary)
        doc["buffer"] = appendix.buffer_data(summary)
        doc["prior_sensitivity"] = appendix.prior_sensitivity_data(prior_rows)
        doc["prior_sensitivity_draws"] = f"{prior_sensitivity.n_draws(cfg):,}"
        doc["noise_comparison"] = None
        if noise_comparison is not None:
            from simulator.analysis.noise_choice import COLUMNS as NOISE_COLUMNS

            tables.write_rows(
                out / "tables" / "noise_comparison.csv", NOISE_COLUMNS, noise_comparison
            )
            doc["noise_comparison"] = appendix.noise_comparison_data(noise_comparison)
        if sensitivity is not None:
            doc["sensitivity"] = write_sensitivity(out, sensitivity, strata_labels(cfg))
        (out / "appendix.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        template = resources.files("simulator.report.templates").joinpath("appendix.typ")
        shutil.copyfile(str(template), out / "appendix.typ")
    compile_appendix(out)


def write_maps(doc: dict, figdir: Path, maps, labels: dict[str, str]) -> None:
    """With ``maps``, draw ``figures/maps.png`` and add its section to the appendix ``doc``.

    Without (a run with no ``[maps]``) nothing is drawn and ``doc`` is left as it was.
    """
    if maps is None:
        return
    drawn = fig_maps.fig_maps(figdir / fig_maps.MAPS_FIGURE, maps, labels)
    doc["maps"] = appendix.maps_data(maps, drawn)


#: Figures of the sensitivity stage (written by :func:`write_sensitivity`).
SENSITIVITY_FIGURES = ("sensitivity.png", "planning.png")


def write_sensitivity(out: Path, result, labels: dict[str, str] | None = None) -> dict:
    """Write the sensitivity tables and figures; return their appendix section's data.

    Parameters
    ----------
    out : Path
        The run's output directory (``tables/`` and ``figures/`` exist).
    result : simulator.analysis.sensitivity.SensitivityResult
    labels : dict, optional
        Display name of each stratum (:func:`simulator.report.labels.strata_labels`).
    """
    labels = labels or {}
    tables.write_sensitivity_tables(out, result)
    ind = result.indices
    ind = ind.assign(label=("group", [relabel(str(x), labels) for x in ind.label.values]))
    fig_sensitivity.fig_sensitivity(out / "figures" / "sensitivity.png", ind, result.notes)
    fig_sensitivity.fig_planning(out / "figures" / "planning.png", result.planning, result.notes)
    return appendix.sensitivity_data(result, labels)
