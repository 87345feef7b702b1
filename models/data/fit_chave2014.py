"""Posterior of Chave et al. (2014) Eq. 4's coefficients from its harvest data.

Fits ``ln AGB = alpha + beta ln(rho D^2 H) + eps``, ``eps ~ N(0, sigma^2)``, with
PyMC (NUTS) to the pantropical destructive-harvest dataset of Chave et al.
(2014), and writes the posterior draws to ``chave2014_eq4_posterior.csv`` (next
to this script) and their provenance to ``chave2014_eq4_posterior.json``.

Data selection as BIOMASS's ``data-raw/param_4.R`` (which derives the draws
``AGBmonteCarlo`` uses): rows with D, H, rho and AGB all present and H >= 1.3 m
(4,015 trees; Chave et al. 2014 report 4,004).

Priors (weakly informative; the likelihood of ~4,000 trees dominates):
alpha ~ N(0, 10), beta ~ N(1, 1), sigma ~ HalfNormal(1).

The published Eq. 4 is ``AGB = 0.0673 (rho D^2 H)^0.976`` with RSE 0.357 on the
log scale; 0.0673 = exp(alpha + sigma^2 / 2) includes the log-bias correction, so
the posterior is checked against exp(alpha + sigma^2 / 2), beta and sigma.

Run from the repository root (needs ``../shared/data/chave2014``)::

    .venv/bin/python models/data/fit_chave2014.py [path/to/Allometry-database-2012m_data.csv]

Reference: Chave, J. et al. (2014). Improved allometric models to estimate the
aboveground biomass of tropical trees. Global Change Biology 20, 3177-3190.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = (
    HERE.parents[2] / "shared" / "data" / "chave2014" / ("Allometry-database-2012m_data.csv")
)
SEED = 20140629
CHAINS, DRAWS, TUNE = 4, 1000, 1000
PUBLISHED = {"exp_alpha_bias_corrected": 0.0673, "beta": 0.976, "sigma": 0.357}


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """ln(rho D^2 H) and ln AGB of the trees used in the fit."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))

    def num(row, key):
        v = row[key].strip()
        return float(v) if v not in ("", "NA") else np.nan

    d = np.array([num(r, "Trunk.diameter..cm.") for r in rows])
    h = np.array([num(r, "Total.height..m.") for r in rows])
    rho = np.array([num(r, "Wood.specific.gravity") for r in rows])
    agb = np.array([num(r, "Dry.total.AGB..kg.") for r in rows])
    keep = np.isfinite(d * h * rho * agb) & (h >= 1.3)
    return np.log(rho[keep] * d[keep] ** 2 * h[keep]), np.log(agb[keep])


def main() -> None:
    import arviz as az
    import pymc as pm

    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    x, y = load(source)
    x_bar = float(x.mean())  # centred predictor: alpha and beta sample without correlation
    with pm.Model():
        alpha = pm.Normal("alpha", 0.0, 10.0)
        beta = pm.Normal("beta", 1.0, 1.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        centred = pm.Deterministic("centred_intercept", alpha + beta * x_bar)
        pm.Normal("ln_agb", centred + beta * (x - x_bar), sigma, observed=y)
        idata = pm.sample(
            draws=DRAWS,
            tune=TUNE,
            chains=CHAINS,
            cores=1,
            random_seed=SEED,
            progressbar=False,
            compute_convergence_checks=False,
        )
    post = idata.posterior
    draws = {v: post[v].values.reshape(-1) for v in ("alpha", "beta", "sigma")}
    summary = az.summary(idata, var_names=["alpha", "beta", "sigma"], kind="diagnostics")
    out_csv = HERE / "chave2014_eq4_posterior.csv"
    with out_csv.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["alpha", "beta", "sigma"])
        for a, b, s in zip(draws["alpha"], draws["beta"], draws["sigma"], strict=True):
            w.writerow([f"{a:.6f}", f"{b:.6f}", f"{s:.6f}"])
    a, b, s = (draws[v] for v in ("alpha", "beta", "sigma"))
    check = {
        "exp_alpha_bias_corrected": float(np.mean(np.exp(a + s**2 / 2))),
        "beta": float(np.mean(b)),
        "sigma": float(np.mean(s)),
    }
    provenance = {
        "model": "ln AGB = alpha + beta ln(rho D^2 H) + eps, eps ~ N(0, sigma^2)",
        "source": "Chave et al. (2014) Global Change Biology 20:3177-3190, harvest dataset "
        "Allometry-database-2012m_data.csv (as in BIOMASS data-raw/)",
        "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "selection": "D, H, rho, AGB present and H >= 1.3 m",
        "n_trees": int(x.size),
        "priors": {"alpha": "N(0, 10)", "beta": "N(1, 1)", "sigma": "HalfNormal(1)"},
        "sampler": {
            "pymc": pm.__version__,
            "algorithm": "NUTS (pm.sample default backend)",
            "parameterisation": "alpha + beta x = centred_intercept + beta (x - mean x)",
            "chains": CHAINS,
            "draws": DRAWS,
            "tune": TUNE,
            "random_seed": SEED,
        },
        "diagnostics": {
            v: {
                "r_hat": float(summary.loc[v, "r_hat"]),
                "ess_bulk": float(summary.loc[v, "ess_bulk"]),
            }
            for v in ("alpha", "beta", "sigma")
        },
        "posterior_mean": {v: float(np.mean(draws[v])) for v in draws},
        "posterior_sd": {v: float(np.std(draws[v], ddof=1)) for v in draws},
        "published": PUBLISHED,
        "posterior_vs_published": check,
        "draws_sha256": hashlib.sha256(out_csv.read_bytes()).hexdigest(),
    }
    (HERE / "chave2014_eq4_posterior.json").write_text(
        json.dumps(provenance, indent=2) + "\n", encoding="utf-8"
    )
    print(
        json.dumps(
            {
                k: provenance[k]
                for k in (
                    "n_trees",
                    "posterior_mean",
                    "posterior_sd",
                    "posterior_vs_published",
                    "diagnostics",
                )
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
