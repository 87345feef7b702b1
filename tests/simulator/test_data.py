"""Data files: bad values are errors naming file, row, column and value; nothing is dropped."""

import numpy as np
import pytest

from simulator.config import load_config
from simulator.data import load_data
from simulator.errors import DataError
from tests.conftest import LOS_AMIGOS, SERIES_INPUT, copy_run


def test_los_amigos_data_load_whole():
    data = load_data(load_config(LOS_AMIGOS))
    lines = (LOS_AMIGOS / "data" / "plots.csv").read_text().strip().splitlines()
    assert len(data.plots["plot_id"]) == len(lines) - 1
    assert data.deforestation["year"][0] == 2001 and data.deforestation["year"][-1] == 2020
    assert np.all(data.deforestation["loss_se_ha"] > 0)


def _edit_csv(run, name, old, new):
    path = run / "data" / f"{name}.csv"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    [
        (
            "plots",
            "LA-BB-01,bamboo,1.00",
            "LA-BB-01,bamboo,-1.00",
            "row 2, column area_ha = '-1.00': must be >= 1e-4 (1 m2)",
        ),
        (
            "plots",
            "LA-BB-01,bamboo,1.00",
            "LA-BB-01,bamboo,abc",
            "row 2, column area_ha = 'abc': not a number",
        ),
        ("plots", "LA-BB-01,bamboo", "LA-BB-01,bambo", "column stratum = 'bambo': not a stratum"),
        ("plots", "LA-BB-02,", "LA-BB-01,", "plot_id = 'LA-BB-01': duplicated plot id"),
        (
            "plots",
            "LA-BB-01,bamboo,1.00,0.25",
            "LA-BB-01,bamboo,1.00,1.25",
            "row 2, column subplot_area_ha = 1.25: larger than area_ha",
        ),
        (
            "plots",
            "subplot_max_dbh_cm",
            "subplot_max",
            "missing column(s) subplot_max_dbh_cm; unknown column(s) subplot_max",
        ),
        (
            "trees",
            "LA-BB-01-0001,bamboo,41.3",
            "LA-BB-01-0001,bamboo,0",
            "row 2, column dbh_cm = '0': must be > 0 and <= 500 cm",
        ),
        (
            "trees",
            "LA-BB-01-0001,bamboo,41.3",
            "LA-BB-01-0001,bamboo,501",
            "column dbh_cm = '501': must be > 0 and <= 500 cm",
        ),
        (
            "trees",
            "LA-BB-01-0006,bamboo,20.4,18.9",
            "LA-BB-01-0006,bamboo,20.4,95",
            "row 7, column height_m = '95': must be 1.3-90 m",
        ),
        (
            "trees",
            "LA-BB-01-0006,bamboo,20.4,18.9",
            "LA-BB-01-0006,bamboo,20.4,1.0",
            "column height_m = '1.0': must be 1.3-90 m",
        ),
        (
            "trees",
            "bamboo,34.6,,0.740",
            "bamboo,18.9,,1.9",
            "row 5, column wood_density = '1.9': must be 0.1-1.5 g/cm3",
        ),
        (
            "trees",
            "LA-BB-01,LA-BB-01-0001",
            "LA-XX-99,LA-BB-01-0001",
            "row 2, column plot_id = 'LA-XX-99': not a plot of",
        ),
        (
            "trees",
            "LA-BB-01-0002,",
            "LA-BB-01-0001,",
            "tree_id = 'LA-BB-01-0001': duplicated tree id (also row 2)",
        ),
        (
            "trees",
            "LA-BB-01-0001,bamboo",
            "LA-BB-01-0001,floodplain",
            "plot LA-BB-01 is in stratum 'bamboo'",
        ),
        ("deforestation", "2003,", "2033,", "years must be consecutive"),
        ("deforestation", "2001,7950000.0,5294.0", "2001,7950000.0,nan", "must be finite"),
        ("leakage_belt", "2013,551.8", "2013,-551.8", "column avoided_ha = '-551.8': must be >= 0"),
    ],
)
def test_bad_data_is_named(tmp_path, name, old, new, expected):
    run = copy_run(tmp_path / "run", SERIES_INPUT if name == "deforestation" else None)
    path = _edit_csv(run, name, old, new)
    with pytest.raises(DataError) as info:
        load_data(load_config(run))
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_loss_series_from_the_map_and_its_sample():
    data = load_data(load_config(LOS_AMIGOS))
    assert data.accuracy is not None and len(data.accuracy) == 20
    first = data.accuracy[0]
    assert first.classes == ("loss", "forest") and "buffer" in first.strata
    # forest at the start of each year is the mapped total; the loss the rate model takes
    # is the series pooled across years (tests/models/test_rate_covariance.py), close to
    # the year's stratified estimate
    np.testing.assert_allclose(
        data.deforestation["forest_area_ha"][0], first.mapped_area.sum(), rtol=1e-12
    )
    assert data.deforestation["loss_ha"][0] == pytest.approx(first.area[0], rel=0.1)
    assert data.deforestation["loss_ha"][0] != first.area[0]
    assert np.all(data.deforestation["loss_se_ha"] > 0)
    assert data.deforestation["loss_cov_ha2"].shape == (20, 20)


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    [
        ("map_areas", "2001,buffer,", "2001,loss,", "year 2001: stratum 'loss' listed twice"),
        (
            "accuracy_sample",
            "2001,buffer,forest,97",
            "2001,bufer,forest,97",
            "column stratum = 'bufer': not a stratum",
        ),
        (
            "accuracy_sample",
            "2001,buffer,forest,97",
            "2001,buffer,forest,-97",
            "column count = '-97': must be >= 0",
        ),
        (
            "accuracy_sample",
            "2001,buffer,forest,97",
            "2001,buffer,trees,97",
            "column reference_class = 'trees': must be one of loss, forest",
        ),
        (
            "accuracy_sample",
            "2001,buffer,loss,3\n2001,buffer,forest,97",
            "2001,buffer,loss,0\n2001,buffer,forest,1",
            "year 2001: stratum 0 has fewer than 2 sample units",
        ),
    ],
)
def test_bad_accuracy_data_is_named(tmp_path, name, old, new, expected):
    run = copy_run(tmp_path / "run")
    path = _edit_csv(run, name, old, new)
    with pytest.raises(DataError) as info:
        load_data(load_config(run))
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_reference_period_must_precede_crediting(tmp_path):
    run = copy_run(tmp_path / "run", {"start_year = 2026": "start_year = 2015"})
    with pytest.raises(DataError, match="reference period must end before"):
        load_data(load_config(run))


def test_plot_without_trees(tmp_path):
    run = copy_run(tmp_path / "run")
    path = run / "data" / "trees.csv"
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("LA-BB-03,")]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="no trees for plot LA-BB-03"):
        load_data(load_config(run))


def test_empty_optional_cells_are_missing_values():
    data = load_data(load_config(LOS_AMIGOS))
    trees = data.trees
    assert np.isnan(trees["height_m"]).mean() > 0.5
    assert np.isnan(trees["wood_density"]).mean() > 0.5
    assert np.all(np.isfinite(trees["dbh_cm"]))


def test_stratum_without_plots(tmp_path):
    run = copy_run(tmp_path / "run")
    path = run / "data" / "plots.csv"
    lines = [ln for ln in path.read_text().splitlines() if ",palm_swamp," not in ln]
    path.write_text("\n".join(lines) + "\n")
    trees = run / "data" / "trees.csv"
    kept = [ln for ln in trees.read_text().splitlines() if ",palm_swamp," not in ln]
    trees.write_text("\n".join(kept) + "\n")
    with pytest.raises(DataError, match="no plots for stratum palm_swamp"):
        load_data(load_config(run))


def test_project_monitoring_file_is_read_and_checked(tmp_path):
    run = copy_run(
        tmp_path / "run",
        {
            'leakage_belt = "data/leakage_belt.csv"': (
                'leakage_belt = "data/leakage_belt.csv"\nproject_monitoring = "data/monitoring.csv"'
            )
        },
    )
    path = run / "data" / "monitoring.csv"
    path.write_text(
        "year,expected_loss_ha,observed_loss_ha,observed_se_ha\n2021,400,120,15\n2022,420,90,15\n"
    )
    data = load_data(load_config(run))
    assert data.project_monitoring["observed_loss_ha"].tolist() == [120.0, 90.0]
    path.write_text("year,expected_loss_ha,observed_loss_ha,observed_se_ha\n2021,400,120,0\n")
    with pytest.raises(DataError, match="column observed_se_ha = '0': must be > 0"):
        load_data(load_config(run))


def test_data_files_are_hashed_as_read(tmp_path):
    """The recorded SHA-256 is of the bytes parsed, not of the file later (edited mid-run)."""
    import hashlib

    run = copy_run(tmp_path / "run")
    belt = run / "data" / "leakage_belt.csv"
    original = hashlib.sha256(belt.read_bytes()).hexdigest()
    data = load_data(load_config(run))
    belt.write_text(belt.read_text().replace("2013,551.8", "2013,999.9", 1))
    assert data.sha256["leakage_belt"] == original
    assert float(data.leakage_belt["avoided_ha"][0]) == 551.8
    assert set(data.sha256) == set(load_config(run).config.data.files())
