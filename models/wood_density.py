"""Wood density of each tree from the Global Wood Density Database, with its uncertainty.

Lookup as BIOMASS <= 2.x ``getWoodDensity`` (Réjou-Méchain et al. 2017) with
``region = "SouthAmericaTrop"``: a tree's wood density is its species mean, else
its genus mean (mean of the genus's species means), else its family mean (mean of
the family's genus means), over the records of tropical South America
(``models/data/gwdd_south_america_tropical.csv``, derived by
``models/data/build_wood_density.py``). The region is preferred at each level: a
genus without a record in the region takes its mean over all regions
(``models/data/gwdd_world_genera.csv``, source ``genus_world``) before the
family level is tried (a genus mean predicts better than a family mean, Flores &
Coomes 2011), and a family without one its all-regions mean (``family_world``).
A tree not found at any level takes the
mean of the plot's trees that were (BIOMASS's stand mean), or, in a plot with
fewer than two such trees, the mean of the whole inventory (BIOMASS's dataset
mean). A measured density is kept.

Uncertainty:

* a looked-up tree deviates from its taxon mean by the within-taxon SD of the
  database (species 0.0708, genus 0.0941, family 0.1234 g/cm3; BIOMASS ``sd_10``,
  ``../shared/data/wood-density/within_taxon_sd.csv``), independently per tree;
* a fallback tree deviates from the plot (or inventory) mean by the SD between the
  trees that mean is taken over (independent per tree), and that mean itself is
  uncertain by its standard error, SD / sqrt(n): a **shared** error, drawn once
  per Monte Carlo iteration for all trees that use the same fallback mean
  (``fallback_group``), so it does not average out over trees.

References
----------
Zanne, A. E. et al. (2009). Global wood density database. Dryad,
doi:10.5061/dryad.234. Chave, J. et al. (2009). Towards a worldwide wood economics
spectrum. Ecology Letters 12, 351-366.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = [
    "WITHIN_TAXON_SD",
    "PALM_FAMILY",
    "WoodDensityTable",
    "WoodDensityAssignment",
    "load_wood_density_table",
    "assign_wood_density",
]

#: SD (g/cm3) of wood density within a species, genus and family (BIOMASS ``sd_10``).
WITHIN_TAXON_SD = {"species": 0.0708, "genus": 0.0941, "family": 0.1234}
#: The palm family: its stems use the palm allometry, not Chave Eq. 4.
PALM_FAMILY = "Arecaceae"
#: Species epithets that do not name a species.
_NOT_A_SPECIES = {"", "sp", "sp.", "spp", "spp.", "indet", "indet."}


@dataclass(frozen=True)
class WoodDensityTable:
    """Mean wood density (g/cm3) by species (genus, epithet), genus and family."""

    species: dict[tuple[str, str], float]
    genus: dict[str, float]
    family: dict[str, float]
    genus_family: dict[str, str]
    world_genus: dict[str, float] | None = None
    world_family: dict[str, float] | None = None


def _rows(name: str) -> list[dict]:
    text = resources.files("models").joinpath(f"data/{name}").read_text("utf-8")
    return list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))


def load_wood_density_table() -> WoodDensityTable:
    """The tropical South America GWDD table shipped with reddsim, with genus and family means."""
    rows = _rows("gwdd_south_america_tropical.csv")
    species: dict[tuple[str, str], float] = {}
    by_genus: dict[str, list[float]] = {}
    fam_of: dict[str, str] = {}
    for r in rows:
        wd = float(r["wood_density"])
        if r["species"].lower() not in _NOT_A_SPECIES:
            species[r["genus"], r["species"]] = wd
        by_genus.setdefault(r["genus"], []).append(wd)
        fam_of[r["genus"]] = r["family"]
    genus = {g: float(np.mean(v)) for g, v in by_genus.items()}
    by_family: dict[str, list[float]] = {}
    for g, wd in genus.items():
        by_family.setdefault(fam_of[g], []).append(wd)
    family = {f: float(np.mean(v)) for f, v in by_family.items()}
    world = _rows("gwdd_world_genera.csv")
    genus_family = {r["genus"]: r["family"] for r in world}
    genus_family.update(fam_of)
    world_genus = {r["genus"]: float(r["wood_density"]) for r in world}
    by_world_family: dict[str, list[float]] = {}
    for r in world:
        by_world_family.setdefault(r["family"], []).append(float(r["wood_density"]))
    world_family = {f: float(np.mean(v)) for f, v in by_world_family.items()}
    return WoodDensityTable(species, genus, family, genus_family, world_genus, world_family)


@dataclass(frozen=True)
class WoodDensityAssignment:
    """Each tree's wood density, its independent SD, its source and its shared fallback.

    Attributes
    ----------
    mean, sd : ndarray over trees (g/cm3)
    source : ndarray of str
        "measured", "species", "genus", "family", "genus_world", "family_world",
        "plot" or "inventory".
    family : ndarray of str
        The tree's family (given, else from its genus; "" if unknown).
    fallback_group : ndarray of int
        Index of the shared fallback mean the tree uses (-1: none).
    fallback_se : ndarray
        Standard error (g/cm3) of each fallback mean, shape (n_groups,).
    fallback_label : list of str
        What each fallback mean is ("plot P1", "inventory").
    """

    mean: np.ndarray
    sd: np.ndarray
    source: np.ndarray
    family: np.ndarray
    fallback_group: np.ndarray
    fallback_se: np.ndarray
    fallback_label: list


def assign_wood_density(
    measured,
    genus,
    species,
    tree_plot,
    table: WoodDensityTable,
    measured_sd: float = 0.0,
    given_sd=None,
    family=None,
    exclude=None,
) -> WoodDensityAssignment:
    """Wood density of every tree: measured, else species, genus, family, plot, inventory.

    Order: measured; species, genus of the region; genus of all regions; family of
    the region; family of all regions; plot mean; inventory mean.

    Parameters
    ----------
    measured : array over trees
        Measured (or given) wood density, NaN where none.
    genus, species : arrays of str
        Taxon names ("" where unknown).
    tree_plot : array of int
        Plot index of each tree (for the plot-mean fallback).
    table : WoodDensityTable
    measured_sd : float
        SD of a measured density where ``given_sd`` gives none.
    given_sd : array, optional
        SD of each given density (NaN: use ``measured_sd``).
    family : array of str, optional
        Family of each tree ("" where unknown: taken from the genus).
    exclude : bool array, optional
        Trees that need no wood density (palms, whose allometry has none); they
        take no part in the fallback means and get NaN.
    """
    measured = np.asarray(measured, dtype=float)
    genus = np.asarray(genus, dtype=str)
    species = np.asarray(species, dtype=str)
    tree_plot = np.asarray(tree_plot)
    n = measured.size
    fam = np.array(
        [
            f if f else table.genus_family.get(g, "")
            for f, g in zip(
                np.asarray(family, dtype=str) if family is not None else [""] * n,
                genus.tolist(),
                strict=True,
            )
        ],
        dtype=object,
    ).astype(str)
    skip = np.zeros(n, bool) if exclude is None else np.asarray(exclude, bool)
    mean = np.full(n, np.nan)
    sd = np.full(n, np.nan)
    source = np.full(n, "", dtype=object)
    given_sd = np.full(n, np.nan) if given_sd is None else np.asarray(given_sd, dtype=float)
    for i in range(n):
        if skip[i]:
            source[i] = "none"
            continue
        g, s = genus[i], species[i]
        if np.isfinite(measured[i]):
            mean[i] = measured[i]
            sd[i] = given_sd[i] if np.isfinite(given_sd[i]) else measured_sd
            source[i] = "measured"
        elif s.lower() not in _NOT_A_SPECIES and (g, s) in table.species:
            mean[i], sd[i], source[i] = table.species[g, s], WITHIN_TAXON_SD["species"], "species"
        elif g in table.genus:
            mean[i], sd[i], source[i] = table.genus[g], WITHIN_TAXON_SD["genus"], "genus"
        elif table.world_genus and g in table.world_genus:
            mean[i], sd[i] = table.world_genus[g], WITHIN_TAXON_SD["genus"]
            source[i] = "genus_world"
        elif fam[i] in table.family:
            mean[i], sd[i], source[i] = table.family[fam[i]], WITHIN_TAXON_SD["family"], "family"
        elif table.world_family and fam[i] in table.world_family:
            mean[i], sd[i] = table.world_family[fam[i]], WITHIN_TAXON_SD["family"]
            source[i] = "family_world"
    known = np.isfinite(mean)
    if not np.any(known) and not np.all(skip):
        raise ValueError("no tree has a measured wood density or a taxon in the database")
    group = np.full(n, -1, dtype=np.int64)
    se, labels = [], []
    missing = ~known & ~skip
    inventory_vals = mean[known]
    for p in np.unique(tree_plot[missing]):
        in_plot = tree_plot == p
        vals = mean[in_plot & known]
        todo = in_plot & missing
        if vals.size >= 2:
            mean[todo], sd[todo], source[todo] = vals.mean(), vals.std(ddof=1), "plot"
            group[todo] = len(se)
            se.append(vals.std(ddof=1) / np.sqrt(vals.size))
            labels.append(f"plot {p}")
    rest = missing & (group < 0)
    if np.any(rest):
        m, s = inventory_vals.mean(), inventory_vals.std(ddof=1)
        mean[rest], sd[rest], source[rest] = m, s, "inventory"
        group[rest] = len(se)
        se.append(s / np.sqrt(inventory_vals.size))
        labels.append("inventory")
    return WoodDensityAssignment(
        mean, sd, source.astype(str), fam, group, np.asarray(se, dtype=float), labels
    )
