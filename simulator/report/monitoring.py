"""What a monitoring run writes: ``monitoring.json``, tables and the monitoring appendix."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from importlib import metadata, resources
from pathlib import Path

import numpy as np

from simulator.accounting.standards import STANDARDS, relative_half_width
from simulator.report.arithmetic import difference, half_width_ratio, scaled
from simulator.report.labels import strata_labels
from simulator.report.manifest import MONITORING_NAME
from simulator.report.pdf import compile_appendix
from simulator.report.scope import PARAMETERS, scope_data

__all__ = ["PARAMETERS", "monitoring_json", "write_monitoring"]


def _num(x):
    x = float(x)
    return None if not np.isfinite(x) else x


def _interval(x: np.ndarray) -> list:
    return [_num(v) for v in np.quantile(x, [0.05, 0.95])]


def _areas(result) -> list[dict]:
    rows = []
    for (period, area), est in result.loss.estimates.items():
        lo, hi = est.area_ci[0]
        rows.append(
            {
                "period": period,
                "area": area,
                "mapped_loss_ha": _num(est.mapped("loss")),
                "loss_ha": _num(est.area[0]),
                "loss_se_ha": _num(est.area_se[0]),
                "ci_low": _num(lo),
                "ci_high": _num(hi),
                "users_accuracy": _num(est.users_accuracy[0]),
                "producers_accuracy": _num(est.producers_accuracy[0]),
                "sample_n": int(est.counts.sum()),
            }
        )
    return rows


def _components(result) -> list[dict]:
    d = result.draws
    rows = []
    for p, period in enumerate(result.loss.periods):
        rows.append(
            {
                "period": period,
                "baseline": _num(d.baseline[:, p].mean()),
                "project": _num(d.project[:, p].mean()),
                "leakage": _num(d.leakage[:, p].mean()),
                "belt_baseline_ha": _num(d.belt_baseline_ha[:, p].mean()),
                "ner": _num(d.ner[:, p].mean()),
                "ner_ci90": _interval(d.ner[:, p]),
                "gross": _num(d.gross[:, p].mean()),
            }
        )
    return rows


def _ex_ante(result) -> list[dict] | None:
    """The ex-ante run's expected NER and credits of each period's years, for comparison."""
    yearly = result.baseline.provenance.get("ex_ante")
    if not yearly:
        return None
    out = []
    for period, (a, b) in zip(
        result.loss.periods, result.spec.config.crediting.period_spans(), strict=True
    ):
        rows = [yearly.get(str(y)) for y in range(a, b + 1)]
        if any(r is None for r in rows):
            return None
        out.append(
            {
                "period": period,
                "baseline": sum(r["baseline"] for r in rows),
                "project": sum(r["project"] for r in rows),
                "leakage": sum(r["leakage"] for r in rows),
                "ner": sum(r["ner_mean"] for r in rows),
            }
        )
    return out


def _worked(result) -> list[dict]:
    """The run's standard per period with its numbers: U's interval, fraction, buffer, credits.

    The values are those the accounting computed (``tables/monitoring_periods.csv``); the
    interval is recomputed by the standard's own :func:`relative_half_width` on the
    quantity the standard takes (cumulative where it adjusts cumulative NER).
    """
    key = result.spec.config.accounting.standard
    std = STANDARDS[key]
    buffer_pct = result.buffer_pct
    d = result.draws
    base = d.gross if std.uncertainty_of == "gross" else d.ner
    if std.cumulative:
        base = np.cumsum(base, axis=1)
    hw = relative_half_width(base, std.confidence, std.relative_to)
    t = result.accounts.table.sel(standard=key)
    spans = result.spec.config.crediting.period_spans()
    first = spans[0][0]
    rows = []
    for p, ((_, b), period) in enumerate(zip(spans, result.loss.periods, strict=True)):
        rows.append(
            {
                "period": period,
                "of": (
                    f"cumulative {std.uncertainty_of.upper()} {first}-{b}"
                    if std.cumulative
                    else f"{std.uncertainty_of.upper()} of the period"
                ),
                "level": f"{100 * std.confidence:.0f}%",
                "centre_name": std.relative_to,
                "low": _num(hw["low"][p]),
                "high": _num(hw["high"][p]),
                "centre": _num(hw["centre"][p]),
                "u_pct": _num(t.uncertainty_pct.sel(period=period)),
                "fraction": _num(t.deduction_fraction.sel(period=period)),
                "ner": _num(t.ner_mean.sel(period=period)),
                "gross": _num(t.gross_mean.sel(period=period)),
                "deduction": _num(t.uncertainty_deduction.sel(period=period)),
                "adjusted": _num(t.adjusted_ner.sel(period=period)),
                "buffer_on": "gross reductions"
                if std.buffer_on == "stock_change"
                else ("adjusted NER"),
                "buffer_base": _num(
                    t.gross_mean.sel(period=period)
                    if std.buffer_on == "stock_change"
                    else t.adjusted_ner.sel(period=period)
                ),
                "buffer": _num(t.buffer.sel(period=period)),
                "credits": _num(t.credits.sel(period=period)),
            }
        )
        r = rows[-1]
        # the worked line as printed: each of its equations re-done from the page
        r["text"] = {
            "u": half_width_ratio(r["high"], r["low"], r["centre"], r["u_pct"] / 100, 1),
            "buffer": scaled(f"{buffer_pct / 100:g}", r["buffer_base"], r["buffer"]),
            "credits": difference(r["adjusted"], r["buffer"], r["credits"]),
        }
    return rows


def monitoring_json(result, out_dir: Path) -> dict:
    """The monitoring run as a JSON-ready dict (``monitoring.json``)."""
    spec = result.spec
    cfg = spec.config
    table = result.accounts.table
    keys = table.standard.values.tolist()
    prov = result.baseline.data.provenance
    try:
        version = metadata.version("reddsim")
    except metadata.PackageNotFoundError:
        version = "not installed"
    return {
        "run_kind": "monitoring",
        "out_dir": str(out_dir),
        "project": cfg.project.name,
        "country": cfg.project.country,
        "description": cfg.project.description,
        # the project says its data are synthetic: every page says so
        "synthetic": "synthetic" in cfg.project.description.lower(),
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config_path": str(spec.path),
        "config_sha256": cfg.digest(),
        "config": cfg.model_dump(mode="json"),
        "data_sha256": dict(result.loss.sha256),
        "reddsim": version,
        "seed": cfg.simulation.seed,
        "n_draws": cfg.simulation.n_draws,
        "periods": list(cfg.crediting.periods),
        "standard": cfg.accounting.standard,
        "buffer_pct": result.buffer_pct,
        "risk": None if cfg.accounting.risk is None else cfg.accounting.risk.model_dump(),
        "significance": result.significance,
        "baseline": result.baseline.provenance,
        "belt_forest_ha": cfg.monitoring.belt_forest_ha,
        "belt_relative_risk": cfg.monitoring.belt_relative_risk,
        "monitored_areas": _areas(result),
        # display names of the areas (the tables keep the code names)
        "area_labels": {
            **strata_labels(result.baseline.spec.config),
            "leakage_belt": "Leakage belt",
        },
        "components": _components(result),
        "ex_ante": _ex_ante(result),
        "parameters": [{"parameter": p, "status": s, "source": src} for p, s, src in PARAMETERS],
        # scope and sources: the validated run's provenance file, this run's risk scores
        "scope": scope_data(result.baseline.spec, result.baseline.data, cfg.accounting.risk),
        "magnitudes": [m.model_dump() for m in (prov.magnitude if prov is not None else [])],
        "prior_sources": len(prov.prior) if prov is not None else 0,
        "worked": _worked(result),
        "formulas": dict(zip(keys, table.attrs["formulas"], strict=True)),
        "citations": dict(zip(keys, table.attrs["citations"], strict=True)),
        "illustrative": {k: v for k, v in zip(keys, table.attrs["illustrative"], strict=True) if v},
        "standards": result.accounts.records(),
    }


def _write_rows(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        flat = [{k: (v if not isinstance(v, list) else None) for k, v in r.items()} for r in rows]
        for r, src in zip(flat, rows, strict=True):
            if "ner_ci90" in src:
                r.pop("ner_ci90")
                r["ner_ci90_low"], r["ner_ci90_high"] = src["ner_ci90"]
        writer = csv.DictWriter(fh, list(flat[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)


def write_monitoring(out: Path, result, final: Path, pdf: bool = True) -> None:
    """Write ``monitoring.json``, ``tables/*.csv`` and ``appendix.typ``/``.pdf`` into ``out``."""
    out = Path(out)
    (out / "tables").mkdir(parents=True)
    doc = monitoring_json(result, final)
    frame = result.accounts.table.to_dataframe().reset_index()
    frame.to_csv(out / "tables" / "monitoring_periods.csv", index=False)
    vint = result.accounts.vintages.rename("credits").to_dataframe().reset_index()
    vint.to_csv(out / "tables" / "vintages.csv", index=False)
    _write_rows(out / "tables" / "monitored_areas.csv", doc["monitored_areas"])
    _write_rows(out / "tables" / "period_emissions.csv", doc["components"])
    (out / MONITORING_NAME).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    template = resources.files("simulator.report.templates").joinpath("monitoring.typ")
    shutil.copyfile(str(template), out / "appendix.typ")
    if pdf:
        compile_appendix(out, data=MONITORING_NAME)
