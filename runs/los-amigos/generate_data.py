"""Generate the SYNTHETIC default data of the Los Amigos run (runs/los-amigos/data/).

No tree inventory, deforestation map or leakage-belt monitoring of the Los Amigos
Conservation Concession is public, so the CSV files of this run are synthetic:
they are drawn here, with fixed seeds, from generative models whose parameters are
set from published magnitudes (DESIGN.md section 4; every constant below cites its
source, full references are in README.md next to this file). The deforestation
activity data are ``map_areas.csv`` + ``accuracy_sample.csv`` (a loss map and its
accuracy assessment); ``deforestation.csv`` is the former form of that series
(kept unchanged, may be removed). A user with real data replaces the CSVs (same
columns) and changes nothing else.

Files written (next to this script, in ``data/``):

``plots.csv`` -- ``plot_id,stratum,area_ha,subplot_area_ha,subplot_max_dbh_cm``
    62 inventory plots in four strata (30 terra_firme, 12 floodplain, 12 bamboo,
    8 palm_swamp). Most are 1-ha plots in which stems of 10-20 cm DBH were
    measured only in a nested 0.25-ha subplot (subplot_area_ha 0.25,
    subplot_max_dbh_cm 20); a few 1-ha plots and all 0.5-ha plots (the last
    plots of each stratum) measured every stem >= 10 cm over the whole plot
    (subplot_area_ha = area_ha, subplot_max_dbh_cm 10).

``trees.csv`` -- ``plot_id,tree_id,stratum,dbh_cm,height_m,wood_density,genus,species,family``
    One row per stem >= 10 cm DBH inside the measured area. Per plot:

    * stand-density multiplier m = exp(0.2 z - 0.02), z ~ N(0, 1) (mean one);
      number of stems over the whole plot ~ Poisson(stems/ha x m x area_ha);
    * genus drawn from the stratum's genus weights (STRATUM_TREES; ~5% of stems
      unidentified: genus "Indet" or empty), then a species of that genus with
      equal probability and its family (GENUS_TAXA: real Madre de Dios names);
    * DBH: dicots D = 10 + Weibull(shape, scale) truncated at a maximum (shape
      1.0: a negative-exponential, reverse-J distribution above 10 cm); the big-
      tree genera Bertholletia, Dipteryx and Ceiba have their own Weibull law
      (shape 1.3, scale 50-100 cm, maximum 180-250 cm), which gives 1-3 stems
      > 100 cm per ha; palms (Mauritia, Iriartea, Euterpe, Attalea) have D and H
      uniform on a range (PALM_DIMENSIONS). DBH is rounded to 0.1 cm;
    * true height of a dicot: Feldpausch et al. (2012) western-Amazonia H-D
      model H = 46.263 (1 - exp(-0.0876 D^0.6072)) + N(0, 5.28) m, clipped to
      1.3-90 m, rounded to 0.1 m;
    * true wood density: the species mean of the Global Wood Density Database
      subset reddsim ships (models/data/gwdd_south_america_tropical.csv) +
      N(0, 0.0708), or where the species is not in it the genus mean (mean of its
      species means) + N(0, 0.0941) (the database's within-taxon SDs); for
      unidentified stems N(0.598, 0.185) truncated at +-2.5 SD (regional mean,
      Madre de Dios harvest-tree SD of Chave et al. 2014); palms have none;
    * a nested plot keeps a stem below subplot_max_dbh_cm with probability
      subplot_area_ha / area_ha (stems spread at random);
    * height_m written (= true height) with probability min(0.9, 0.16 + 0.008
      (D - 10)) (~30% of stems, larger trees more often), else empty;
      wood_density written for 15% of identified stems (a core: true density +
      N(0, 0.03), 3 decimals, within 0.1-1.5), else empty -- ~85% of stems have
      no density, ~5% have neither a density nor a genus.

    The true plot AGB (Mg/ha) is the sum over its stems of Chave et al. (2014)
    Eq. 4, 0.0673 (rho D^2 H)^0.976 kg, with TRUE rho and H (palms: Goodman et
    al. 2013, exp(-3.3488 + 2.7483 ln D + 0.588^2 / 2) kg), times the stem's
    expansion factor (1 / subplot_area_ha below subplot_max_dbh_cm, else
    1 / area_ha), / 1000. Calibration: the stratum's expected stems/ha is solved
    so that E[plot AGB] equals the stratum target (E[AGB per stem] from a
    reference sample of 10^6 stems, fixed calibration stream). The targets make
    the expected concession total exactly Winrock's 79.4 MtCO2 (area x mean AGB
    x 0.47 x 44/12): palm swamp 61.5 MgC/ha / 0.47, floodplain 0.90 and bamboo
    0.65 x terra firme, terra firme solved. The solved densities (~490, ~476,
    ~317 and ~227 stems/ha) fall in the regional ranges.

``deforestation.csv`` -- ``year,forest_area_ha,loss_ha,loss_se_ha``
    The FORMER activity-data series (superseded by the two files below; written
    unchanged, may be removed). Madre de Dios humid forest (reference region),
    2001-2020. The TRUE loss below is the truth the map files are drawn from.
    Exactly the model the simulator fits::

        h_t  = 0 (year < 2006), (year - 2006)/5 (2006..2011), 1 (year >= 2011)
        r_t  = exp(a + b*(year - 2001) + c*h_t + sigma*eps_t),  eps_t ~ N(0, 1)
        true loss_t = F_t * r_t,   F_{t+1} = F_t - true loss_t,  F_2001 = 7.95 Mha
        loss_ha_t   = true loss_t + N(0, loss_se_t),  loss_se_t = U(8%, 15%) x true loss_t

    ``forest_area_ha`` is F_t (forest at the START of the year, true area).
    (a, b, c, sigma) were chosen by a small deterministic calibration (b fixed at
    0.04; a and c solved so that the EXPECTED 2001-2016 total is 162,573 ha and the
    expected 2015/2016 mean is 17,429 ha, then rounded); see the constants.

``map_areas.csv`` and ``accuracy_sample.csv`` -- the loss map and its accuracy sample
    are drawn as maps by ``generate_maps.py`` (a loss-year raster of the reference
    region, the boundaries, an interpreted stratified sample of points) from the TRUE
    loss of this script's main stream and the accuracy stream's map errors, then
    imported with ``reddsim import maps`` and ``reddsim import sample``; see that
    script. Run it after this one.

``leakage_belt.csv`` -- ``year,avoided_ha,belt_loss_ha,belt_baseline_ha,belt_se_ha``
    ~10 km leakage belt around a comparable concession, 2013-2022:
    belt_loss = belt_baseline + lambda * avoided + N(0, belt_se), lambda = 0.12.

Seed policy. Three independent numpy generators (plus a calibration stream):

* main stream ``numpy.random.default_rng(20011)``, FIXED. It first draws the 3 x 62
  numbers that the earlier plot-level version of this script drew for its
  plot AGB totals (discarded, draw_legacy_plot_numbers), then the deforestation
  series, then the leakage belt -- so deforestation.csv and leakage_belt.csv are
  byte-identical to that version's. Seed 20011 was selected there as the first
  seed (from 20011 on) whose realisation matched the published figures; the
  deforestation conditions (observed 2001-2016 loss within 3% of 162,573 ha;
  2015 and 2016 each within 10% of 17,802 and 17,055 ha; 2017 > 20,000 ha, MAAP)
  are still checked, and the script stops if they ever fail;
* tree stream ``numpy.random.default_rng([20011, key])``: keys 1, 2, ... are
  tried and the first is kept whose realisation matches the published
  magnitudes: realised AGB total (sum over strata of area x mean plot AGB x 0.47
  x 44/12) within 3% of 79.4 MtCO2, and between-plot CV of plot AGB within
  15-35% in every stratum (~20-30% typical). Key 2 is the first to pass (key
  1 fails: floodplain between-plot CV 41.1%; earlier versions of the tree
  generator, with other wood densities and no palm model, passed at key 8);
  the script prints every rejected key;
* accuracy stream ``numpy.random.default_rng([20011, 0xACC])``, FIXED, separate
  from the others so that none of their draws shift: UA for the 20 years, then om
  for the 20 years, used by generate_maps.py (which has its own spatial stream).

The calibration sample uses ``default_rng([20011, 0, stratum index])``. The
stratum targets and stem densities are NOT rescaled after drawing.

Determinism: numpy and the csv module only; fixed decimals (1 for ha, cm, m;
2 for plot areas; 3 for wood density; counts are integers), rows sorted,
``\\n`` line endings --
re-running gives byte-identical files.

Run from the repository root::

    .venv/bin/python runs/los-amigos/generate_data.py
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------- #
# Seeds
# --------------------------------------------------------------------------- #
# Main stream: numpy.random.default_rng(SEED) draws, in this order, the legacy
# plot-level numbers (discarded, see draw_legacy_plot_numbers), deforestation.csv
# and leakage_belt.csv. Fixed at 20011 (the seed the earlier plot-level version
# of this script selected), so those two files are unchanged.
SEED = 20011
# Tree stream: numpy.random.default_rng([SEED, key]), independent of the main
# stream. Keys 1, 2, ... are tried and the first whose realised AGB total is
# within AGB_TOL of 79.4 MtCO2 and whose between-plot CVs are all within
# PLOT_CV_RANGE is kept (MAX_TREE_KEYS: give up).
FIRST_TREE_KEY = 1
MAX_TREE_KEYS = 1_000
# Calibration (reference) stream: numpy.random.default_rng([SEED, 0, stratum index]).
CALIBRATION_KEY = 0

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
# Stratum AGB targets
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
AGB_TOL = 0.03  # realised AGB total within 3% of 79.4 MtCO2
# Realised between-plot CV of plot AGB in every stratum within 15-35%: ~20-30% is
# typical between 1-ha Amazon old-growth plots (DESIGN §4), widened because a
# stratum has only 8-30 plots (some of 0.5 ha).
PLOT_CV_RANGE = (0.15, 0.35)


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
# Plot design (plots.csv)
# --------------------------------------------------------------------------- #
# Plots per stratum (assumption of this synthetic inventory).
N_PLOTS = {"terra_firme": 30, "floodplain": 12, "bamboo": 12, "palm_swamp": 8}
# How many of those are 0.5-ha plots (the last ones of each stratum; assumption).
N_HALF_HA_PLOTS = {"terra_firme": 6, "floodplain": 3, "bamboo": 3, "palm_swamp": 4}
# How many 1-ha plots measure every stem >= 10 cm over the whole hectare (the last
# 1-ha plots of each stratum); the other 1-ha plots measure stems of 10-20 cm
# only in a nested 0.25-ha subplot (a common nested design; assumption).
# 0.5-ha plots are not nested.
N_UNNESTED_1HA_PLOTS = {"terra_firme": 4, "floodplain": 2, "bamboo": 2, "palm_swamp": 1}
NESTED_SUBPLOT_HA = 0.25
NESTED_MAX_DBH_CM = 20.0
D_MIN_CM = 10.0  # inventory threshold: stems with DBH >= 10 cm
PLOT_PREFIX = {"terra_firme": "TF", "floodplain": "FP", "bamboo": "BB", "palm_swamp": "PS"}

# --------------------------------------------------------------------------- #
# Tree generator (trees.csv)
# --------------------------------------------------------------------------- #
# Heights of dicots: western-Amazonia H-D model of Feldpausch et al. (2012), as in
# BIOMASS feldCoef: H = a (1 - exp(-b D^c)), residual SE 5.28 m (DESIGN §4).
FELD_A, FELD_B, FELD_C = 46.263, 0.0876, 0.6072
FELD_RSE_M = 5.28
H_BOUNDS_M = (1.3, 90.0)
# Taxonomy of the genera (family; species typical of Madre de Dios forests,
# drawn with equal probability within the genus; assumption). A species found in
# the tropical South America subset of the Global Wood Density Database
# (models/data/gwdd_south_america_tropical.csv) has its true density drawn around
# its species mean, the others around their genus mean (mean of the species means).
GENUS_TAXA = {
    "Pseudolmedia": ("Moraceae", ("laevis", "laevigata", "macrophylla")),
    "Brosimum": ("Moraceae", ("lactescens", "alicastrum", "guianense")),
    "Eschweilera": ("Lecythidaceae", ("coriacea", "parvifolia")),
    "Pouteria": ("Sapotaceae", ("torta", "macrophylla", "caimito")),
    "Inga": ("Fabaceae", ("alba", "edulis", "thibaudiana")),
    "Protium": ("Burseraceae", ("nodulosum", "tenuifolium", "puncticulatum")),
    "Virola": ("Myristicaceae", ("calophylla", "elongata", "sebifera")),
    "Otoba": ("Myristicaceae", ("parvifolia",)),
    "Iriartea": ("Arecaceae", ("deltoidea",)),
    "Euterpe": ("Arecaceae", ("precatoria",)),
    "Attalea": ("Arecaceae", ("phalerata",)),
    "Mauritia": ("Arecaceae", ("flexuosa",)),
    "Bertholletia": ("Lecythidaceae", ("excelsa",)),
    "Dipteryx": ("Fabaceae", ("micrantha", "odorata")),
    "Ceiba": ("Malvaceae", ("pentandra",)),
    "Ficus": ("Moraceae", ("insipida", "maxima")),
    "Sloanea": ("Elaeocarpaceae", ("guianensis", "obtusifolia")),
    "Guarea": ("Meliaceae", ("guidonia", "macrophylla", "kunthiana")),
    "Calycophyllum": ("Rubiaceae", ("spruceanum",)),
    "Symphonia": ("Clusiaceae", ("globulifera",)),
    "Tabebuia": ("Bignoniaceae", ("serratifolia", "obscura")),
}
GWDD_TABLE = (
    Path(__file__).resolve().parents[2] / "models" / "data" / ("gwdd_south_america_tropical.csv")
)
# A tree's true density = its species (else genus) mean + N(0, within-taxon SD):
# 0.0708 (species) and 0.0941 (genus) g/cm3, the SDs of the database (BIOMASS sd_10).
WITHIN_SPECIES_WD_SD, WITHIN_GENUS_WD_SD = 0.0708, 0.0941
# Palms (Arecaceae): true AGB from the family-level model of Goodman et al. (2013),
# ln AGB = -3.3488 + 2.7483 ln D (RSE 0.588; mean with exp(RSE^2 / 2)); no density.
GOODMAN_A, GOODMAN_B, GOODMAN_RSE = -3.3488, 2.7483, 0.588
# Trees of other genera (and unidentified trees): true density drawn tree by tree
# from N(0.598, 0.185) truncated symmetrically at +-2.5 SD, i.e. 0.136-1.061 g/cm3
# (symmetric, so the mean stays 0.598): mean over species of BIOMASS
# wsg_estimates, and the SD of the 51 Madre de Dios harvest trees of Chave et al.
# (2014) (0.569 +- 0.185).
REGIONAL_WD_MEAN, REGIONAL_WD_SD = 0.598, 0.185
WD_TRUNC_SD = 2.5
# A measured (cored) density = true density + N(0, 0.03), within 0.1-1.5 g/cm3.
WD_CORE_SD = 0.03
WD_WRITTEN_BOUNDS = (0.1, 1.5)
# Share of identified stems with a measured wood density (assumption).
P_WD_MEASURED = 0.15
# Probability that a stem's height was measured: P = min(0.9, P_H0 + P_H1 (D - 10))
# (larger trees more often; ~30% overall; assumption).
P_H0, P_H1 = 0.16, 0.008
P_H_MAX = 0.90
# Unidentified stems: genus "Indet" or empty (no genus), ~5% of stems.
UNIDENTIFIED = ("Indet", "")

# Diameter laws. "common": D = 10 + Weibull(shape, scale) truncated at dmax, per
# stratum; shape 1.0 is the negative exponential, a reverse-J distribution above
# 10 cm. "emergent": Weibull shape 1.3 with a large scale for the big-tree genera
# (Bertholletia, Dipteryx, Ceiba; 1-3 stems > 100 cm per ha in all). "palm": D and
# H uniform on a range (palm stems do not follow the dicot H-D model).
PALM_DIMENSIONS = {  # genus: (D_min, D_max cm, H_min, H_max m); assumption
    "Mauritia": (25.0, 45.0, 20.0, 30.0),
    "Iriartea": (14.0, 30.0, 15.0, 28.0),
    "Euterpe": (10.0, 20.0, 12.0, 22.0),
    "Attalea": (25.0, 45.0, 10.0, 20.0),
}
# Per stratum: common-dicot law (shape, scale cm, dmax cm), emergent laws per
# genus, genus weights (relative stem frequencies; assumption, genera typical of
# Madre de Dios forests), stand-density SD (log scale) between plots.
STRATUM_TREES = {
    "terra_firme": {
        "common": (1.0, 14.0, 160.0),
        "emergent": {
            "Bertholletia": (1.3, 70.0, 220.0),
            "Dipteryx": (1.3, 60.0, 200.0),
            "Ceiba": (1.3, 80.0, 250.0),
        },
        "weights": {
            "Pseudolmedia": 200,
            "Brosimum": 100,
            "Eschweilera": 110,
            "Pouteria": 110,
            "Inga": 80,
            "Protium": 100,
            "Virola": 60,
            "Otoba": 40,
            "Iriartea": 60,
            "Euterpe": 30,
            "Attalea": 15,
            "Bertholletia": 6,
            "Dipteryx": 5,
            "Ceiba": 3,
            "Indet": 30,
            "": 20,
        },
        "density_sd": 0.20,
    },
    "floodplain": {
        "common": (1.0, 14.0, 160.0),
        "emergent": {
            "Dipteryx": (1.3, 60.0, 200.0),
            "Ceiba": (1.3, 100.0, 250.0),
        },
        "weights": {
            "Inga": 120,
            "Ficus": 60,
            "Sloanea": 80,
            "Guarea": 100,
            "Calycophyllum": 60,
            "Virola": 90,
            "Otoba": 70,
            "Pseudolmedia": 110,
            "Pouteria": 60,
            "Iriartea": 80,
            "Attalea": 40,
            "Euterpe": 30,
            "Ceiba": 10,
            "Dipteryx": 3,
            "Indet": 30,
            "": 20,
        },
        "density_sd": 0.20,
    },
    "bamboo": {
        "common": (1.0, 14.0, 140.0),
        "emergent": {
            "Bertholletia": (1.3, 60.0, 200.0),
            "Ceiba": (1.3, 70.0, 220.0),
            "Dipteryx": (1.3, 50.0, 180.0),
        },
        "weights": {
            "Pseudolmedia": 150,
            "Brosimum": 110,
            "Inga": 150,
            "Pouteria": 100,
            "Protium": 100,
            "Guarea": 90,
            "Sloanea": 70,
            "Iriartea": 30,
            "Attalea": 20,
            "Bertholletia": 6,
            "Ceiba": 4,
            "Dipteryx": 4,
            "Indet": 30,
            "": 20,
        },
        "density_sd": 0.20,
    },
    "palm_swamp": {
        "common": (0.95, 8.0, 100.0),
        "emergent": {},
        "weights": {
            "Mauritia": 560,
            "Euterpe": 80,
            "Virola": 80,
            "Symphonia": 70,
            "Tabebuia": 40,
            "Ficus": 30,
            "Attalea": 20,
            "Indet": 30,
            "": 20,
        },
        "density_sd": 0.20,
    },
}
N_REFERENCE_STEMS = 1_000_000  # calibration sample per stratum

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
LOSS_TOTAL_TOL = 0.03  # 2001-2016 loss total within 3%
LOSS_YEAR_TOL = 0.10  # 2015 and 2016 each within 10%


# --------------------------------------------------------------------------- #
# Loss map and accuracy assessment: drawn as maps by generate_maps.py, which
# imports them into map_areas.csv and accuracy_sample.csv with reddsim itself.
# --------------------------------------------------------------------------- #
# Accuracy stream: numpy.random.default_rng([SEED, ACCURACY_KEY]), independent of
# the main and tree streams (so none of their draws shift): each year's user's
# accuracy, then each year's omission (generate_maps.py).
ACCURACY_KEY = 0xACC
# User's accuracy of the loss class (share of mapped loss that is true loss):
# Beta(440, 60) per year, mean 0.88, SD ~0.015 -- ~12% commission (assumption,
# typical of annual Landsat loss maps in humid tropics).
UA_LOSS_BETA = (440.0, 60.0)
# Omission: share of the true loss that the map misses, Beta(150, 850) per year,
# mean 0.15, SD ~0.011 (assumption).
OMISSION_BETA = (150.0, 850.0)
# Share of the omitted loss at the edges of mapped clearings, hence in the buffer
# stratum (the rest: small clearings the map misses whole): 0.85 (assumption).
BUFFER_OMISSION_SHARE = 0.85
# Sample points per stratum and year (Olofsson et al. 2014: allocation favouring
# the rare classes rather than proportional to area; 400 points a year).
SAMPLE_SIZE = {"buffer": 100, "loss": 100, "stable_forest": 200}
# Map-based estimates must stay near the published figures: the 2001-2016 total
# of the stratified estimates within 5% of 162,573 ha (acceptance check of
# generate_maps.py; it stops otherwise).
EST_TOTAL_TOL = 0.05


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
# Main stream: legacy plot numbers, deforestation, leakage
# --------------------------------------------------------------------------- #
def draw_legacy_plot_numbers(rng: np.random.Generator) -> None:
    """Consume exactly the numbers the earlier plot-level version drew first.

    That version drew, per stratum in the order of STRATUM_AREA_HA, n standard
    normals (true plot AGB), n U(0.08, 0.15) (relative SD) and n standard normals
    (measurement error). The numbers are discarded; drawing them keeps the state of
    the main stream, hence deforestation.csv and leakage_belt.csv, unchanged.
    """
    for stratum in STRATUM_AREA_HA:
        n = N_PLOTS[stratum]
        rng.standard_normal(n)
        rng.uniform(0.08, 0.15, size=n)
        rng.standard_normal(n)


def draw_deforestation(rng: np.random.Generator) -> tuple[list[tuple], dict[int, float]]:
    """The former deforestation.csv rows, and the TRUE loss of each year (ha).

    The true loss F_t r_t is what the maps and accuracy sample are generated from
    (generate_maps.py); the draws and the rows are those of the earlier
    versions of this script.
    """
    years = DEFOR_YEARS
    h = highway_covariate(years)
    eps = rng.standard_normal(years.size)
    rate = np.exp(DEFOR_A + DEFOR_B * (years - years[0]) + DEFOR_C * h + DEFOR_SIGMA * eps)
    rel_se = rng.uniform(*LOSS_REL_SE_RANGE, size=years.size)
    meas = rng.standard_normal(years.size)
    rows = []
    truth = {}
    forest = FOREST_AREA_2001_HA
    for i, year in enumerate(years):
        true_loss = forest * rate[i]
        se = rel_se[i] * true_loss
        obs = true_loss + se * meas[i]
        rows.append((int(year), round(forest, 1), round(obs, 1), round(se, 1)))
        truth[int(year)] = float(true_loss)
        forest -= true_loss
    return rows, truth


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


def stratified_loss_estimate(areas: list[tuple], sample: list[tuple]) -> dict[int, tuple]:
    """Stratified estimator of each year's loss area and its SE (ha).

    area_loss = sum_h A_h n_h,loss / n_h,
    SE = sqrt(sum_h A_h^2 p_h (1 - p_h) / (n_h - 1)), p_h = n_h,loss / n_h
    (Olofsson et al. 2013, 2014; Stehman 2014 for strata other than map classes).
    """
    count = {(y, h, c): k for y, h, c, k in sample}
    est: dict[int, tuple] = {}
    for year, stratum, a in areas:
        n = count[(year, stratum, "loss")] + count[(year, stratum, "forest")]
        p = count[(year, stratum, "loss")] / n
        e, v = est.get(year, (0.0, 0.0))
        est[year] = (e + a * p, v + a * a * p * (1.0 - p) / (n - 1))
    return {y: (e, math.sqrt(v)) for y, (e, v) in est.items()}


def loss_summary(defor: list[tuple]) -> dict[str, float]:
    by_year = {r[0]: r[2] for r in defor}
    return {
        "total_2001_2016": sum(v for y, v in by_year.items() if 2001 <= y <= 2016),
        "y2015": by_year[2015],
        "y2016": by_year[2016],
        "y2017": by_year[2017],
    }


def deforestation_matches(loss: dict[str, float]) -> bool:
    return (
        abs(loss["total_2001_2016"] / PUB_LOSS_2001_2016_HA - 1.0) <= LOSS_TOTAL_TOL
        and abs(loss["y2015"] / PUB_LOSS_2015_HA - 1.0) <= LOSS_YEAR_TOL
        and abs(loss["y2016"] / PUB_LOSS_2016_HA - 1.0) <= LOSS_YEAR_TOL
        and loss["y2017"] > PUB_LOSS_2017_MIN_HA
    )


# --------------------------------------------------------------------------- #
# Tree stream
# --------------------------------------------------------------------------- #
def feldpausch_height(d: np.ndarray) -> np.ndarray:
    return FELD_A * (1.0 - np.exp(-FELD_B * d**FELD_C))


def chave2014_agb_kg(rho: np.ndarray, d: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Chave et al. (2014) Eq. 4 (kg)."""
    return 0.0673 * (rho * d**2 * h) ** 0.976


def true_agb_kg(genus: np.ndarray, rho: np.ndarray, d: np.ndarray, h: np.ndarray) -> np.ndarray:
    """True stem AGB (kg): Goodman et al. (2013) for palms, Chave Eq. 4 for the others."""
    palm = np.array([GENUS_TAXA.get(str(x), ("",))[0] == "Arecaceae" for x in genus], dtype=bool)
    palm_agb = np.exp(GOODMAN_A + GOODMAN_B * np.log(d) + GOODMAN_RSE**2 / 2)
    return np.where(palm, palm_agb, chave2014_agb_kg(np.where(palm, 1.0, rho), d, h))


def gwdd_means() -> tuple[dict, dict]:
    """Species and genus mean wood density of the committed GWDD subset."""
    species, by_genus = {}, {}
    with GWDD_TABLE.open(newline="", encoding="utf-8") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        for r in rows:
            wd = float(r["wood_density"])
            species[r["genus"], r["species"]] = wd
            by_genus.setdefault(r["genus"], []).append(wd)
    return species, {g: sum(v) / len(v) for g, v in by_genus.items()}


GWDD_SPECIES, GWDD_GENUS = gwdd_means()


def plot_design() -> list[tuple[str, str, float, float, float]]:
    """(plot_id, stratum, area_ha, subplot_area_ha, subplot_max_dbh_cm), in stratum order."""
    rows = []
    for stratum in STRATUM_AREA_HA:
        n, n_half = N_PLOTS[stratum], N_HALF_HA_PLOTS[stratum]
        n_full = n - n_half
        n_nested = n_full - N_UNNESTED_1HA_PLOTS[stratum]
        for i in range(n):
            pid = f"LA-{PLOT_PREFIX[stratum]}-{i + 1:02d}"
            if i < n_nested:
                rows.append((pid, stratum, 1.0, NESTED_SUBPLOT_HA, NESTED_MAX_DBH_CM))
            elif i < n_full:
                rows.append((pid, stratum, 1.0, 1.0, D_MIN_CM))
            else:
                rows.append((pid, stratum, 0.5, 0.5, D_MIN_CM))
    return rows


def _genus_table(stratum: str) -> tuple[list[str], np.ndarray]:
    weights = STRATUM_TREES[stratum]["weights"]
    names = list(weights)
    p = np.array([weights[g] for g in names], dtype=float)
    return names, p / p.sum()


def draw_stems(rng: np.random.Generator, stratum: str, n: int):
    """n stems of a stratum: (genus, species, D cm, true H m, true rho g/cm3).

    D and H are rounded to 0.1 (the written values are the true ones).
    """
    spec = STRATUM_TREES[stratum]
    names, p = _genus_table(stratum)
    g = rng.choice(len(names), size=n, p=p)
    u_d = rng.random(n)
    u_h = rng.random(n)
    z_h = rng.standard_normal(n)
    z_rho = rng.standard_normal(n)
    # Weibull law per genus (common or emergent); palms overwritten below.
    shape = np.empty(len(names))
    scale = np.empty(len(names))
    dmax = np.empty(len(names))
    for j, name in enumerate(names):
        shape[j], scale[j], dmax[j] = spec["emergent"].get(name, spec["common"])
    k, lam, top = shape[g], scale[g], dmax[g]
    f_max = 1.0 - np.exp(-(((top - D_MIN_CM) / lam) ** k))
    d = D_MIN_CM + lam * (-np.log1p(-u_d * f_max)) ** (1.0 / k)
    d = np.round(d, 1)
    h = np.clip(feldpausch_height(d) + FELD_RSE_M * z_h, *H_BOUNDS_M)
    for j, name in enumerate(names):
        if name in PALM_DIMENSIONS:
            dlo, dhi, hlo, hhi = PALM_DIMENSIONS[name]
            m = g == j
            d[m] = np.round(dlo + (dhi - dlo) * u_d[m], 1)
            h[m] = hlo + (hhi - hlo) * u_h[m]
    h = np.round(h, 1)
    # Species within the genus (equal probability); unidentified stems have none.
    u_sp = rng.random(n)
    species = np.array(
        [
            GENUS_TAXA[names[gi]][1][int(u * len(GENUS_TAXA[names[gi]][1]))]
            if names[gi] in GENUS_TAXA
            else ""
            for gi, u in zip(g.tolist(), u_sp.tolist(), strict=True)
        ],
        dtype=object,
    )
    # Wood density: species (else genus) mean of the GWDD subset + within-taxon
    # noise; unidentified stems -> regional N(0.598, 0.185) truncated
    # symmetrically (redraw outside). Palms have none (NaN).
    genus_names = np.array(names, dtype=object)[g]
    listed = np.array(
        [
            GWDD_SPECIES.get((gn, sp), GWDD_GENUS.get(gn, np.nan))
            for gn, sp in zip(genus_names.tolist(), species.tolist(), strict=True)
        ]
    )
    at_species = np.array(
        [
            (gn, sp) in GWDD_SPECIES
            for gn, sp in zip(genus_names.tolist(), species.tolist(), strict=True)
        ]
    )
    known = np.isfinite(listed)
    bad = ~known & (np.abs(z_rho) > WD_TRUNC_SD)
    while np.any(bad):
        z_rho[bad] = rng.standard_normal(int(bad.sum()))
        bad = ~known & (np.abs(z_rho) > WD_TRUNC_SD)
    within = np.where(at_species, WITHIN_SPECIES_WD_SD, WITHIN_GENUS_WD_SD)
    rho = np.where(
        known,
        np.clip(listed + within * z_rho, *WD_WRITTEN_BOUNDS),
        REGIONAL_WD_MEAN + REGIONAL_WD_SD * z_rho,
    )
    palm = np.array([GENUS_TAXA.get(x, ("",))[0] == "Arecaceae" for x in genus_names.tolist()])
    rho = np.where(palm, np.nan, rho)
    return genus_names, species, d, h, rho


def calibrate_stem_densities() -> dict[str, tuple[float, float]]:
    """Expected stems/ha (>= 10 cm) per stratum so that E[plot AGB] = stratum target.

    E[AGB/ha] = stems/ha x E[AGB per stem]; E[AGB per stem] is the mean of Chave
    Eq. 4 over a reference sample of N_REFERENCE_STEMS stems drawn with the fixed
    calibration stream. Returns {stratum: (stems per ha, relative MC SE)}.
    """
    targets = stratum_targets()
    out = {}
    for s_idx, stratum in enumerate(STRATUM_AREA_HA):
        rng = np.random.default_rng([SEED, CALIBRATION_KEY, s_idx])
        genus, _, d, h, rho = draw_stems(rng, stratum, N_REFERENCE_STEMS)
        agb = true_agb_kg(genus, rho, d, h) / 1000.0
        mean = float(agb.mean())
        rel_se = float(agb.std() / math.sqrt(agb.size) / mean)
        out[stratum] = (targets[stratum] / mean, rel_se)
    return out


def draw_trees(rng: np.random.Generator, design: list[tuple], stems_per_ha: dict[str, float]):
    """Tree rows and true plot AGB (Mg/ha) for every plot of the design."""
    trees = []
    plot_agb = {}
    for pid, stratum, area, sub_area, sub_max in design:
        s = STRATUM_TREES[stratum]["density_sd"]
        mult = math.exp(s * float(rng.standard_normal()) - 0.5 * s * s)  # mean one
        n = int(rng.poisson(stems_per_ha[stratum] * mult * area))
        genus, species, d, h, rho = draw_stems(rng, stratum, n)
        # Nested subplot: a stem below sub_max is in the subplot with probability
        # sub_area / area (stems are spread at random over the plot).
        in_sub = rng.random(n) < sub_area / area
        keep = (d >= sub_max) | in_sub
        p_h = np.minimum(P_H_MAX, P_H0 + P_H1 * (d - D_MIN_CM))
        h_measured = rng.random(n) < p_h
        identified = np.array([x not in UNIDENTIFIED for x in genus], dtype=bool)
        wd_measured = identified & (rng.random(n) < P_WD_MEASURED) & np.isfinite(rho)
        core = np.clip(rho + WD_CORE_SD * rng.standard_normal(n), *WD_WRITTEN_BOUNDS)
        wd_core = np.round(core, 3)
        ef = np.where(d < sub_max, 1.0 / sub_area, 1.0 / area)
        agb = true_agb_kg(genus, rho, d, h) * ef / 1000.0
        plot_agb[pid] = float(agb[keep].sum())
        j = 0
        for i in np.flatnonzero(keep):
            j += 1
            trees.append(
                (
                    pid,
                    f"{pid}-{j:04d}",
                    stratum,
                    float(d[i]),
                    float(h[i]) if h_measured[i] else None,
                    float(wd_core[i]) if wd_measured[i] else None,
                    str(genus[i]),
                    str(species[i]),
                    GENUS_TAXA[str(genus[i])][0] if str(genus[i]) in GENUS_TAXA else "",
                )
            )
    return trees, plot_agb


def stratum_plot_agb(design: list[tuple], plot_agb: dict[str, float]) -> dict[str, np.ndarray]:
    return {
        stratum: np.array([plot_agb[r[0]] for r in design if r[1] == stratum])
        for stratum in STRATUM_AREA_HA
    }


def between_plot_cv(vals: np.ndarray) -> float:
    return float(vals.std(ddof=1) / vals.mean())


def agb_total_mtco2(design: list[tuple], plot_agb: dict[str, float]) -> float:
    """Sum over strata of area x mean plot AGB x CF x 44/12, in MtCO2."""
    total = 0.0
    for stratum, area in STRATUM_AREA_HA.items():
        vals = [plot_agb[r[0]] for r in design if r[1] == stratum]
        total += area * (sum(vals) / len(vals)) * CARBON_FRACTION * CO2_PER_C
    return total / 1e6


def fmt(x: object, decimals: int) -> str:
    if x is None:
        return ""
    return f"{x:.{decimals}f}" if isinstance(x, float) else str(x)


def write_csv(path: Path, header: list[str], rows: list[tuple], decimals: list[int]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([fmt(v, d) for v, d in zip(row, decimals, strict=True)])


def main() -> None:
    # Main stream (fixed seed): legacy numbers, deforestation, leakage.
    rng = np.random.default_rng(SEED)
    draw_legacy_plot_numbers(rng)
    defor, truth = draw_deforestation(rng)
    belt = draw_leakage(rng)
    loss = loss_summary(defor)
    if not deforestation_matches(loss):
        raise SystemExit(f"seed {SEED}: the deforestation series no longer matches the figures")

    # Tree stream.
    design = plot_design()
    calib = calibrate_stem_densities()
    stems_per_ha = {s: v[0] for s, v in calib.items()}
    for key in range(FIRST_TREE_KEY, FIRST_TREE_KEY + MAX_TREE_KEYS):
        trees, plot_agb = draw_trees(np.random.default_rng([SEED, key]), design, stems_per_ha)
        agb = agb_total_mtco2(design, plot_agb)
        cvs = {s: between_plot_cv(v) for s, v in stratum_plot_agb(design, plot_agb).items()}
        if abs(agb / WINROCK_AGB_MTCO2 - 1.0) <= AGB_TOL and all(
            PLOT_CV_RANGE[0] <= cv <= PLOT_CV_RANGE[1] for cv in cvs.values()
        ):
            break
        print(
            f"tree stream [{SEED}, {key}]: rejected (AGB total {agb:.2f} MtCO2; between-plot CV "
            + ", ".join(f"{s} {100 * cv:.1f}%" for s, cv in cvs.items())
            + ")"
        )
    else:
        raise SystemExit(f"no acceptable tree stream in {MAX_TREE_KEYS} tries")

    out = Path(__file__).resolve().parent / "data"
    out.mkdir(exist_ok=True)
    write_csv(
        out / "plots.csv",
        ["plot_id", "stratum", "area_ha", "subplot_area_ha", "subplot_max_dbh_cm"],
        sorted(design),
        [0, 0, 2, 2, 1],
    )
    write_csv(
        out / "trees.csv",
        [
            "plot_id",
            "tree_id",
            "stratum",
            "dbh_cm",
            "height_m",
            "wood_density",
            "genus",
            "species",
            "family",
        ],
        sorted(trees, key=lambda r: r[1]),
        [0, 0, 0, 1, 1, 3, 0, 0, 0],
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
    print(
        f"main seed: {SEED} (fixed); tree stream: default_rng([{SEED}, {key}]) "
        f"({key - FIRST_TREE_KEY + 1} tried)"
    )
    print(
        "stratum  expected stems/ha (calibrated, MC rel. SE)  target AGB  realised mean AGB  "
        "between-plot CV  n plots  n trees  stems/ha (expanded)  stems >100 cm per ha"
    )
    for stratum in STRATUM_AREA_HA:
        pids = [r[0] for r in design if r[1] == stratum]
        vals = np.array([plot_agb[p] for p in pids])
        rows = [t for t in trees if t[2] == stratum]
        area_of = {r[0]: r[2] for r in design}
        sub_of = {r[0]: (r[3], r[4]) for r in design}
        expanded = sum(
            1.0 / (sub_of[t[0]][0] if t[3] < sub_of[t[0]][1] else area_of[t[0]]) for t in rows
        )
        total_area = sum(area_of[p] for p in pids)
        giants = sum(1 for t in rows if t[3] > 100.0)
        lam, rel = calib[stratum]
        print(
            f"  {stratum:12s} {lam:7.1f} ({100 * rel:.2f}%)  {targets[stratum]:7.2f}  "
            f"{vals.mean():7.2f}  {100 * vals.std(ddof=1) / vals.mean():5.1f}%  "
            f"{len(pids):3d}  {len(rows):6d}  {expanded / len(pids):6.1f}  "
            f"{giants / total_area:5.2f}"
        )
    n = len(trees)
    no_h = sum(1 for t in trees if t[4] is None)
    no_wd = sum(1 for t in trees if t[5] is None)
    unid = sum(1 for t in trees if t[6] in UNIDENTIFIED)
    palms = sum(1 for t in trees if t[8] == "Arecaceae")
    at_species = sum(1 for t in trees if t[5] is None and (t[6], t[7]) in GWDD_SPECIES)
    at_genus = sum(
        1 for t in trees if t[5] is None and (t[6], t[7]) not in GWDD_SPECIES and t[6] in GWDD_GENUS
    )
    print(
        f"trees: {n}; height missing {100 * no_h / n:.1f}%; wood density missing "
        f"{100 * no_wd / n:.1f}%; unidentified (Indet/empty) {100 * unid / n:.1f}%"
    )
    print(
        f"  without measured density: species in the GWDD subset {100 * at_species / n:.1f}%, "
        f"genus {100 * at_genus / n:.1f}%; palms (no density, palm allometry) "
        f"{100 * palms / n:.1f}%"
    )
    print(
        f"realised AGB total: {agb:.2f} MtCO2 (Winrock 2006: {WINROCK_AGB_MTCO2} MtCO2, "
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
    print(
        f"wrote {out}/plots.csv, trees.csv, deforestation.csv, leakage_belt.csv "
        "(map_areas.csv and accuracy_sample.csv: generate_maps.py)"
    )


if __name__ == "__main__":
    main()
