"""run.toml validation: every problem named with file, field and value."""

import pytest

from simulator.config import load_config
from simulator.errors import ConfigError
from tests.conftest import LOS_AMIGOS, copy_run


def test_los_amigos_config_is_valid():
    spec = load_config(LOS_AMIGOS)
    cfg = spec.config
    assert cfg.accounting.standard == "VM0007-1.8"
    assert sum(s.area_ha for s in cfg.project.strata) == pytest.approx(145_700)
    assert spec.data_path("plots").is_file()
    assert len(cfg.digest()) == 64


def test_toml_file_and_directory_are_equivalent():
    assert load_config(LOS_AMIGOS).config == load_config(LOS_AMIGOS / "run.toml").config


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            {"buffer_pct = 15": "buffer_pc = 15"},
            "[accounting].buffer_pc: unknown key (did you mean 'buffer_pct'?)",
        ),
        (
            {"area_ha = 7285": "area_ha = -5"},
            "[project.strata[3]].area_ha = -5: Input should be greater than or equal to 0.01",
        ),
        (
            {'plots = "data/plots.csv"': 'plots = "data/nope.csv"'},
            "[data].plots = 'data/nope.csv': file not found",
        ),
        (
            {"buffer_pct = 15": "buffer_pct = 5", "risk = {": "# risk = {"},
            "AFOLU Non-Permanence Risk Tool v4.2 gives ratings from 12",
        ),
        (
            {'standard = "VM0007-1.8"': 'standard = "VM9999"'},
            "standard 'VM9999' is not one of ART-TREES-2.0, FCPF-CF, VCS-MR-4.4, VM0007-1.6, "
            "VM0007-1.8",
        ),
        ({"seed = 20260101": "seed = -1"}, "[simulation].seed = -1"),
        ({"years = 10": "years = 0"}, "[crediting].years = 0"),
        ({"schema_version = 1": "schema_version = 2"}, "schema_version = 2"),
        (
            {"highway_paving = [2006, 2011]": "highway_paving = [2011, 2006]"},
            "highway_paving must be [first, last]",
        ),
        (
            {"[deforestation]\n": '[deforestation]\nbaseline = "allocated"\n'},
            "needs a [deforestation.allocation] table",
        ),
    ],
)
def test_bad_config_is_named(tmp_path, edit, expected):
    run = copy_run(tmp_path / "run", edit)
    with pytest.raises(ConfigError) as info:
        load_config(run)
    message = str(info.value)
    assert expected in message
    assert str(run / "run.toml") in message
    assert "\n" not in message


def test_one_source_of_the_loss_series(tmp_path):
    both = copy_run(
        tmp_path / "both", {"[data]\n": '[data]\ndeforestation = "data/deforestation.csv"\n'}
    )
    with pytest.raises(ConfigError, match="either deforestation or map_areas"):
        load_config(both)
    half = copy_run(tmp_path / "half", {'accuracy_sample = "data/accuracy_sample.csv"\n': ""})
    with pytest.raises(
        ConfigError, match="needs deforestation, or both map_areas and accuracy_sample"
    ):
        load_config(half)


def test_all_problems_are_reported_at_once(tmp_path):
    run = copy_run(
        tmp_path / "run",
        {"buffer_pct = 15": "buffer_pct = 15\nbufer = 1", "area_ha = 7285": "area_ha = 0"},
    )
    message = str(pytest.raises(ConfigError, load_config, run).value)
    assert "bufer" in message and "area_ha = 0" in message


def test_invalid_toml_and_missing_file(tmp_path):
    run = copy_run(tmp_path / "run")
    (run / "run.toml").write_text("schema_version = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(run)
    with pytest.raises(ConfigError, match="no such run configuration"):
        load_config(tmp_path / "elsewhere")


def test_overrides_are_validated():
    spec = load_config(LOS_AMIGOS)
    assert spec.with_overrides(n_draws=500, seed=3).config.simulation.n_draws == 500
    assert spec.with_overrides(seed=3).config.digest() != spec.config.digest()
    with pytest.raises(ConfigError, match=r"\[simulation\].n_draws = 5"):
        spec.with_overrides(n_draws=5)
