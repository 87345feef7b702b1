"""The provenance file: its keys are the models' parameters, and Los Amigos states them all."""

from __future__ import annotations

from models import biomass, deforestation, leakage
from simulator.config import load_config
from simulator.data import load_data
from simulator.data.provenance import PRIOR_KEYS
from simulator.report.appendix import _priors
from tests.conftest import LOS_AMIGOS, copy_run


def test_prior_keys_are_the_models_free_parameters():
    models = (
        biomass.FREE_PARAMETERS
        + biomass.STOCK_FREE_PARAMETERS
        + deforestation.FREE_PARAMETERS
        + deforestation.ALLOCATION_PARAMETERS
        + leakage.FREE_PARAMETERS
    )
    assert set(PRIOR_KEYS) == set(models)


def test_los_amigos_states_a_source_and_reason_for_every_prior_and_its_scope():
    spec = load_config(LOS_AMIGOS)
    data = load_data(spec)
    rows = _priors(spec.config, data.provenance)
    missing = [r["name"] for r in rows if "not stated" in (r["source"], r["reason"])]
    assert not missing, missing
    assert data.provenance.scope is not None and len(data.provenance.magnitude) >= 10
    assert "provenance" in data.sha256  # hashed with the data, so `reddsim verify` checks it


def test_without_a_provenance_file_priors_say_not_stated(tmp_path):
    run = copy_run(tmp_path / "run", {'provenance = "provenance.toml"\n': ""})
    spec, full = load_config(run), load_config(LOS_AMIGOS)
    data = load_data(spec)
    assert data.provenance is None and "provenance" not in data.sha256
    assert {r["source"] for r in _priors(spec.config, None)} == {"not stated"}
    # a set provenance file is part of the configuration's identity
    assert spec.config.digest() != full.config.digest()
