"""The appendix's data contract: every number the typst template shows, formatted here.

Each function returns one section of ``appendix.json`` (plain strings, lists and
dicts); the template only lays them out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from models import biomass, deforestation, priors
from models.sampling import ESS_MIN, RHAT_MAX, flat_draws
from simulator.accounting import SIDE_BY_SIDE, Accounts
from simulator.accounting.standards import (
    NOT_AVAILABLE,
    STANDARDS,
    art_trees_deduction_fraction,
    fcpf_conservativeness_factor,
    vcs_deduction_fraction,
    vcs_mr44_discount_factor,
)
from simulator.data import RunData
from simulator.engine.streaming import BLOCK_SIZE, N_BINS, Summary
from simulator.inference import Posteriors, relative_risk
from simulator.report import tables
from simulator.report.arithmetic import deduction_chain, difference, scaled
from simulator.report.format import (
    central_range,
    pct,
    pm95,
    rel_pct,
    tco2e,
    to_sd,
)
from simulator.report.labels import (
    code_names,
    humanise,
    label_of,
    parameter_label,
    relabel,
    strata_labels,
)
from simulator.report.scope import scope_data

__all__ = [
    "DATA_ROLES",
    "appendix_data",
    "posterior_cache_text",
    "standards_data",
    "ipcc_data",
    "gates_data",
    "monte_carlo_data",
    "component_rows",
    "worked_deduction",
    "buffer_data",
    "prior_sensitivity_data",
    "noise_comparison_data",
    "budget_data",
    "stocks_data",
    "accuracy_data",
    "MAP_ROLES",
    "maps_data",
    "baseline_loss_data",
    "sensitivity_data",
]


#: Posterior contraction below which a parameter is called prior-dominated: its posterior
#: SD is more than ~87% of its prior SD (:func:`models.priors.contraction`).
PRIOR_DOMINATED = 0.25


def var_name(index) -> str:
    """The variable of a posterior-table row: ``mu_stratum[terra_firme]`` -> ``mu_stratum``."""
    return str(index).split("[", 1)[0]


#: What each input file holds (the appendix's data-sources table).
DATA_ROLES = {
    "plots": "field plots: stratum, area, subplot design",
    "trees": "tree inventory: diameter, height, genus, wood density",
    "deforestation": "annual loss of the reference region with its SE",
    "map_areas": "mapped area per year and map stratum",
    "accuracy_sample": "stratified accuracy-assessment sample of each year's map",
    "leakage_belt": "leakage-belt monitoring: belt loss, its baseline and SE",
    "project_monitoring": "monitored loss inside the project",
    "provenance": "sources of the published magnitudes and priors; scope and design",
}


#: What each ``[maps]`` file holds (listed with the data files; drawn, read by no model).
MAP_ROLES = {
    "loss": "loss-year raster (the activity-data map)",
    "project": "project boundary",
    "reference_region": "reference-region boundary",
    "belt": "leakage-belt boundary",
    "strata": "carbon strata of the project",
    "sample": "interpreted accuracy-sample points",
    "risk": "deforestation risk classes",
}


def posterior_cache_text(record: dict | None) -> str:
    """The appendix's sentence on where the posteriors came from (manifest ``posterior_cache``)."""
    if record is None or not record["enabled"]:
        return "The posteriors were sampled for this run (posterior cache off)."
    key = record["key"][:16]
    if record["hit"]:
        return (
            f"The posteriors were reused from the posterior cache: a reused posterior is "
            f"identified by its key ({key}…, in full in manifest.json under posterior_cache) "
            "and the SHA-256 of each of its files, checked before use; reddsim verify samples "
            "afresh."
        )
    return (
        f"The posteriors were sampled for this run and stored in the posterior cache under "
        f"key {key}… (manifest.json, posterior_cache: the key and each file's SHA-256)."
    )


def appendix_data(spec, data, posteriors, post_tables, summary, manifest) -> dict:
    cfg = spec.config
    risk = relative_risk(spec)
    bio = posteriors.trees["biomass"]
    agb_co2 = flat_draws(bio, "agb_tco2e_ha")
    carbon = flat_draws(bio, "carbon_tco2e_ha")
    area = np.array([s.area_ha for s in cfg.project.strata])
    agb_total = agb_co2 @ area
    labels = strata_labels(cfg)
    # the committed scripts that drew the synthetic data (the first kept as "generator")
    generators = [p.name for p in sorted(spec.run_dir.glob("generate*.py"))]
    strata = []
    for i, s in enumerate(cfg.project.strata):
        if posteriors.plots is not None:
            mask = data.plots["stratum"] == s.name
            n_plots, agb_plots = str(int(mask.sum())), f"{posteriors.plots.mean[mask].mean():.1f}"
        else:
            n_plots, agb_plots = "–", "–"  # stated carbon stocks, no plots
        strata.append(
            {
                "name": labels[s.name],
                "area": f"{s.area_ha:,.0f}",
                "risk": f"{risk[i]:.3f}",
                "plots": n_plots,
                "agb_plots": agb_plots,
                "carbon": f"{carbon[:, i].mean():.1f}",
                "carbon_ci": central_range(carbon[:, i]),
            }
        )
    rows = [
        {
            "period": period_name(r["period"], summary),
            "baseline": tco2e(r["baseline"]),
            "project": tco2e(r["project"]),
            "leakage": tco2e(r["leakage"]),
            "ner": tco2e(r["ner_mean"]),
            "ci": f"{tco2e(r['ner_ci_low'])} – {tco2e(r['ner_ci_high'])}",
            "mcse": f"±{tco2e(max(r['ner_ci_low_mcse'], r['ner_ci_high_mcse']))}",
            "u": pct(r["uncertainty_pct"]),
            "factor": f"{r['adjustment_factor']:.4f}",
            "deduction": tco2e(r["uncertainty_deduction"]),
            "adjusted": tco2e(r["adjusted_ner"]),
            "stock_change": tco2e(r["stock_change"]),
            "buffer": tco2e(r["buffer"]),
            "credits": tco2e(r["credits"]),
        }
        for r in tables.period_records(summary)
    ]
    params, prior_dominated = {}, []
    for name, table in post_tables.items():
        shrink = {
            str(idx): float(
                priors.contraction(row["sd"], priors.prior_sd(cfg, name, var_name(idx)))
            )
            for idx, row in table.iterrows()
        }
        prior_dominated += [
            parameter_label(idx, labels) for idx, c in shrink.items() if c < PRIOR_DOMINATED
        ]
        params[name] = [
            {
                "name": parameter_label(str(idx), labels),
                "contraction": "–" if np.isnan(shrink[str(idx)]) else f"{shrink[str(idx)]:.2f}",
                "mean": to_sd(row["mean"], row["sd"]),
                "sd": to_sd(row["sd"], row["sd"]),
                "lo": to_sd(row["eti90_lb"], row["sd"]),
                "hi": to_sd(row["eti90_ub"], row["sd"]),
                "ess_bulk": f"{row['ess_bulk']:,.0f}",
                "ess_tail": f"{row['ess_tail']:,.0f}",
                "rhat": f"{row['r_hat']:.3f}",
            }
            for idx, row in table.iterrows()
        ]
    diags = [
        {
            "model": d.model,
            "rhat": f"{d.max_r_hat:.3f}",
            "ess_bulk": f"{d.min_ess_bulk:,.0f}",
            "ess_tail": f"{d.min_ess_tail:,.0f}",
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
        "run_kind": manifest.get("run_kind", "ex-ante"),
        "created": manifest["created_utc"],
        "config_sha256": manifest["config_sha256"],
        "git_commit": manifest["git_commit"] or "not in a git repository",
        "posterior_cache": posterior_cache_text(manifest.get("posterior_cache")),
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
        "agb_total_ci": central_range(agb_total, 1e6),
        "strata": strata,
        # the key from what the appendix shows to the code names of tables/ and posterior.nc
        "code_names": [{"label": labels[s.name], "code": s.name} for s in cfg.project.strata]
        + [
            entry
            for table in post_tables.values()
            for entry in code_names([str(i) for i in table.index], labels)
        ],
        "data_files": [
            {
                "name": name,
                "path": str(getattr(cfg.data, name)),
                "sha": sha,
                "rows": f"{_file_rows(spec, data, name):,}",
                "role": DATA_ROLES.get(name, ""),
            }
            for name, sha in manifest["data_sha256"].items()
        ],
        "readme": (spec.run_dir / "README.md").is_file(),
        "generator": generators[0] if generators else "",
        "generators": generators,
        "priors": _priors(cfg, data.provenance),
        "magnitudes": [
            m.model_dump() for m in (data.provenance.magnitude if data.provenance else [])
        ],
        "scope": scope_data(spec, data),
        "sampler": (
            f"NUTS (nutpie), {s.chains} chains × {s.draws:,} draws after {s.tune:,} "
            f"tuning steps, target acceptance {s.target_accept}"
        ),
        "gate": f"R-hat ≤ {RHAT_MAX}, bulk and tail ESS ≥ {ESS_MIN}, no divergent transitions",
        "override": cfg.sampler.allow_failed_diagnostics,
        "all_passed": all(d.passed for d in posteriors.diagnostics),
        "diagnostics": diags,
        "params": params,
        "prior_dominated": prior_dominated,
        "prior_dominated_below": f"{PRIOR_DOMINATED:g}",
        "rows": rows,
        "total": {
            "ner": tco2e(tot.ner_mean),
            "ci": f"{tco2e(tot.ner_ci_low)} – {tco2e(tot.ner_ci_high)}",
            "u": pct(float(tot.uncertainty_pct)),
            "factor": f"{float(tot.adjustment_factor):.4f}",
            "deduction": tco2e(tot.uncertainty_deduction),
            "deduction_pct": pct(100 * float(tot.uncertainty_deduction / tot.ner_mean)),
            "adjusted": tco2e(tot.adjusted_ner),
            "stock_change": tco2e(tot.stock_change),
            "buffer": tco2e(tot.buffer),
            "credits": tco2e(tot.credits),
            "mcse_lo": tco2e(tot.ner_ci_low_mcse),
            "mcse_hi": tco2e(tot.ner_ci_high_mcse),
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


def _priors(cfg, provenance=None) -> list[dict]:
    """Prior of every parameter, as shown in the appendix (from config and model constants).

    With the run's provenance file (:mod:`simulator.data.provenance`) each row carries
    its prior's source and the reason it is reasonable ("not stated" without one).

    Each row names its model explicitly, so a run from carbon stocks (fewer biomass
    parameters) or with an allocated baseline (two more deforestation parameters)
    lists each prior under its own model.
    """
    b, d, lk = cfg.biomass, cfg.deforestation, cfg.leakage
    bh, dh = biomass.HYPERPRIORS, deforestation.HYPERPRIORS
    rs, post = b.root_shoot, d.post_conversion_tco2e_ha
    cf = b.carbon_fraction
    if cfg.data.carbon_stocks is not None:  # stated stocks: no inventory model, CF only for DM
        bio = [
            ("stock", "carbon stock per stratum and pool", "Normal(stated mean, SD) on [0, ∞)"),
            (
                "carbon_fraction",
                "carbon fraction CF (pools in dry matter)",
                f"Normal({cf.mean:g}, {cf.sd:g}) on [0, 1]",
            ),
        ]
    else:
        bio = [
            ("carbon_fraction", "carbon fraction CF", f"Normal({cf.mean:g}, {cf.sd:g})"),
            (
                "root_shoot",
                "root:shoot R",
                f"Normal({rs.mean:g}, {rs.sd:g}) on [{rs.lower:g}, {rs.upper:g}]",
            ),
            ("mu_stratum", "stratum log-mean AGB μ_s", "Normal(μ_0, σ_s)"),
            ("mu_0", "μ_0 (log Mg/ha)", "Normal({:.3f}, {:g})".format(*bh["mu_0"])),
            ("sigma_stratum", "σ_s", f"HalfNormal({bh['sigma_stratum']:g})"),
            ("tau", "between-plot SD τ_s (log)", f"HalfNormal({bh['tau']:g})"),
        ]
        if len(cfg.project.strata) == 1:  # nothing to pool: μ_s takes μ_0's prior
            bio[2:5] = [
                (
                    "mu_stratum",
                    "log-mean AGB μ (log Mg/ha)",
                    "Normal({:.3f}, {:g})".format(*bh["mu_0"]),
                )
            ]
    defo = [
        ("a", "log-hazard intercept a", "Normal({:.3f}, {:g})".format(*dh["a"])),
        ("b", "trend b", "Normal({:g}, {:g})".format(*dh["b"])),
        ("c", "highway effect c", "Normal({:g}, {:g})".format(*dh["c"])),
        ("sigma", "process noise σ (marginal SD)", f"HalfNormal({dh['sigma']:g})"),
    ]
    if d.noise == "ar1":
        defo.append(
            ("phi", "AR(1) coefficient φ", "(φ + 1)/2 ~ Beta({:g}, {:g})".format(*dh["phi"]))
        )
    defo += [
        (
            "effectiveness",
            "effectiveness e (vs the regional hazard)",
            f"Beta({d.effectiveness.alpha:g}, {d.effectiveness.beta:g})"
            + (f" on [{d.effectiveness.lower:g}, 1]" if d.effectiveness.lower else ""),
        ),
        (
            "post_conversion_tco2e_ha",
            "post-conversion carbon (tCO2e/ha)",
            f"Gamma(mean {post.mean:g}, sd {post.sd:g})",
        ),
    ]
    if d.allocation is not None:
        j, share = d.allocation.jurisdiction_loss_ha, d.allocation.risk_share
        defo += [
            (
                "jurisdiction_loss_ha",
                "jurisdiction loss J (ha/yr)",
                f"Gamma(mean {j.mean:g}, sd {j.sd:g})",
            ),
            ("risk_share", "project risk share s", f"Beta({share.alpha:g}, {share.beta:g})"),
        ]
    leak = [
        (
            "displacement",
            "leakage displacement λ",
            f"Beta({lk.displacement.alpha:g}, {lk.displacement.beta:g})",
        )
    ]
    if lk.belt_baseline_cv > 0:
        leak.append(
            (
                "belt_baseline_z",
                "belt counterfactual error log κ",
                f"Normal(0, {lk.belt_baseline_cv:g})",
            )
        )
    sources = provenance.prior if provenance is not None else {}
    return [
        {
            "name": name,
            "prior": prior,
            "model": model,
            "source": sources[key].source if key in sources else "not stated",
            "reason": sources[key].reason if key in sources else "not stated",
        }
        for model, rows in (("biomass", bio), ("deforestation", defo), ("leakage", leak))
        for key, name, prior in rows
    ]


def prior_sensitivity_data(rows: list[dict]) -> list[dict]:
    """The prior-sensitivity table (:mod:`simulator.analysis.prior_sensitivity`), formatted."""
    return [
        {
            "parameter": parameter_label(r["parameter"]),
            "case": r["case"],
            "prior": r["prior"],
            "mean": tco2e(r["ner_mean"]),
            "low": tco2e(r["ner_ci_low"]),
            "u": pct(r["uncertainty_pct"]),
            "credits": tco2e(r["credits"]),
            "change": "" if r["case"] == "run" else f"{r['credits_vs_run_pct']:+.1f}%",
        }
        for r in rows
    ]


def noise_comparison_data(rows: list[dict]) -> dict:
    """The PSIS-LOO comparison of the noise forms (:mod:`simulator.analysis.noise_choice`)."""
    names = {"iid": "independent years", "ar1": "AR(1)"}
    best = rows[0]
    used = next(r for r in rows if r["used"])
    other = next(r for r in rows if not r["used"])
    diff = used["elpd_loo"] - other["elpd_loo"]
    se = used["diff_se"] if used is not best else other["diff_se"]
    return {
        "rows": [
            {
                "noise": names[r["noise"]] + (" (the run's)" if r["used"] else ""),
                "elpd": f"{r['elpd_loo']:.1f}",
                "se": f"{r['se']:.1f}",
                "p": f"{r['p_loo']:.1f}",
                "diff": f"{r['elpd_diff']:.1f}",
                "dse": f"{r['diff_se']:.1f}",
                "k": f"{r['pareto_k_max']:.2f}",
            }
            for r in rows
        ],
        "used": names[used["noise"]],
        "other": names[other["noise"]],
        "diff": f"{diff:+.1f}",
        "dse": f"{se:.1f}",
        "clear": abs(diff) > 2 * se,
        "unreliable": any(r["pareto_k_max"] > 0.7 for r in rows),
    }


def standards_data(accounts: Accounts, primary: str) -> dict:
    side = accounts.side_by_side
    rows = []
    for key in side.standard.values:
        std = STANDARDS[str(key)]
        for r in tables.period_records(side.sel(standard=key), ("ner_mean", *SIDE_BY_SIDE)):
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
                    "u": pct(r["uncertainty_pct"]),
                    # the standard's own fraction, of its own base; then all on one base
                    "fraction": pct(100 * r["deduction_fraction"], 2)
                    + {"ner": " of NER", "gross": " of gross ER"}[std.applies_to],
                    "of_ner": pct(100 * r["uncertainty_deduction"] / r["ner_mean"], 2),
                    "deduction": tco2e(r["uncertainty_deduction"]),
                    "buffer": tco2e(r["buffer"]),
                    "credits": tco2e(r["credits"]),
                    "citation": std.citation
                    + (f". Illustrative: {std.illustrative}" if std.illustrative else ""),
                    "buffer_on": {
                        "stock_change": "unadjusted stock change (leakage excluded)",
                        "after_deduction": "NER after the uncertainty deduction",
                    }[std.buffer_on],
                }
            )
    per_year = [
        {
            "period": str(p),
            "credits": [
                tco2e(side.credits.sel(standard=k, period=p)) for k in side.standard.values
            ],
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


def ipcc_data(ipcc: dict) -> dict:
    return {
        "level": f"{100 * ipcc['confidence']:.0f}%",
        "components": [
            {"name": name, "mean": f"{mean:,.4g}", "u": pct(100 * u)}
            for name, mean, u in ipcc["components"]
        ],
        "approach1": pct(100 * ipcc["approach1"]),
        "approach2": pct(100 * ipcc["approach2"]),
        "ef_mc": pct(100 * ipcc["emission_factor_monte_carlo"]),
    }


def _file_rows(spec, data: RunData, name: str) -> int:
    """Rows of a data file; entries of the provenance file."""
    if name == "provenance" and data.provenance is not None:
        return data.provenance.rows()
    return _data_rows(spec.data_path(name))


def _data_rows(path: Path) -> int:
    """Data rows of a CSV file (lines after the header, blank lines not counted)."""
    with open(path, encoding="utf-8") as fh:
        return max(0, sum(1 for line in fh if line.strip()) - 1)


def gates_data(manifest: dict, posteriors: Posteriors) -> dict:
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
            f"Monte Carlo error of the total-NER interval bounds {rel_pct(mc['relative_high'])} / "
            f"{rel_pct(mc['relative_low'])} of the mean (limit {100 * mc['limit']:g}%)"
        )
    return {
        "passed": g["passed"],
        "sampler_passed": g["sampler_passed"],
        "mc_passed": mc["passed"],
        "override": g["override"] or "",
        "failures": failures,
        "mc_relative": rel_pct(max(mc["relative_low"], mc["relative_high"])),
        "mc_limit": f"{100 * mc['limit']:g}%",
        "mc_required": f"{mc['required_draws']:,}" if mc["required_draws"] else "",
    }


def period_name(period: str, summary: xr.Dataset) -> str:
    """A period as the appendix shows it: a year, or the whole crediting period.

    The ``total`` row of the tables is the distribution of the crediting period's total,
    accounted on its own (its deduction is not the sum of the years'), so the appendix
    names it by its years rather than calling it a total.
    """
    if period != "total":
        return period
    years = [str(p) for p in summary["period"].values if str(p) != "total"]
    return f"{years[0]}–{years[-1]} (whole period)"


def monte_carlo_data(summary: xr.Dataset, sim: Summary) -> dict:
    """Monte Carlo standard error of the mean and of each CI bound, per period."""
    rows = []
    for r in tables.period_records(summary):
        mean = abs(r["ner_mean"])

        def rel(v, mean=mean):
            return rel_pct(v / mean) if mean > 0 else "undefined"

        rows.append(
            {
                "period": period_name(r["period"], summary),
                "mean": tco2e(r["ner_mean"]),
                "mean_mcse": tco2e(r["ner_mean_mcse"]),
                "low": tco2e(r["ner_ci_low"]),
                "low_mcse": tco2e(r["ner_ci_low_mcse"]),
                "low_rel": rel(r["ner_ci_low_mcse"]),
                "high": tco2e(r["ner_ci_high"]),
                "high_mcse": tco2e(r["ner_ci_high_mcse"]),
                "high_rel": rel(r["ner_ci_high_mcse"]),
            }
        )
    ner = sim["ner"]
    bound = getattr(ner, "quantile_error_bound", np.zeros_like(ner.mean))
    return {
        "rows": rows,
        "bins": f"{N_BINS:,}",
        "block": f"{BLOCK_SIZE:,}",
        "quantile_error": rel_pct(float(bound[-1] / abs(ner.mean[-1]))),
    }


def component_rows(sim: Summary, summary: xr.Dataset) -> list[dict]:
    """Per period: mean and central interval (the standard's level) of each component."""
    conf = float(summary.attrs["confidence"])
    q = [(1 - conf) / 2, (1 + conf) / 2]
    parts = ("baseline", "project", "leakage")
    cis = {name: sim[name].quantile(q) for name in parts}
    rows = []
    for i, r in enumerate(tables.period_records(summary)):
        row = {"period": period_name(r["period"], summary)}
        for name in parts:
            row[name] = tco2e(r[name])
            row[f"{name}_ci"] = f"{tco2e(cis[name][0][i])} – {tco2e(cis[name][1][i])}"
        row["ner"] = tco2e(r["ner_mean"])
        row["ner_ci"] = f"{tco2e(r['ner_ci_low'])} – {tco2e(r['ner_ci_high'])}"
        rows.append(row)
    return rows


def worked_deduction(std, summary: xr.Dataset) -> dict:
    """The run standard's deduction for the whole period: which rule, and its numbers as text.

    The template writes each rule's formula itself and inserts these strings as
    text; nothing here is typst source (the appendix never evaluates its data).
    """
    tot = {k: float(summary[k].sel(period="total")) for k in summary.data_vars}
    lo, hi, mean, median = tot["ner_ci_low"], tot["ner_ci_high"], tot["ner_mean"], tot["ner_median"]
    u, frac, ded = (
        tot["uncertainty_pct"] / 100,
        tot["deduction_fraction"],
        tot["uncertainty_deduction"],
    )
    centre, centre_name = (mean, "mean") if std.relative_to == "mean" else (median, "median")
    rule = {
        vcs_mr44_discount_factor: "mr44",
        vcs_deduction_fraction: "vcs",
        art_trees_deduction_fraction: "art",
        fcpf_conservativeness_factor: "fcpf",
    }.get(std.rule, "")
    chain = deduction_chain(
        rule,
        high=hi,
        low=lo,
        centre=centre,
        base=tot["stock_change"] if rule == "art" else mean,
        u=u,
        fraction=frac,
        deduction=ded,
    )
    adjusted = difference(mean, ded, tot["adjusted_ner"])
    return {
        "rule": rule,
        # ART TREES Eq. 11: U is the half-width of the interval of gross reductions
        "of_gross": std.uncertainty_of == "gross",
        "level": f"{100 * std.confidence:.0f}",
        "centre_name": centre_name,
        **chain,
        "u_pct1": f"{100 * u:.1f} %",
        "frac_pct": f"{100 * frac:g} %",
        "adjusted": adjusted,
    }


def buffer_data(summary: xr.Dataset) -> dict:
    """Buffer and credits of the whole period: the buffer's base and the numbers as text."""
    tot = {k: float(summary[k].sel(period="total")) for k in summary.data_vars}
    pct = float(summary.attrs["buffer_pct"])
    on = summary.attrs["buffer_on"]
    base = tot["stock_change"] if on == "stock_change" else tot["adjusted_ner"]
    return {
        "on": "stock_change" if on == "stock_change" else "adjusted_ner",
        "pct": f"{pct:g} %",
        "buffer": scaled(f"{pct / 100:g}", base, tot["buffer"]),
        "credits": difference(tot["adjusted_ner"], tot["buffer"], tot["credits"]),
    }


def budget_data(budget_ds: xr.Dataset, plots, labels: dict[str, str]) -> dict:
    inv = plots.inventory
    sources, counts = np.unique(inv.wood_density_source, return_counts=True)
    n = inv.dbh_cm.size
    hd = plots.height_model
    return {
        "rows": [
            {
                "stratum": label_of(str(s), labels),
                **{
                    k: f"{float(budget_ds[f'{k}_pct'].sel(stratum=s)):.1f}"
                    for k in tables.BUDGET_SOURCES
                },
                "rsd": f"{float(budget_ds.relative_sd_pct.sel(stratum=s)):.1f}%",
            }
            for s in budget_ds.stratum.values
        ],
        "n_trees": f"{n:,}",
        "n_plots": str(inv.n_plots),
        "heights_measured": pct(100 * np.mean(np.isfinite(inv.height_m))),
        "wood_density": ", ".join(
            f"{s} {c:,} ({100 * c / n:.0f}%)" for s, c in zip(sources, counts, strict=True)
        ),
        "height_model": relabel(hd.describe() if hasattr(hd, "describe") else str(hd), labels),
        "n_mc": f"{plots.draws.shape[1]:,}",
    }


def stocks_data(data: RunData, posteriors: Posteriors, labels: dict[str, str]) -> dict:
    """Stated carbon stocks and their posterior (truncated at zero), for the appendix."""
    stocks = data.carbon_stocks
    draws = flat_draws(posteriors.trees["biomass"], "stock")
    rows = [
        {
            "stratum": label_of(str(stocks["stratum"][i]), labels),
            "pool": str(stocks["pool"][i]),
            "unit": str(stocks["unit"][i]),
            "stated": f"{stocks['mean'][i]:.4g} ± {stocks['sd'][i]:.3g}",
            "posterior": f"{draws[:, i].mean():.4g}",
            "ci": central_range(draws[:, i]),
        }
        for i in range(stocks["mean"].size)
    ]
    return {"rows": rows}


def maps_data(maps, info: dict) -> dict:
    """The maps figure's caption and the ``[maps]`` files with their SHA-256.

    ``maps`` is a :class:`simulator.report.figures.maps.RunMaps`, ``info`` what
    :func:`simulator.report.figures.maps.fig_maps` drew.
    """
    t = maps.loss.transform
    size = abs(t.a)
    unit = "m" if size >= 1 else "°"
    sample = info.get("sample")
    return {
        "figure": "figures/maps.png",
        "years": f"{maps.loss.years[0]}–{maps.loss.years[-1]}",
        "pixel": f"{size:g} {unit}" if unit == "m" else f"{size:g}°",
        "pool": str(info["pool"]),
        "zoom_pool": str(info["zoom_pool"]),
        "strata": maps.strata is not None,
        "belt": "leakage_belt" in maps.boundaries,
        "sample": None
        if sample is None
        else {
            "year": str(sample["year"]),
            "n": f"{sample['n']:,}",
            "loss": f"{sample['loss']:,}",
            "forest": f"{sample['forest']:,}",
            "buffer_pixels": str(maps.buffer_pixels),
        },
        "risk": info.get("risk") is not None,
        "files": [
            {
                "name": f"maps.{name}",
                "path": maps.paths[name],
                "sha": sha,
                "rows": "–",
                "role": MAP_ROLES.get(name, ""),
            }
            for name, sha in maps.sha256.items()
        ],
    }


def accuracy_data(data: RunData) -> dict | None:
    if data.accuracy is None:
        return None
    ds = tables.accuracy_dataset(data)
    rows = []
    for i, year in enumerate(ds.year.values):
        r = {k: float(ds[k].values[i]) for k in ds.data_vars}
        rows.append(
            {
                "year": str(year),
                "mapped": tco2e(r["mapped_loss_ha"]),
                "loss": tco2e(r["loss_ha"]),
                "se": tco2e(r["loss_se_ha"]),
                "ci": f"{tco2e(r['loss_ci_low_ha'])} – {tco2e(r['loss_ci_high_ha'])}",
                "ua": pm95(r["users_accuracy_loss"], r["users_accuracy_loss_se"]),
                "pa": pm95(r["producers_accuracy_loss"], r["producers_accuracy_loss_se"]),
                "oa": f"{100 * r['overall_accuracy']:.2f}%",
                "pooled": tco2e(r["pooled_loss_ha"]),
                "pooled_se": tco2e(r["pooled_loss_se_ha"]),
                "pooled_change": f"{100 * (r['pooled_loss_ha'] / r['loss_ha'] - 1):+.1f}%",
                "buffer_points": (
                    str(int(data.accuracy[i].counts[data.accuracy[i].strata.index("buffer"), 0]))
                    if "buffer" in data.accuracy[i].strata
                    else "–"
                ),
            }
        )
    return {
        "rows": rows,
        "strata": ", ".join(humanise(h).lower() for h in data.accuracy[0].strata),
        "pooled_design_strata": ", ".join(
            humanise(h).lower() for h in ds.attrs["pooled_design_strata"].split(", ") if h
        )
        or "none",
    }


def baseline_loss_data(sim: Summary) -> dict:
    loss = sim["baseline_loss"]
    lo, hi = loss.quantile([0.05, 0.95])[:, -1]
    return {"mean": tco2e(loss.mean[-1]), "ci": f"{tco2e(lo)} – {tco2e(hi)}"}


#: Unit of the added effort of each planning lever, as the table's column header names it.
PLANNING_UNITS = {
    "plots": "plots per stratum",
    "accuracy_points": "points per stratum and year",
}


def sensitivity_data(result, labels: dict[str, str]) -> dict:
    ind, notes = result.indices, result.notes

    def ci(v, c):
        return f"{v:.3f} ± {c:.3f}"

    groups = [
        {
            "label": relabel(str(ind.label.values[i]), labels),
            "s1": ci(float(ind.s1[i]), float(ind.s1_conf[i])),
            "st": ci(float(ind.st[i]), float(ind.st_conf[i])),
            "u_only": pct(float(ind.u_only_pct[i])),
            "u_fixed": pct(float(ind.u_fixed_pct[i])),
        }
        for i in range(ind.sizes["group"])
    ]
    plan = [
        {
            "lever": r["lever"].replace("_", " "),
            "added": str(r["added"]) if r["added"] != "inf" else "unlimited",
            # two decimals: the rows differ by hundredths; their common error keeps their order
            "u": f"{r['uncertainty_pct']:.2f} ± {r['uncertainty_pct_mcse']:.2f}",
            "fraction": f"{100 * r['deduction_fraction']:.2f}",
            "deduction": tco2e(r["uncertainty_deduction"]),
            "credits": tco2e(r["credits"]),
            "gained": tco2e(r["credits_gained"]),
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
    shares = notes.get("planning_shares", {})
    levers = [
        {
            "lever": lever.replace("_", " "),
            "added_unit": PLANNING_UNITS.get(lever, s["unit"]),
            "rows": [p for p, r in zip(plan, result.planning, strict=True) if r["lever"] == lever],
            "search": text["text"],
            "shares": ", ".join(
                (f"{relabel(part, labels)} " if part != "map" else "") + f"{100 * v:.2f}%"
                for part, v in shares.get(lever, {}).items()
            ),
        }
        for (lever, s), text in zip(result.searches.items(), searches, strict=True)
    ]
    dep = notes["dependence"]
    return {
        "groups": groups,
        "planning": plan,
        "searches": searches,
        "levers": levers,
        "u_run": pct(notes["u_run_pct"]) if "u_run_pct" in notes else "",
        "u_run_mcse": f"{notes['u_run_mcse']:.2f}" if "u_run_mcse" in notes else "",
        "standard": notes["standard"],
        "level": pct(100 * notes["confidence"], 0),
        "index_level": pct(100 * notes["index_confidence"], 0),
        "n_base": f"{notes['n_base']:,}",
        "n_evaluations": f"{notes['n_evaluations']:,}",
        "inner_draws": f"{notes['inner_draws']:,}",
        "u_all": pct(notes["u_all_pct"]),
        "map_share": pct(100 * notes["rate_map_share"]),
        "allometry_share": ", ".join(
            f"{relabel(k, labels)} {100 * v:.1f}%" for k, v in notes["allometry_share"].items()
        ),
        "plots": ", ".join(f"{relabel(k, labels)} {v}" for k, v in notes["n_plots"].items()),
        "rho": f"{dep['rho']:.3f}",
        "rho_pair": " and ".join(relabel(n, labels) for n in dep["pair"]),
    }
