"""Scope and design of a run: what it counts, where, from which period and plots.

Shared by the ex-ante appendix (:mod:`simulator.report.appendix`) and the
monitoring appendix (:mod:`simulator.report.monitoring`): the statements of the
run's provenance file (:mod:`simulator.data.provenance`) beside the facts the run
computes, and which inputs are fixed at validation and which are monitored.
"""

from __future__ import annotations

import numpy as np

from models import deforestation
from simulator.data import RunData
from simulator.report.labels import strata_labels

__all__ = ["PARAMETERS", "scope_data"]

#: Which inputs of a monitoring run are fixed at validation and which are monitored.
PARAMETERS = (
    ("baseline loss rate (rate model: a, b, c, σ)", "fixed at validation", "ex-ante posterior"),
    ("stratum carbon density (biomass model)", "fixed at validation", "ex-ante posterior"),
    ("post-conversion carbon C_post", "fixed at validation", "ex-ante prior draws"),
    ("project strata and their areas, relative risks", "fixed at validation", "ex-ante run.toml"),
    ("project loss per stratum and period", "monitored", "period's map + accuracy sample"),
    ("leakage-belt loss per period", "monitored", "period's map + accuracy sample"),
    ("leakage-belt forest and relative risk", "fixed at validation", "monitoring run.toml"),
    ("non-permanence risk rating", "each verification", "risk scores in run.toml"),
    ("project effectiveness e", "not used", "the project's loss is observed"),
)


def scope_data(spec, data: RunData, risk=None) -> dict:
    """Scope and design: the provenance file's statements beside what the run itself shows.

    Each statement an analyst writes (``[scope]`` of the provenance file) is printed
    with the facts the run computes from its configuration and data: the pools it
    counts, the reference years and their gap to the crediting start, the plots per
    stratum and their sizes, the non-permanence risk scores and rating. ``spec`` and
    ``data`` are the ex-ante run's (for a monitoring run, its validated baseline's);
    ``risk``, when given, replaces its risk scores (a monitoring run's own).
    """
    cfg = spec.config
    prov = data.provenance.scope if data.provenance is not None else None

    def stated(field: str) -> str:
        return getattr(prov, field) if prov is not None else "not stated"

    years = np.asarray(data.deforestation["year"])
    start = cfg.crediting.start_year
    gap = deforestation.gap_years(years, start)
    if data.carbon_stocks is not None:
        counted = ", ".join(sorted(set(map(str, data.carbon_stocks["pool"]))))
        plots = "biomass from stated carbon stocks per stratum and pool: no field plots in this run"
    else:
        counted = "AGB and BGB (BGB = AGB × root:shoot)"
        labels = strata_labels(cfg)
        per = [
            f"{labels[st.name]} {int(np.sum(data.plots['stratum'] == st.name))}"
            for st in cfg.project.strata
        ]
        sizes = sorted({float(a) for a in data.plots["area_ha"]})
        nested = int(np.sum(data.plots["subplot_area_ha"] < data.plots["area_ha"]))
        plots = (
            f"{data.plots['plot_id'].size} plots ({', '.join(per)}) of "
            f"{' or '.join(f'{a:g}' for a in sizes)} ha, {nested} with a nested subplot"
        )
    risk = cfg.accounting.risk if risk is None else risk
    return {
        "pools": stated("pools"),
        "pools_counted": counted,
        "gases": stated("gases"),
        "reference_region": stated("reference_region"),
        "reference_years": f"{years.min()}–{years.max()} ({years.size} years)",
        "crediting": f"{start}–{start + cfg.crediting.years - 1}",
        "gap": (
            f"{gap} year(s), {years.max() + 1}–{start - 1}, without activity data: the hazard is "
            "carried through them with the fitted trend and process noise"
            if gap
            else "none: the crediting period starts the year after the last reference year"
        ),
        "reference_period": stated("reference_period"),
        "plots": plots,
        "plot_design": stated("plot_design"),
        "qa_qc": stated("qa_qc"),
        "risk": (
            f"internal {risk.internal:g}, external {risk.external:g}, natural {risk.natural:g}: "
            f"rating {risk.rating()}% (AFOLU Non-Permanence Risk Tool v4.2 §2.5)"
            if risk is not None
            else f"no scores in the configuration: buffer_pct {cfg.accounting.buffer_pct:g} stated"
        ),
        "risk_report": stated("risk_report"),
        "parameters": [{"parameter": a, "status": b, "source": c} for a, b, c in PARAMETERS],
    }
