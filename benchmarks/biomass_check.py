"""Check ``reddsim biomass`` against BIOMASS's ``AGBmonteCarlo`` recipe on its vignette data.

Two references, both running the recipe of BIOMASS's vignette ("Estimating stand
biomass", all errors propagated with the H-D model) on BIOMASS's ``NouraguesTrees``
(2,050 trees, 4 one-hectare plots) and ``NouraguesHD`` (888 measured heights):

1. BIOMASS itself (umr-amap/BIOMASS, R): ``benchmarks/biomass_reference.R`` runs
   ``modelHD(method = "log2", useWeight = TRUE, bayesian = FALSE)`` and
   ``AGBmonteCarlo(D, WD, errWD, HDmodel, Dpropag = "chave2004", n = 1000)`` over
   10 seeds; its results are committed in
   ``tests/data/biomass/reference-agbmontecarlo.csv`` (BIOMASS version, commit and
   seeds in its rows and in ``tests/data/biomass/README.md``) and
   ``tests/test_biomass_reference.py`` checks reddsim against them.
2. A NumPy re-implementation of the same recipe, line for line from BIOMASS's R
   sources (:func:`biomass_recipe`), kept as a cross-check that needs no R:

   * ``modelHD(method = "log2", useWeight = TRUE, bayesian = FALSE)``: ``lm`` of
     log H on log D and log D^2 with weights D^2 H / sum(D^2 H); ``RSElog`` from the
     unweighted residuals (``modelHD.R``);
   * ``predictHeight(err = TRUE)``: ``exp(a + b log D + c log D^2 + N(0, RSElog))``,
     coefficients fixed (``predictHeight.R``);
   * ``AGBmonteCarlo(Dpropag = "chave2004", errWD = sdWD)``: Chave 2004 diameter
     errors (5% gross errors of 4.64 cm), truncated normal D on [0.1, 500] and WD on
     [0.08, 1.39], one ``param_4`` row (intercept, logagbt, sd) per iteration with
     a residual N(0, sd) per tree (``AGBmonteCarlo.R``).

``reddsim biomass`` runs with the same settings (``--hd-model log2 --hd-weights
d2h``, the same given wood densities with their SDs) on the same trees, with palms
by Chave et al. 2014 Eq. 4 as BIOMASS (``--palm-model chave2014``) and by Goodman
et al. 2013 (the default). Wood densities: reddsim's GWDD lookup (tropical South
America) of each tree's genus and species, given to all engines as
``wood_density`` and ``wood_density_sd`` (to BIOMASS as ``WD`` and ``errWD``,
through the file ``--export-inputs`` writes). The data are CSV exports of
BIOMASS's ``data/*.rda`` in ``tests/data/biomass/`` (see its README).

Run::

    python -m benchmarks.biomass_check                      # compare, default data
    python -m benchmarks.biomass_check TREES.csv HD.csv PARAM_4.csv
    python -m benchmarks.biomass_check --export-inputs inputs.csv  # for the R script
"""

from __future__ import annotations

import csv
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy import special

from models.wood_density import assign_wood_density, load_wood_density_table

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "biomass"
REFERENCE = DATA / "reference-agbmontecarlo.csv"


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
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def tolerance() -> tuple[float, float]:
    """Accepted relative gaps of reddsim's total to BIOMASS's: (mean, SD).

    1% of the total mean and 12% of its SD. Over its 10 seeds at n = 1,000
    (``reference-agbmontecarlo.csv``) BIOMASS's total mean varies by 1.2 Mg (SD
    across seeds; 0.07%) and its SD by 0.9 Mg (2.0%), as SD / sqrt(n) and
    SD / sqrt(2 n) predict (0.09%, 2.2%); a one-seed reddsim run carries the same
    noise. reddsim differs by design too: its own Eq. 4 posterior (not ``param_4``)
    puts the expected total 0.23% lower, and it also propagates the H-D
    parameters' uncertainty (BIOMASS only with ``bayesian = TRUE``). So 1% is that
    offset plus about 8 Monte Carlo SEs of the difference, 12% about 5 SEs of the SD's.
    """
    return 0.01, 0.12


def nouragues_inputs(trees_csv=DATA / "NouraguesTrees.csv", hd_csv=DATA / "NouraguesHD.csv"):
    """The vignette's trees with reddsim's GWDD wood densities, and the measured heights."""
    t, h = _read(trees_csv), _read(hd_csv)
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
    # the wood densities as written to every engine's input (5 decimals)
    wd_mean = np.round(wd.mean, 5)
    wd_sd = np.round(wd.sd, 5)
    return {
        "d": d,
        "plot": plot,
        "plots": list(index),
        "genus": genus,
        "species": species,
        "family": family,
        "wd": wd_mean,
        "sd_wd": wd_sd,
        "wd_source": wd.source,
        "hd_d": h["D"][measured].astype(float),
        "hd_h": h["H"][measured].astype(float),
    }


def export_inputs(inputs, path) -> None:
    """Write the R script's input: plot, D, WD, sdWD per tree (NouraguesTrees' order)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("plot,D,WD,sdWD\n")
        for q, d, w, s in zip(
            inputs["plot"], inputs["d"], inputs["wd"], inputs["sd_wd"], strict=True
        ):
            fh.write(f"{q},{d:g},{w:.5f},{s:.5f}\n")


def write_reddsim_tables(inputs, folder) -> tuple[Path, Path, Path]:
    """Write ``reddsim biomass``'s tree, plot (1 ha each) and height tables into ``folder``."""
    folder = Path(folder)
    trees = folder / "trees.csv"
    with trees.open("w", encoding="utf-8") as fh:
        fh.write("plot_id,tree_id,dbh_cm,wood_density,wood_density_sd,genus,species,family\n")
        for i in range(inputs["d"].size):
            fh.write(
                f"{inputs['plot'][i]},{i + 1},{inputs['d'][i]:g},{inputs['wd'][i]:.5f},"
                f"{inputs['sd_wd'][i]:.5f},{inputs['genus'][i]},{inputs['species'][i]},"
                f"{inputs['family'][i]}\n"
            )
    plots = folder / "plots.csv"
    plots.write_text("plot_id,area_ha\n" + "".join(f"{q},1\n" for q in inputs["plots"]), "utf-8")
    heights = folder / "hd.csv"
    heights.write_text(
        "dbh_cm,height_m\n"
        + "".join(f"{a:g},{b:g}\n" for a, b in zip(inputs["hd_d"], inputs["hd_h"], strict=True)),
        "utf-8",
    )
    return trees, plots, heights


def reddsim_model(inputs, palm_model="chave2014"):
    """reddsim's inventory and log2 (D^2 H weighted) height model of ``inputs``.

    What ``reddsim biomass --hd-model log2 --hd-weights d2h`` builds
    (:func:`simulator.inference.trees.run_biomass`) from the tables
    :func:`write_reddsim_tables` writes.
    """
    from simulator.inference import inventory_from_tables
    from simulator.inference.trees import _load

    with tempfile.TemporaryDirectory() as tmp:
        trees_p, plots_p, heights_p = write_reddsim_tables(inputs, tmp)
        trees, plots, _, heights = _load(trees_p, plots_p, heights_p)
    inv = inventory_from_tables(plots, trees, palm_model=palm_model)
    return inv, inv.height_model("log2", "d2h", heights)


def reddsim_draws(inputs, palm_model="chave2014", n=1000, seed=1):
    """Per-plot AGB draws (Mg, plots x n) of reddsim's tree Monte Carlo on ``inputs``.

    ``run_biomass``'s draws without its error budget and H-D candidates; the plots
    are 1 ha, so Mg/ha = Mg.
    """
    from models.inventory import plot_agb_draws

    inv, hd = reddsim_model(inputs, palm_model)
    return plot_agb_draws(inv, hd, n, seed)


def expected_total(inputs, coef, rse_log, alpha, beta, sigma) -> float:
    """Expected total AGB (Mg) under Eq. 4 draws, without diameter and wood-density errors.

    Heights from the log2 model ``coef`` with a lognormal residual of SD ``rse_log``;
    per draw ``sum exp(alpha + beta ln(rho D^2 H) + (sigma^2 + beta^2 rse_log^2) / 2)``,
    averaged over the draws: what separates two coefficient posteriors.
    """
    ld = np.log(inputs["d"])
    h = np.exp(coef[0] + coef[1] * ld + coef[2] * ld**2)
    x = np.log(inputs["wd"] * h * inputs["d"] ** 2)
    per_draw = [
        np.exp(a + b * x + (s**2 + (b * rse_log) ** 2) / 2).sum()
        for a, b, s in zip(alpha, beta, sigma, strict=True)
    ]
    return float(np.mean(per_draw)) / 1000


def read_reference(path=REFERENCE) -> dict:
    """BIOMASS's results: {(seed, plot): row}, numbers as floats (seed "all": pooled)."""
    out = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            row = dict(r)
            for k in ("mean", "median", "sd", "q2.5", "q97.5"):
                row[k] = float(r[k])
            out[(r["seed"], r["plot"])] = row
    return out


def reference_seed_spread(ref) -> dict:
    """Spread over BIOMASS's seeds of its total's mean and SD (SD across seeds, Mg)."""
    seeds = sorted({s for s, p in ref if s != "all"}, key=int)
    means = np.array([ref[(s, "total")]["mean"] for s in seeds])
    sds = np.array([ref[(s, "total")]["sd"] for s in seeds])
    return {
        "seeds": len(seeds),
        "mean_sd": float(means.std(ddof=1)),
        "mean_range": (float(means.min()), float(means.max())),
        "sd_sd": float(sds.std(ddof=1)),
        "sd_range": (float(sds.min()), float(sds.max())),
    }


def compare_with_reference(inputs, ref, seeds=(1, 2, 3, 4, 5), n=1000) -> None:
    """Print reddsim's per-plot and total figures beside BIOMASS's pooled ones."""
    from models.inventory import plot_agb_draws
    from simulator.inference.trees import summary_rows

    spread = reference_seed_spread(ref)
    r0 = next(iter(ref.values()))
    tot = ref[("all", "total")]
    print(
        f"BIOMASS {r0['biomass_version']} ({r0['biomass_commit'][:12]}), R {r0['r_version']}, "
        f"{spread['seeds']} seeds x {r0['n']}: total mean {tot['mean']:.2f} Mg, SD "
        f"{tot['sd']:.2f}, 95% [{tot['q2.5']:.2f}, {tot['q97.5']:.2f}]; across seeds: mean "
        f"{spread['mean_range'][0]:.2f}-{spread['mean_range'][1]:.2f} (SD {spread['mean_sd']:.2f}),"
        f" SD {spread['sd_range'][0]:.2f}-{spread['sd_range'][1]:.2f} (SD {spread['sd_sd']:.2f})"
    )
    labels = inputs["plots"] + ["total"]
    for p in inputs["plots"]:
        r = ref[("all", p)]
        print(
            f"  BIOMASS plot {p}: mean {r['mean']:.2f}, SD {r['sd']:.2f}, "
            f"95% [{r['q2.5']:.2f}, {r['q97.5']:.2f}]"
        )
    for palm_model in ("chave2014", "goodman2013"):
        inv, hd = reddsim_model(inputs, palm_model)
        pooled = []
        for seed in seeds:
            draws = plot_agb_draws(inv, hd, n, seed)
            pooled.append(draws.sum(axis=0))
            rows = summary_rows(labels, np.vstack([draws, draws.sum(axis=0)]))
            t = rows[-1]
            print(
                f"reddsim (palms {palm_model}, seed {seed}): total mean {t['mean']:.2f} Mg "
                f"({100 * (t['mean'] / tot['mean'] - 1):+.2f}%), SD {t['sd']:.2f} "
                f"({100 * (t['sd'] / tot['sd'] - 1):+.1f}%), 95% [{t['q2.5']:.2f}, "
                f"{t['q97.5']:.2f}]; plots (mean, SD vs BIOMASS): "
                + ", ".join(
                    f"{r['plot']} {100 * (r['mean'] / ref[('all', r['plot'])]['mean'] - 1):+.1f}%"
                    f"/{100 * (r['sd'] / ref[('all', r['plot'])]['sd'] - 1):+.0f}%"
                    for r in rows[:-1]
                )
            )
        t = summary_rows(["total"], np.concatenate(pooled)[None, :])[0]
        print(
            f"reddsim (palms {palm_model}, {len(seeds)} seeds x {n} pooled): total mean "
            f"{t['mean']:.2f} Mg ({100 * (t['mean'] / tot['mean'] - 1):+.2f}%), SD {t['sd']:.2f} "
            f"({100 * (t['sd'] / tot['sd'] - 1):+.1f}%), 95% [{t['q2.5']:.2f}, {t['q97.5']:.2f}]"
        )


def main(
    trees_csv=DATA / "NouraguesTrees.csv",
    hd_csv=DATA / "NouraguesHD.csv",
    param_csv=DATA / "param_4.csv",
) -> None:
    from simulator.inference.trees import run_biomass

    inputs = nouragues_inputs(trees_csv, hd_csv)
    d, hd_d, hd_h = inputs["d"], inputs["hd_d"], inputs["hd_h"]
    p = _read(param_csv)
    param_4 = {k: p[k].astype(float) for k in ("intercept", "logagbt", "sd")}
    with tempfile.TemporaryDirectory() as tmp:
        trees, plots, heights = write_reddsim_tables(inputs, tmp)
        results = {}
        for palm_model in ("chave2014", "goodman2013"):
            results[palm_model] = run_biomass(
                trees, plots, heights, "log2", "d2h", 1000, 1, palm_model
            )
    recipe = np.concatenate(
        [
            biomass_recipe(d, inputs["wd"], inputs["sd_wd"], hd_d, hd_h, param_4, 1000, s)
            for s in range(1, 6)
        ]
    )
    print(
        f"trees {d.size}, plots {len(inputs['plots'])}, heights {hd_d.size}; wood density "
        "sources: "
        + ", ".join(
            f"{s} {c}"
            for s, c in zip(*np.unique(inputs["wd_source"], return_counts=True), strict=True)
        )
    )
    if REFERENCE.exists():
        compare_with_reference(inputs, read_reference(REFERENCE))
    from models.allometry import load_eq4_posterior

    _, hd = reddsim_model(inputs)
    (m,) = hd.models
    post = load_eq4_posterior()
    e_reddsim = expected_total(inputs, m.params, m.rse_log, post.alpha, post.beta, post.sigma)
    e_param4 = expected_total(
        inputs, m.params, m.rse_log, param_4["intercept"], param_4["logagbt"], param_4["sd"]
    )
    print(
        f"log2 H-D fit: {', '.join(f'{v:.6g}' for v in m.params)}, RSElog {m.rse_log:.6g}; "
        f"expected total (no D, WD errors) under reddsim's Eq. 4 posterior {e_reddsim:.2f} Mg, "
        f"under param_4 {e_param4:.2f} ({100 * (e_reddsim / e_param4 - 1):+.2f}%)"
    )
    print(
        f"BIOMASS recipe in NumPy (5 x 1000 iterations): total mean {recipe.mean():.2f} Mg, "
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
    if sys.argv[1:2] == ["--export-inputs"] and len(sys.argv) == 3:
        export_inputs(nouragues_inputs(), sys.argv[2])
    else:
        main(*sys.argv[1:4])
