"""Data files: bad values are errors naming file, row, column and value; nothing is dropped."""

import numpy as np
import pytest

from simulator.config import load_config
from simulator.data import load_data
from simulator.errors import DataError
from tests.conftest import LOS_AMIGOS, copy_run


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
            "LA-BB-01,bamboo,1.0,214.14",
            "LA-BB-01,bamboo,1.0,-214.14",
            "row 2, column agb_mg_ha = '-214.14': must be > 0",
        ),
        (
            "plots",
            "LA-BB-01,bamboo,1.0,214.14",
            "LA-BB-01,bamboo,1.0,abc",
            "row 2, column agb_mg_ha = 'abc': not a number",
        ),
        ("plots", "LA-BB-01,bamboo", "LA-BB-01,bambo", "column stratum = 'bambo': not a stratum"),
        ("plots", "LA-BB-02,", "LA-BB-01,", "plot_id = 'LA-BB-01': duplicated plot id"),
        (
            "plots",
            "agb_sd_mg_ha",
            "agb_sd",
            "missing column(s) agb_sd_mg_ha; unknown column(s) agb_sd",
        ),
        ("deforestation", "2003,", "2033,", "years must be consecutive"),
        ("deforestation", "2001,7950000.0,5294.0", "2001,7950000.0,nan", "must be finite"),
        ("leakage_belt", "2013,551.8", "2013,-551.8", "column avoided_ha = '-551.8': must be >= 0"),
    ],
)
def test_bad_data_is_named(tmp_path, name, old, new, expected):
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


def test_stratum_without_plots(tmp_path):
    run = copy_run(tmp_path / "run")
    path = run / "data" / "plots.csv"
    lines = [ln for ln in path.read_text().splitlines() if ",palm_swamp," not in ln]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="no plots for stratum palm_swamp"):
        load_data(load_config(run))
