"""Generate the SYNTHETIC default data of the Los Amigos run (runs/los-amigos/data/).

No plot inventory, deforestation map or leakage-belt monitoring of the Los Amigos
Conservation Concession is public, so the three CSV files read by this run are
synthetic: they are drawn here, with a fixed seed, from generative models whose
parameters are set from published magnitudes (DESIGN.md section 4; every constant
below cites its source, full references are in README.md next to this file).
A user with real data replaces the CSVs (same columns) and changes nothing else.

Files written (next to this script, in ``data/``):

``plots.csv`` -- ``plot_id,stratum,area_ha,agb_mg_ha,agb_sd_mg_ha``
    62 inventory plots (1 ha, a few 0.5 ha) in four strata. A plot's true
    above-ground biomass density (Mg dry matter/ha) is log-normal with the stratum
    target as its EXPECTED value and a between-plot CV of 25%. The plot's
    allometric + measurement error (BIOMASS ``AGBmonteCarlo`` style) has relative
    SD U(8%, 15%) for a 1-ha plot, x sqrt(2) for a 0.5-ha plot; the written value
    is the true value times a mean-one log-normal error with that SD, and
    ``agb_sd_mg_ha`` = relative SD x written value. The stratum targets are
    calibrated so that the expected AGB total of the concession is exactly
    Winrock's 79.4 MtCO2 (area x mean AGB x 0.47 x 44/12); they are NOT rescaled
    after drawing.

``deforestation.csv`` -- ``year,forest_area_ha,loss_ha,loss_se_ha``
    Madre de Dios humid forest (reference region), 2001-2020. Exactly the model
    the simulator fits::

        h_t  = 0 (year < 2006), (year - 2006)/5 (2006..2011), 1 (year >= 2011)
        r_t  = exp(a + b*(year - 2001) + c*h_t + sigma*eps_t),  eps_t ~ N(0, 1)
        true loss_t = F_t * r_t,   F_{t+1} = F_t - true loss_t,  F_2001 = 7.95 Mha
        loss_ha_t   = true loss_t + N(0, loss_se_t),  loss_se_t = U(8%, 15%) x true loss_t

    ``forest_area_ha`` is F_t (forest at the START of the year, true area).
    (a, b, c, sigma) were chosen by a small deterministic calibration (b fixed at
    0.04; a and c solved so that the EXPECTED 2001-2016 total is 162,573 ha and the
    expected 2015/2016 mean is 17,429 ha, then rounded); see the constants.

``leakage_belt.csv`` -- ``year,avoided_ha,belt_loss_ha,belt_baseline_ha,belt_se_ha``
    ~10 km leakage belt around a comparable concession, 2013-2022:
    belt_loss = belt_baseline + lambda * avoided + N(0, belt_se), lambda = 0.12.

Seed selection. One ``numpy.random.default_rng(seed)`` draws everything, in the
order plots -> deforestation -> leakage. Starting at seed 20011, seeds 20011,
20012, ... are tried and the first one is kept whose realisation matches the
published figures:

* implied AGB total within 3% of 79.4 MtCO2 (the rule of the run's brief);
* observed 2001-2016 loss total within 3% of 162,573 ha (MINAM/SERFOR);
* observed 2015 and 2016 loss each within 10% of 17,802 and 17,055 ha;
* observed 2017 loss > 20,000 ha (MAAP) -- the log-linear trend alone gives an
  expected ~18,500 ha for 2017, so the published jump needs a positive shock.

The deforestation conditions were added because with one rng per seed the
deforestation series changes with the seed too, and the published 2017 figure
cannot be met by the parameters alone without breaking the 2015/2016 match.
Result: the first seed, **20011**, passes all conditions (1 seed tried), so the
data are those of seed 20011. The script prints the seed used and the realised
totals; README.md records them.

Determinism: numpy only, csv module, fixed decimals (1 for ha, 2 for Mg/ha),
rows sorted, ``\\n`` line endings -- re-running gives byte-identical files.

Run from the repository root::

    .venv/bin/python runs/los-amigos/generate_data.py
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------- #
# Seed
# --------------------------------------------------------------------------- #
SEED_START = 20011  # first seed tried (fixed by the run's brief)
MAX_SEED_TRIES = 10_000  # give up after this many seeds (never reached)

# --------------------------------------------------------------------------- #
# Concession and carbon conversion
# --------------------------------------------------------------------------- #
# Winrock International (2006): 79.4 MtCO2 in above-ground biomass (DESIGN §4).
WINROCK_AGB_MTCO2 = 79.4
# Carbon fraction of dry matter, IPCC 2006 (BIOMASS uses 0.4713 +- 0.0206).
CARBON_FRACTION = 0.47
# CO2 per C, molecular weights (DESIGN §3).
CO2_PER_C = 44.0 / 12.0
# Stratum areas of the concession, ha. Total 145,700 ha (~360,000 acres,
# ACCA / DESIGN §4); the split 60/15/20/5% is an assumption of this synthetic
# run (terra firme the majority, DESIGN §4), and is what run.toml uses.
STRATUM_AREA_HA = {
    "terra_firme": 87_420.0,
    "floodplain": 21_855.0,
    "bamboo": 29_140.0,
    "palm_swamp": 7_285.0,
}

# --------------------------------------------------------------------------- #
# Plot inventory (plots.csv)
# --------------------------------------------------------------------------- #
# Floodplain forest relative to terra firme: 0.9x (assumption; regional
# floodplain forests are somewhat lower in AGB than terra firme).
FLOODPLAIN_RATIO = 0.90
# Guadua bamboo forest relative to terra firme: ~30-40% lower biomass than
# tree-dominated forest (DESIGN §4) -> 35% lower.
BAMBOO_RATIO = 0.65
# Mauritia palm swamp (aguajal): 61.5 MgC/ha AGB, range 41.4-85.0
# (Quinteros-Gomez, San Martin; DESIGN §4) -> 61.5 / 0.47 Mg dry matter/ha.
PALM_SWAMP_AGB_MG_HA = 61.5 / CARBON_FRACTION
# Between 1-ha plot CV of AGB, ~20-30% in Amazon old growth (DESIGN §4).
BETWEEN_PLOT_CV = 0.25
# Plots per stratum (assumption of this synthetic inventory).
N_PLOTS = {"terra_firme": 30, "floodplain": 12, "bamboo": 12, "palm_swamp": 8}
# How many of those are 0.5-ha plots (the last ones of each stratum; assumption).
N_HALF_HA_PLOTS = {"terra_firme": 6, "floodplain": 3, "bamboo": 3, "palm_swamp": 4}
# Relative SD of a 1-ha plot's AGB from allometric + measurement error,
# U(8%, 15%): magnitude of BIOMASS AGBmonteCarlo results (Chave et al. 2014
# residual SE 0.357 per tree, Chave et al. 2004 diameter error, Feldpausch
# et al. 2012 height model), averaged over a few hundred stems per ha.
PLOT_REL_SD_RANGE = (0.08, 0.15)
# 0.5-ha plot: half the stems, so relative SD x sqrt(2) (errors of stems
# averaging out as 1/sqrt(n)).
HALF_HA_SD_FACTOR = math.sqrt(2.0)
# Plot id prefix per stratum.
PLOT_PREFIX = {"terra_firme": "TF", "floodplain": "FP", "bamboo": "BB", "palm_swamp": "PS"}


def stratum_targets() -> dict[str, float]:
    """Expected AGB (Mg/ha) per stratum, so that the expected total is 79.4 MtCO2.

    Palm swamp is fixed by its published carbon density; the other three keep the
    ratios above and terra firme is solved for.
    """
    total_mg = WINROCK_AGB_MTCO2 * 1e6 / (CARBON_FRACTION * CO2_PER_C)
    a = STRATUM_AREA_HA
    rest = total_mg - a["palm_swamp"] * PALM_SWAMP_AGB_MG_HA
    tf = rest / (a["terra_firme"] + FLOODPLAIN_RATIO * a["floodplain"] + BAMBOO_RATIO * a["bamboo"])
    return {
        "terra_firme": tf,
        "floodplain": FLOODPLAIN_RATIO * tf,
        "bamboo": BAMBOO_RATIO * tf,
        "palm_swamp": PALM_SWAMP_AGB_MG_HA,
    }


# --------------------------------------------------------------------------- #
# Reference-region deforestation (deforestation.csv)
# --------------------------------------------------------------------------- #
DEFOR_YEARS = np.arange(2001, 2021)  # 2001-2020 inclusive
# Madre de Dios humid forest, ~7.95 Mha (MINAM/SERFOR; DESIGN §4).
FOREST_AREA_2001_HA = 7_950_000.0
# Interoceanic highway paving through Madre de Dios 2005/06-2011 (DESIGN §4):
# covariate ramps linearly from 0 in 2006 to 1 in 2011.
HIGHWAY_RAMP_START, HIGHWAY_RAMP_END = 2006, 2011
# TRUE parameters of the rate model (calibrated to MINAM/SERFOR 2001-2016 total
# 162,573 ha, 2015 17,802 ha, 2016 17,055 ha; MAAP 2017 > 20,000 ha):
DEFOR_A = -7.51  # log rate in 2001 (exp(a) = 0.000548/yr, ~4,400 ha in 2001)
DEFOR_B = 0.04  # log-linear trend per year
DEFOR_C = 0.82  # highway effect on the log rate (x2.27 once paved)
DEFOR_SIGMA = 0.12  # year-to-year process noise SD on the log rate
# Map-accuracy standard error of annual loss, stratified estimator
# (Olofsson et al. 2013, 2014): ~8-15% of the loss.
LOSS_REL_SE_RANGE = (0.08, 0.15)

# Published figures the realisation must match (seed acceptance).
PUB_LOSS_2001_2016_HA = 162_573.0  # MINAM/SERFOR
PUB_LOSS_2015_HA = 17_802.0  # MINAM/SERFOR
PUB_LOSS_2016_HA = 17_055.0  # MINAM/SERFOR
PUB_LOSS_2017_MIN_HA = 20_000.0  # MAAP: > 20,000 ha in 2017
AGB_TOL = 0.03  # AGB total within 3% of 79.4 MtCO2
LOSS_TOTAL_TOL = 0.03  # 2001-2016 loss total within 3%
LOSS_YEAR_TOL = 0.10  # 2015 and 2016 each within 10%


def highway_covariate(years: np.ndarray) -> np.ndarray:
    """h_t: 0 before 2006, linear ramp 2006-2011, 1 from 2011 on."""
    span = HIGHWAY_RAMP_END - HIGHWAY_RAMP_START
    return np.clip((years - HIGHWAY_RAMP_START) / span, 0.0, 1.0)


# --------------------------------------------------------------------------- #
# Leakage belt (leakage_belt.csv)
# --------------------------------------------------------------------------- #
BELT_YEARS = np.arange(2013, 2023)  # 2013-2022 inclusive
# TRUE activity-shifting displacement fraction (assumption; leakage deductions
# of 0-15% are typical, DESIGN §4).
LEAKAGE_LAMBDA = 0.12
# Deforestation avoided inside the project per year, a few hundred ha:
# U(200, 600) ha (assumption; of the order of the VCS 1067 / VCS 844
# control-minus-project rates, Guizar-Coutino et al. 2022, times a project area).
AVOIDED_RANGE_HA = (200.0, 600.0)
# Belt baseline (loss expected in a ~10 km belt without the project; belt width
# as in Natural Forest Standard practice): 1,100 ha in 2013 rising ~6%/yr to
# ~1,900 ha in 2022, with 5% log-normal year-to-year noise (assumption).
BELT_BASELINE_2013_HA = 1_100.0
BELT_BASELINE_GROWTH = 0.06
BELT_BASELINE_NOISE_SD = 0.05
# Standard error of the belt loss from its own map-accuracy assessment: 40-80 ha.
BELT_SE_RANGE_HA = (40.0, 80.0)


# --------------------------------------------------------------------------- #
# Generators
# --------------------------------------------------------------------------- #
def draw_plots(rng: np.random.Generator) -> list[tuple]:
    targets = stratum_targets()
    s_between = math.sqrt(math.log1p(BETWEEN_PLOT_CV**2))
    rows = []
    for stratum in STRATUM_AREA_HA:  # fixed order: draws do not depend on sorting
        n = N_PLOTS[stratum]
        n_half = N_HALF_HA_PLOTS[stratum]
        area = np.where(np.arange(n) < n - n_half, 1.0, 0.5)
        mu = math.log(targets[stratum]) - 0.5 * s_between**2  # E[true] = target
        true = np.exp(mu + s_between * rng.standard_normal(n))
        rel = rng.uniform(*PLOT_REL_SD_RANGE, size=n) * np.where(area < 1.0, HALF_HA_SD_FACTOR, 1.0)
        s_meas = np.sqrt(np.log1p(rel**2))
        obs = true * np.exp(s_meas * rng.standard_normal(n) - 0.5 * s_meas**2)  # mean-one error
        obs = np.round(obs, 2)
        sd = np.round(rel * obs, 2)
        for i in range(n):
            pid = f"LA-{PLOT_PREFIX[stratum]}-{i + 1:02d}"
            rows.append((pid, stratum, float(area[i]), float(obs[i]), float(sd[i])))
    rows.sort()
    return rows


def agb_total_mtco2(rows: list[tuple]) -> float:
    """Sum over strata of area x sample-mean AGB x CF x 44/12, in MtCO2."""
    total = 0.0
    for stratum, area in STRATUM_AREA_HA.items():
        vals = [r[3] for r in rows if r[1] == stratum]
        total += area * (sum(vals) / len(vals)) * CARBON_FRACTION * CO2_PER_C
    return total / 1e6


def draw_deforestation(rng: np.random.Generator) -> list[tuple]:
    years = DEFOR_YEARS
    h = highway_covariate(years)
    eps = rng.standard_normal(years.size)
    rate = np.exp(DEFOR_A + DEFOR_B * (years - years[0]) + DEFOR_C * h + DEFOR_SIGMA * eps)
    rel_se = rng.uniform(*LOSS_REL_SE_RANGE, size=years.size)
    meas = rng.standard_normal(years.size)
    rows = []
    forest = FOREST_AREA_2001_HA
    for i, year in enumerate(years):
        true_loss = forest * rate[i]
        se = rel_se[i] * true_loss
        obs = true_loss + se * meas[i]
        rows.append((int(year), round(forest, 1), round(obs, 1), round(se, 1)))
        forest -= true_loss
    return rows


def draw_leakage(rng: np.random.Generator) -> list[tuple]:
    years = BELT_YEARS
    n = years.size
    avoided = rng.uniform(*AVOIDED_RANGE_HA, size=n)
    baseline = BELT_BASELINE_2013_HA * np.exp(
        BELT_BASELINE_GROWTH * (years - years[0]) + BELT_BASELINE_NOISE_SD * rng.standard_normal(n)
    )
    se = rng.uniform(*BELT_SE_RANGE_HA, size=n)
    # Round the inputs first so that belt_loss is generated from the written values.
    avoided, baseline, se = np.round(avoided, 1), np.round(baseline, 1), np.round(se, 1)
    loss = baseline + LEAKAGE_LAMBDA * avoided + se * rng.standard_normal(n)
    return [
        (
            int(years[i]),
            float(avoided[i]),
            round(float(loss[i]), 1),
            float(baseline[i]),
            float(se[i]),
        )
        for i in range(n)
    ]


def loss_summary(defor: list[tuple]) -> dict[str, float]:
    by_year = {r[0]: r[2] for r in defor}
    return {
        "total_2001_2016": sum(v for y, v in by_year.items() if 2001 <= y <= 2016),
        "y2015": by_year[2015],
        "y2016": by_year[2016],
        "y2017": by_year[2017],
    }


def acceptable(agb: float, loss: dict[str, float]) -> bool:
    return (
        abs(agb / WINROCK_AGB_MTCO2 - 1.0) <= AGB_TOL
        and abs(loss["total_2001_2016"] / PUB_LOSS_2001_2016_HA - 1.0) <= LOSS_TOTAL_TOL
        and abs(loss["y2015"] / PUB_LOSS_2015_HA - 1.0) <= LOSS_YEAR_TOL
        and abs(loss["y2016"] / PUB_LOSS_2016_HA - 1.0) <= LOSS_YEAR_TOL
        and loss["y2017"] > PUB_LOSS_2017_MIN_HA
    )


def generate(seed: int) -> tuple[list[tuple], list[tuple], list[tuple]]:
    rng = np.random.default_rng(seed)
    plots = draw_plots(rng)
    defor = draw_deforestation(rng)
    belt = draw_leakage(rng)
    return plots, defor, belt


def fmt(x: object, decimals: int) -> str:
    return f"{x:.{decimals}f}" if isinstance(x, float) else str(x)


def write_csv(path: Path, header: list[str], rows: list[tuple], decimals: list[int]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([fmt(v, d) for v, d in zip(row, decimals, strict=True)])


def main() -> None:
    for seed in range(SEED_START, SEED_START + MAX_SEED_TRIES):
        plots, defor, belt = generate(seed)
        agb = agb_total_mtco2(plots)
        loss = loss_summary(defor)
        if acceptable(agb, loss):
            break
        print(
            f"seed {seed}: rejected (AGB {agb:.2f} MtCO2, "
            f"2001-2016 loss {loss['total_2001_2016']:,.1f} ha, "
            f"2015 {loss['y2015']:,.1f}, 2016 {loss['y2016']:,.1f}, 2017 {loss['y2017']:,.1f})"
        )
    else:
        raise SystemExit(f"no acceptable seed in {MAX_SEED_TRIES} tries")

    out = Path(__file__).resolve().parent / "data"
    out.mkdir(exist_ok=True)
    write_csv(
        out / "plots.csv",
        ["plot_id", "stratum", "area_ha", "agb_mg_ha", "agb_sd_mg_ha"],
        plots,
        [0, 0, 1, 2, 2],
    )
    write_csv(
        out / "deforestation.csv",
        ["year", "forest_area_ha", "loss_ha", "loss_se_ha"],
        sorted(defor),
        [0, 1, 1, 1],
    )
    write_csv(
        out / "leakage_belt.csv",
        ["year", "avoided_ha", "belt_loss_ha", "belt_baseline_ha", "belt_se_ha"],
        sorted(belt),
        [0, 1, 1, 1, 1],
    )

    targets = stratum_targets()
    print(f"seed used: {seed} ({seed - SEED_START + 1} tried)")
    print("stratum targets (expected AGB, Mg/ha) and sample means:")
    for stratum, t in targets.items():
        vals = [r[3] for r in plots if r[1] == stratum]
        print(
            f"  {stratum:12s} target {t:7.2f}  "
            f"sample mean {sum(vals) / len(vals):7.2f}  n={len(vals)}"
        )
    print(
        f"implied AGB total: {agb:.2f} MtCO2 (Winrock 2006: {WINROCK_AGB_MTCO2} MtCO2, "
        f"{100 * (agb / WINROCK_AGB_MTCO2 - 1):+.1f}%)"
    )
    print(
        f"observed loss 2001-2016: {loss['total_2001_2016']:,.1f} ha "
        f"(mean {loss['total_2001_2016'] / 16:,.1f} ha/yr; published {PUB_LOSS_2001_2016_HA:,.0f})"
    )
    print(
        f"observed loss 2015: {loss['y2015']:,.1f}  2016: {loss['y2016']:,.1f}  "
        f"2017: {loss['y2017']:,.1f} ha"
    )
    a = np.array([r[1] for r in belt])
    y = np.array([r[2] - r[3] for r in belt])
    s = np.array([r[4] for r in belt])
    w = 1.0 / s**2
    lam_hat = float(np.sum(w * a * y) / np.sum(w * a * a))
    lam_se = float(1.0 / math.sqrt(np.sum(w * a * a)))
    print(
        f"leakage: true lambda {LEAKAGE_LAMBDA}, weighted LS estimate {lam_hat:.3f} +- {lam_se:.3f}"
    )
    print(f"wrote {out}/plots.csv, deforestation.csv, leakage_belt.csv")


if __name__ == "__main__":
    main()
