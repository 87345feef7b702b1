"""Display names: strata and parameters as the appendix shows them, code names kept apart."""

from __future__ import annotations

import hashlib
import json

from simulator.config import load_config
from simulator.report.labels import PARAMETERS, code_names, parameter_label, strata_labels
from tests.conftest import LOS_AMIGOS


def _spec():
    return load_config(LOS_AMIGOS / "run.toml")


def test_a_config_without_labels_keeps_the_digest_it_had_before_labels_existed():
    cfg = _spec().config
    bare = cfg.model_copy(
        update={
            "project": cfg.project.model_copy(
                update={"strata": [s.model_copy(update={"label": ""}) for s in cfg.project.strata]}
            )
        }
    )
    doc = bare.model_dump(mode="json")
    for s in doc["project"]["strata"]:
        del s["label"]  # the configuration as it was dumped before the field existed
    before = hashlib.sha256(
        json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert bare.digest() == before
    assert cfg.digest() != before  # a label given is part of the configuration


def test_strata_show_their_label_or_their_name_humanised():
    cfg = _spec().config
    labels = strata_labels(cfg)
    assert labels["terra_firme"] == "Terra firme" and labels["palm_swamp"].startswith("Palm swamp")
    unlabelled = cfg.project.strata[0].model_copy(update={"label": ""})
    one = cfg.project.model_copy(update={"strata": [unlabelled]})
    assert strata_labels(cfg.model_copy(update={"project": one})) == {"terra_firme": "Terra firme"}


def test_parameters_show_symbol_meaning_and_stratum():
    labels = {"terra_firme": "Terra firme"}
    assert parameter_label("tau[terra_firme]", labels) == PARAMETERS["tau"] + ", Terra firme"
    assert (
        parameter_label("mu_stratum[stable_forest]") == PARAMETERS["mu_stratum"] + ", Stable forest"
    )
    assert parameter_label("effectiveness").startswith("e, ")
    # a parameter without a display name keeps its code name rather than vanish
    assert parameter_label("new_thing[x]") == "new_thing, X"
    assert parameter_label("new_thing") == "new_thing"
    assert code_names(["a", "tau[terra_firme]"], labels) == [
        {"label": PARAMETERS["a"], "code": "a"},
        {"label": PARAMETERS["tau"] + ", Terra firme", "code": "tau[terra_firme]"},
    ]


def test_relabel_replaces_whole_code_names_only():
    from simulator.report.labels import relabel

    labels = {"bamboo": "Bamboo (Guadua)", "bamboo_swamp": "Bamboo swamp"}
    text = "bamboo: weibull; bamboo_swamp: log1; agb_bamboo and agb_bamboo_swamp; bamboozle"
    assert relabel(text, labels) == (
        "Bamboo (Guadua): weibull; Bamboo swamp: log1; biomass density of Bamboo (Guadua) "
        "and biomass density of Bamboo swamp; bamboozle"
    )
