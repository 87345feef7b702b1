"""reddsim's mocaredd mode against mocaredd's own numbers, as a Markdown table.

    python -m benchmarks.mocaredd_compare [--draws N] [--seed S]

Runs ``reddsim import mocaredd tests/data/mocaredd/example1-4pools.xlsx --out DIR`` (nothing
else) and ``reddsim run DIR --json --draws N --seed S`` in a temporary directory, and sets
each estimate beside tests/data/mocaredd/reference-example1-4pools.csv (mocaredd's R
functions, benchmarks/mocaredd_reference.R). ``tol`` is the bound the test uses
(tests/simulator/test_mocaredd_mode.py): 4.4 standard errors of the difference of the two
Monte Carlo estimates, from both sample sizes, plus 1 for mocaredd's integer rounding.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from simulator.accounting.mocaredd import simulate
from simulator.data.mocaredd import read_mocaredd_inputs

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "mocaredd"
WORKBOOK = DATA / "example1-4pools.xlsx"
REFERENCE = DATA / "reference-example1-4pools.csv"
#: Standard normal bound per comparison: with 25 comparisons, a false alarm in about
#: 25 * 2 * P(Z > 4.4) = 3e-4 of seeds.
Z = 4.4


def tolerance(x: np.ndarray, stat: str, q: float | None, n_ref: int, sd_ref: float) -> float:
    """Z x the SE of the difference of two independent Monte Carlo estimates of ``stat``.

    Mean: sqrt(sd_r^2 / n_r + sd^2 / n). A quantile q: sqrt(q (1 - q)) / f(x_q) x
    sqrt(1 / n_r + 1 / n), the density's inverse 1 / f(x_q) from the spacing of reddsim's
    own draws ``x``, (Q(q + d) - Q(q - d)) / 2d. Plus 1 for mocaredd's rounding of each
    period level to a whole tCO2e/yr (a quantile of rounded draws moves by at most that).
    """
    n = x.size
    if stat == "mean":
        return Z * math.sqrt(sd_ref**2 / n_ref + x.var(ddof=1) / n) + 1.0
    d = 0.005
    inv_f = (np.quantile(x, q + d) - np.quantile(x, q - d)) / (2 * d)
    return Z * math.sqrt(q * (1 - q)) * inv_f * math.sqrt(1 / n_ref + 1 / n) + 1.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=20261201)
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        cli = [sys.executable, "-m", "simulator.cli"]
        subprocess.run(
            [*cli, "import", "mocaredd", str(WORKBOOK), "--out", str(run)],
            check=True,
            capture_output=True,
        )
        res = subprocess.run(
            [*cli, "run", str(run), "--json", "--draws", str(a.draws), "--seed", str(a.seed), "-q"],
            check=True,
            capture_output=True,
            text=True,
        )
    totals = json.loads(res.stdout)
    got = {(r["quantity"], r["period"]): r for r in totals["mocaredd"]}
    d = simulate(read_mocaredd_inputs(WORKBOOK), a.draws, a.seed)
    series = {
        ("REF", "REF"): d.ref,
        **{("MON", t): x for t, x in d.mon.items()},
        **{("ER", t): x for t, x in d.er.items()},
    }
    with REFERENCE.open(newline="") as fh:
        refs = list(csv.DictReader(fh))
    r0 = refs[0]
    alpha = 1 - float(r0["conf_level"])
    print(
        f"reddsim: N = {a.draws:,}, seed {a.seed} (NumPy PCG64). mocaredd: N = "
        f"{int(r0['n']):,}, set.seed({r0['seed']}), commit {r0['mocaredd_commit'][:7]}, "
        f"R {r0['r_version']}. tCO2e/yr; CI {100 * (1 - alpha):.0f}%.\n"
    )
    print("| estimate | period | stat | reddsim | mocaredd | diff | tol | ok |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    bad = 0
    for ref in refs:
        key = (ref["quantity"], ref["period"])
        for stat, q in (
            ("mean", None),
            ("median", 0.5),
            ("ci_low", alpha / 2),
            ("ci_high", 1 - alpha / 2),
        ):
            tol = tolerance(series[key], stat, q, int(ref["n"]), float(ref["sd"]))
            mine, theirs = got[key][stat], float(ref[stat])
            ok = abs(mine - theirs) <= tol
            bad += not ok
            print(
                f"| {key[0]} | {key[1]} | {stat} | {mine:,.0f} | {theirs:,.0f} | "
                f"{mine - theirs:+,.0f} | {tol:,.0f} | {'yes' if ok else 'NO'} |"
            )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
