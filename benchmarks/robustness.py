"""Robustness of the default run as a measured property: many seeds, default settings.

``python -m benchmarks.robustness`` runs the Los Amigos default project
(``runs/los-amigos/run.toml``, its sampler and simulation settings unchanged) with
seeds 1..20 and, per seed, fits the three models, streams the futures and
accounts them under the run's standard, exactly as ``reddsim run`` does up to the
report. It prints

* how many seeds pass the sampler gate and the Monte Carlo gate
  (:mod:`simulator.orchestration.gates`), and why any fails;
* the seed-to-seed spread (SD) of the total-NER interval bounds against the
  Monte Carlo standard error each run reports (root mean square over seeds),
  total and by part (futures, posterior sample): the reported error is honest
  when the ratio is near 1;
* the credited avoided-loss rate (%/yr of the project's forest, the mean of
  ``sum (D^b - D^p) / (A T)``) beside the baseline rate, and the effectiveness
  it implies against the reference-region hazard, for the over-crediting check
  (``runs/los-amigos/README.md``).

Every number comes from this run; nothing is cached.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from simulator import inference
from simulator.accounting import account
from simulator.accounting.standards import STANDARDS
from simulator.config import load_config
from simulator.data import load_data
from simulator.engine.kernels import KernelInputs, simulate
from simulator.engine.streaming import stream
from simulator.errors import ConvergenceError
from simulator.orchestration import gates

__all__ = ["run_seed", "spread", "main"]

REPO = Path(__file__).resolve().parents[1]
LOS_AMIGOS = REPO / "runs" / "los-amigos" / "run.toml"


def _with_seed(spec, seed: int):
    cfg = spec.config
    simulation = cfg.simulation.model_copy(update={"seed": seed})
    return replace(spec, config=cfg.model_copy(update={"simulation": simulation}))


def avoided_loss_rate(inputs: KernelInputs, n: int, seed: int) -> tuple[float, float]:
    """Mean credited avoided loss and baseline loss, %/yr of the project's forest.

    The avoided hectares ``sum_s (D^b - D^p)`` are the kernel's own: it is run with
    ``lambda = 1`` and a belt stock lost on conversion of exactly 1 tCO2e/ha, so that
    its leakage equals the displaced hectares.
    """
    probe = KernelInputs(
        **{
            **inputs.__dict__,
            "leakage_fraction": np.ones_like(inputs.leakage_fraction),
            "belt_carbon": np.full(inputs.leakage_fraction.shape, 0.0),
            "post_carbon": np.full(inputs.post_carbon.shape, -1.0),
        }
    )
    sim = simulate(probe, n, seed)
    scale = 100.0 / (inputs.area.sum() * inputs.n_years)
    return float(sim.leakage.sum(axis=1).mean() * scale), float(
        sim.baseline_loss_ha.sum(axis=1).mean() * scale
    )


def run_seed(spec, data, seed: int) -> dict:
    """Fit, simulate and account the run with ``seed``; gate results and the bounds."""
    spec = _with_seed(spec, seed)
    cfg = spec.config
    t0 = time.perf_counter()
    out: dict = {"seed": seed}
    posteriors = inference.fit_models(spec, data)  # the gate is applied below, not raised
    out["sampler_passed"] = all(d.passed for d in posteriors.diagnostics)
    out["sampler_failures"] = {
        d.model: d.failures() for d in posteriors.diagnostics if not d.passed
    }
    inputs = inference.kernel_inputs(spec, data, posteriors)
    summary = stream(inputs, cfg.simulation.n_draws, seed, cfg.simulation.chunk_size)
    table = account(
        summary,
        STANDARDS[cfg.accounting.standard],
        cfg.accounting.buffer_pct,
        cfg.crediting.start_year,
    )
    gate = gates.monte_carlo_gate(table, cfg.sampler.draws)
    out["mc_passed"] = gate.passed
    try:
        gates.check_monte_carlo(gate, None)
        out["mc_message"] = ""
    except ConvergenceError as err:
        out["mc_message"] = str(err)
    tot = table.sel(period="total")
    for key in ("ner_mean", "ner_ci_low", "ner_ci_high", "uncertainty_pct", "credits"):
        out[key] = float(tot[key])
    for bound in ("low", "high"):
        for part in ("", "_futures", "_posterior"):
            out[f"{bound}_mcse{part}"] = float(tot[f"ner_ci_{bound}_mcse{part}"])
    avoided, base = avoided_loss_rate(inputs, 200_000, seed)
    out["avoided_pct_yr"] = avoided
    out["baseline_pct_yr"] = base
    out["effectiveness_mean"] = float(inputs.effectiveness.mean())
    out["seconds"] = time.perf_counter() - t0
    return out


def spread(rows: list[dict]) -> dict:
    """Seed-to-seed SD of each bound against the RMS of the reported Monte Carlo errors."""
    out = {}
    for bound in ("low", "high"):
        values = np.array([r[f"ner_ci_{bound}"] for r in rows])
        sd = float(values.std(ddof=1))
        rms = {
            (part.lstrip("_") or "total"): float(
                np.sqrt(np.mean([r[f"{bound}_mcse{part}"] ** 2 for r in rows]))
            )
            for part in ("", "_futures", "_posterior")
        }
        out[bound] = {
            "observed_sd": sd,
            "reported_rms": rms,
            "ratio_total": sd / rms["total"],
            "ratio_futures_only": sd / rms["futures"],
        }
    return out


def _print(rows: list[dict], n_seeds: int, seconds: float) -> None:
    sampler = sum(r["sampler_passed"] for r in rows)
    mc = sum(r["mc_passed"] for r in rows)
    both = sum(r["sampler_passed"] and r["mc_passed"] for r in rows)
    print(f"Los Amigos default run, seeds 1..{n_seeds}, default settings ({seconds:.0f} s)")
    print(f"  sampler gate passed:     {sampler}/{n_seeds}")
    print(f"  Monte Carlo gate passed: {mc}/{n_seeds}")
    print(f"  both gates passed:       {both}/{n_seeds}")
    for r in rows:
        if not (r["sampler_passed"] and r["mc_passed"]):
            print(f"    seed {r['seed']}: {r['sampler_failures'] or ''} {r['mc_message']}")
    print()
    print("seed  mean NER   90% CI low  90% CI high  mcse low (fut, post)   mcse high (fut, post)")
    for r in rows:
        print(
            f"{r['seed']:>4}  {r['ner_mean']:>9,.0f}  {r['ner_ci_low']:>10,.0f}  "
            f"{r['ner_ci_high']:>11,.0f}  {r['low_mcse']:>6,.0f} ({r['low_mcse_futures']:,.0f}, "
            f"{r['low_mcse_posterior']:,.0f})  {r['high_mcse']:>6,.0f} "
            f"({r['high_mcse_futures']:,.0f}, {r['high_mcse_posterior']:,.0f})"
        )
    print()
    s = spread(rows)
    mean = float(np.mean([r["ner_mean"] for r in rows]))
    for bound in ("low", "high"):
        b = s[bound]
        print(
            f"{bound:>4} bound: seed-to-seed SD {b['observed_sd']:,.0f} tCO2e "
            f"({100 * b['observed_sd'] / mean:.3f}% of the mean); reported MC s.e. (RMS) "
            f"{b['reported_rms']['total']:,.0f} (futures {b['reported_rms']['futures']:,.0f}, "
            f"posterior {b['reported_rms']['posterior']:,.0f}); observed / reported = "
            f"{b['ratio_total']:.2f} (futures part alone: {b['ratio_futures_only']:.1f})"
        )
    avoided = np.mean([r["avoided_pct_yr"] for r in rows])
    base = np.mean([r["baseline_pct_yr"] for r in rows])
    print()
    print(
        f"credited avoided loss {avoided:.3f} %/yr of the project's forest "
        f"(baseline {base:.3f} %/yr, mean effectiveness "
        f"{np.mean([r['effectiveness_mean'] for r in rows]):.2f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds 1..SEEDS (default 20)")
    parser.add_argument("--config", type=Path, default=LOS_AMIGOS)
    parser.add_argument("--json", type=Path, help="also write every row to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    warnings.filterwarnings("ignore")
    spec = load_config(args.config)
    data = load_data(spec)
    t0 = time.perf_counter()
    rows = []
    for seed in range(1, args.seeds + 1):
        rows.append(run_seed(spec, data, seed))
        r = rows[-1]
        print(
            f"seed {seed}: sampler {'pass' if r['sampler_passed'] else 'FAIL'}, "
            f"Monte Carlo {'pass' if r['mc_passed'] else 'FAIL'} ({r['seconds']:.0f} s)",
            flush=True,
        )
    _print(rows, args.seeds, time.perf_counter() - t0)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "spread": spread(rows)}, indent=1))
    return 0 if all(r["sampler_passed"] and r["mc_passed"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
