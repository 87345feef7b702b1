"""Check ``reddsim biomass`` against BIOMASS's ``AGBmonteCarlo`` recipe on its vignette data.

BIOMASS (umr-amap/BIOMASS, R) cannot be installed here, so this script
re-implements the recipe of its vignette ("Estimating stand biomass": all errors
propagated with the H-D model) in NumPy, line for line from its R sources:

* ``modelHD(method = "log2", useWeight = TRUE, bayesian = FALSE)``: ``lm`` of
  log H on log D and log D^2 with weights D^2 H / sum(D^2 H); ``RSElog`` from the
  unweighted residuals (``modelHD.R``);
* ``predictHeight(err = TRUE)``: ``exp(a + b log D + c log D^2 + N(0, RSElog))``,
  coefficients fixed (``predictHeight.R``);
* ``AGBmonteCarlo(Dpropag = "chave2004", errWD = sdWD)``: Chave 2004 diameter
  errors (5% gross errors of 4.64 cm), truncated normal D on [0.1, 500] and WD on
  [0.08, 1.39], one ``param_4`` row (intercept, logagbt, sd) per iteration with
  a residual N(0, sd) per tree (``AGBmonteCarlo.R``);

and runs ``reddsim biomass`` with the same settings (``--hd-model log2
--hd-weights d2h``, the same given wood densities with their SDs) on the same
trees. The data are BIOMASS's ``NouraguesTrees`` (2,050 trees, 4 plots) and
``NouraguesHD`` (888 measured heights) and its ``param_4`` coefficient draws,
exported from the package's ``data/*.rda`` to CSV (e.g. with the ``rdata``
Python package; they are not part of reddsim). Wood densities: reddsim's GWDD
lookup (tropical South America) of each tree's genus and species, given to both
engines as ``wood_density`` and ``wood_density_sd``.

Run::

    python -m benchmarks.biomass_check NouraguesTrees.csv NouraguesHD.csv param_4.csv
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy import special

from models.wood_density import assign_wood_density, load_wood_density_table


def _truncnorm(gen, mean, sd, lo, hi):
    a = special.ndtr((lo - mean) / np.where(sd > 0, sd, 1))
    b = special.ndtr((hi - mean) / np.where(sd > 0, sd, 1))
    u = a + gen.random(mean.shape) * (b - a)
    return np.where(sd > 0, mean + sd * special.ndtri(u), mean)


def biomass_recipe(d, wd, sd_wd, hd_d, hd_h, param_4, n=1000, seed=1):
    """Total AGB (Mg) draws by the BIOMASS vignette recipe (see the module docstring)."""
    gen = np.random.default_rng(seed)
    x = np.column_stack([np.ones_like(hd_d), np.log(hd_d), np.log(hd_d) ** 2])
    w = hd_d**2 * hd_h
    w = w / w.sum()
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(x * sw[:, None], np.log(hd_h) * sw, rcond=None)
    res = np.log(hd_h) - x @ coef
    rse_log = np.sqrt(np.sum(res**2) / (hd_d.size - 3))
    rows = gen.choice(len(param_4["intercept"]), size=n, replace=False)
    totals = np.empty(n)
    k5 = round(d.size * 5 / 100)
    for j, r in enumerate(rows):
        sd = 0.0062 * d + 0.0904
        sd[gen.choice(d.size, k5, replace=False)] = 4.64
        dj = _truncnorm(gen, d, sd, 0.1, 500.0)
        wdj = _truncnorm(gen, wd, sd_wd, 0.08, 1.39)
        ld = np.log(dj)
        hj = np.exp(coef[0] + coef[1] * ld + coef[2] * ld**2 + gen.normal(0, rse_log, d.size))
        hj[hj <= 0] = 0.1
        comp = param_4["logagbt"][r] * np.log(wdj * hj * dj**2) + param_4["intercept"][r]
        agb = np.exp(comp + gen.normal(0, param_4["sd"][r], d.size)) / 1000
        totals[j] = agb.sum()
    return totals


def _read(path):
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def main(trees_csv, hd_csv, param_csv) -> None:
    from simulator.inference.trees import run_biomass

    t, h, p = _read(trees_csv), _read(hd_csv), _read(param_csv)
    d = t["D"].astype(float)
    plot = t["Plot"].astype(str)
    genus = np.array([g if not g.startswith("Indet") else "" for g in t["Genus"]])
    species = np.array([s if s not in ("Indet.", "NA") else "" for s in t["Species"]])
    family = np.array(
        [f if f not in ("NA", "") and not f.startswith("Indet") else "" for f in t["Family"]]
    )
    index = {q: i for i, q in enumerate(dict.fromkeys(plot))}
    wd = assign_wood_density(
        np.full(d.size, np.nan),
        genus,
        species,
        np.array([index[q] for q in plot]),
        load_wood_density_table(),
        family=family,
    )
    measured = np.array([v not in ("NA", "") for v in h["H"]])
    hd_d, hd_h = h["D"][measured].astype(float), h["H"][measured].astype(float)
    param_4 = {k: p[k].astype(float) for k in ("intercept", "logagbt", "sd")}
    with tempfile.TemporaryDirectory() as tmp:
        trees = Path(tmp) / "trees.csv"
        with trees.open("w", encoding="utf-8") as fh:
            fh.write("plot_id,tree_id,dbh_cm,wood_density,wood_density_sd,genus,species,family\n")
            for i in range(d.size):
                fh.write(
                    f"{plot[i]},{i + 1},{d[i]},{wd.mean[i]:.5f},{wd.sd[i]:.5f},"
                    f"{genus[i]},{species[i]},{family[i]}\n"
                )
        plots = Path(tmp) / "plots.csv"
        plots.write_text("plot_id,area_ha\n" + "".join(f"{q},1\n" for q in index), "utf-8")
        heights = Path(tmp) / "hd.csv"
        heights.write_text(
            "dbh_cm,height_m\n" + "".join(f"{a},{b}\n" for a, b in zip(hd_d, hd_h, strict=True)),
            "utf-8",
        )
        results = {}
        for palm_model in ("chave2014", "goodman2013"):
            results[palm_model] = run_biomass(
                trees, plots, heights, "log2", "d2h", 1000, 1, palm_model
            )
    recipe = np.concatenate(
        [biomass_recipe(d, wd.mean, wd.sd, hd_d, hd_h, param_4, 1000, s) for s in range(1, 6)]
    )
    print(
        f"trees {d.size}, plots {len(index)}, heights {hd_d.size}; wood density sources: "
        + ", ".join(
            f"{s} {c}" for s, c in zip(*np.unique(wd.source, return_counts=True), strict=True)
        )
    )
    print(
        f"BIOMASS recipe (5 x 1000 iterations): total mean {recipe.mean():.2f} Mg, "
        f"SD {recipe.std(ddof=1):.2f}, 95% [{np.quantile(recipe, 0.025):.2f}, "
        f"{np.quantile(recipe, 0.975):.2f}]"
    )
    for palm_model, r in results.items():
        tot = r.rows[-1]
        print(
            f"reddsim biomass (palms {palm_model}): total mean {tot['mean']:.2f} Mg "
            f"({100 * (tot['mean'] / recipe.mean() - 1):+.2f}%), SD {tot['sd']:.2f} "
            f"({100 * (tot['sd'] / recipe.std(ddof=1) - 1):+.1f}%), 95% [{tot['q2.5']:.2f}, "
            f"{tot['q97.5']:.2f}]"
        )
    r = results["chave2014"]
    print(
        "reddsim error budget (share of the total's log variance, %): "
        + ", ".join(
            f"{k} {v['share_pct']:.1f}"
            for k, v in r.budget.items()
            if v["kind"] in ("shared", "independent")
        )
    )
    print(
        "H-D candidates (total Mg): "
        + ", ".join(f"{c['hd_model']} {c['total_mg']:.1f}" for c in r.candidates)
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
