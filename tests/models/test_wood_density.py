"""Wood-density lookup from the committed GWDD table: levels, SDs and shared fallbacks."""

import numpy as np
import pytest

from models.wood_density import WITHIN_TAXON_SD, assign_wood_density, load_wood_density_table


@pytest.fixture(scope="module")
def table():
    return load_wood_density_table()


def test_table_means_follow_the_database(table):
    # Bertholletia excelsa: 8 South American records in the GWDD, mean 0.624
    assert table.species["Bertholletia", "excelsa"] == pytest.approx(0.624, abs=0.002)
    # genus mean = mean of species means; family mean = mean of genus means
    dip = [v for (g, _), v in table.species.items() if g == "Dipteryx"]
    assert table.genus["Dipteryx"] == pytest.approx(np.mean(dip), abs=0.02)
    assert table.genus_family["Iriartea"] == "Arecaceae"


def test_levels_sds_and_shared_fallback(table):
    genus = np.array(["Bertholletia", "Dipteryx", "Nogenusus", "", "", "Inga", "", "Ceiba"])
    species = np.array(["excelsa", "notaspecies", "x", "", "", "", "", ""])
    family = np.array(["", "", "Fabaceae", "", "", "", "", ""])
    plot = np.array([0, 0, 0, 0, 1, 1, 1, 0])
    measured = np.array([np.nan] * 7 + [0.31])
    a = assign_wood_density(measured, genus, species, plot, table, 0.02, family=family)
    assert a.source.tolist() == [
        "species",
        "genus",
        "family",
        "plot",
        "inventory",
        "genus",
        "inventory",
        "measured",
    ]
    assert a.sd[0] == WITHIN_TAXON_SD["species"] and a.sd[1] == WITHIN_TAXON_SD["genus"]
    assert a.sd[2] == WITHIN_TAXON_SD["family"] and a.sd[7] == 0.02
    # plot 0's fallback is the mean of its four trees with a value, its SE is shared
    known0 = a.mean[[0, 1, 2, 7]]
    assert a.mean[3] == pytest.approx(known0.mean())
    assert a.fallback_se[a.fallback_group[3]] == pytest.approx(known0.std(ddof=1) / 2)
    # plot 1 has one tree with a value: its fallback trees share the inventory mean
    assert a.fallback_group[4] == a.fallback_group[6] != a.fallback_group[3]
    assert a.fallback_label[a.fallback_group[4]] == "inventory"


def test_palms_are_left_out(table):
    a = assign_wood_density(
        np.array([np.nan, np.nan, np.nan]),
        np.array(["Mauritia", "Inga", "Ceiba"]),
        np.array(["flexuosa", "", ""]),
        np.zeros(3, int),
        table,
        exclude=np.array([True, False, False]),
    )
    assert a.source[0] == "none" and np.isnan(a.mean[0])


def test_the_region_is_preferred_other_regions_fill_in(table):
    # Eucalyptus has no tropical South American record; its genus mean over all regions is used
    assert "Eucalyptus" not in table.genus and "Eucalyptus" in table.world_genus
    a = assign_wood_density(
        np.array([np.nan, np.nan]),
        np.array(["Eucalyptus", "Inga"]),
        np.array(["", ""]),
        np.zeros(2, int),
        table,
    )
    assert a.source.tolist() == ["genus_world", "genus"]
    assert a.mean[0] == pytest.approx(table.world_genus["Eucalyptus"])
    assert a.mean[1] == pytest.approx(table.genus["Inga"])  # not the all-regions Inga mean
