"""The posterior cache: what its key depends on, bit-identical reuse, refused entries."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from simulator.config import load_run, validate_config
from simulator.data import load_data
from simulator.inference import fit_models
from simulator.inference.cache import (
    CACHE_ENV,
    ENTRY_NAME,
    PosteriorCache,
    cache_root,
    key_content,
    posterior_key,
)
from tests.conftest import SMALL_SAMPLER, copy_run

# --------------------------------------------------------------------------- the key


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    run = copy_run(tmp_path_factory.mktemp("key") / "run", SMALL_SAMPLER)
    spec = load_run(run)
    return spec, load_data(spec)


def _edited(spec, **sections):
    """``spec`` with fields of its sections replaced (``section={"field": value}``)."""
    raw = spec.config.model_dump(mode="json")
    for section, fields in sections.items():
        raw[section].update(fields)
    return replace(spec, config=validate_config(raw, spec.path))


def test_the_key_ignores_settings_no_model_reads(base):
    spec, data = base
    key = posterior_key(spec, data)
    same = [
        _edited(spec, sampler={"allow_failed_diagnostics": False}),
        _edited(spec, deforestation={"compare_noise": not spec.config.deforestation.compare_noise}),
        _edited(spec, simulation={"n_draws": 9000, "chunk_size": 700}),
        _edited(spec, accounting={"buffer_pct": 25, "risk": None}),
        _edited(spec, crediting={"years": 5}),
        _edited(spec, sensitivity={"enabled": False}),
        _edited(spec, project={"name": "Another name"}),
    ]
    for other in same:
        assert posterior_key(other, data) == key


def test_the_key_follows_every_input_of_the_models(base):
    spec, data = base
    key = posterior_key(spec, data)
    cf = spec.config.biomass.carbon_fraction.model_dump()
    changed = [
        _edited(spec, sampler={"draws": 301}),
        _edited(spec, sampler={"tune": 301}),
        _edited(spec, sampler={"chains": 3}),
        _edited(spec, sampler={"target_accept": 0.91}),
        _edited(spec, simulation={"seed": spec.config.simulation.seed + 1}),
        _edited(spec, biomass={"n_monte_carlo": 101}),
        _edited(spec, biomass={"carbon_fraction": cf | {"sd": 0.03}}),
        _edited(spec, leakage={"belt_baseline_cv": 0.2}),
        _edited(spec, deforestation={"noise": "ar1"}),
    ]
    keys = {posterior_key(other, data) for other in changed}
    assert key not in keys and len(keys) == len(changed)
    # the content of a data file, and the strata names the models see
    edited = replace(data, sha256=data.sha256 | {"leakage_belt": "0" * 64})
    assert posterior_key(spec, edited) != key
    raw = spec.config.model_dump(mode="json")
    raw["project"]["strata"][0]["name"] = "renamed"
    renamed = replace(spec, config=validate_config(raw, spec.path))
    assert key_content(renamed, data)["strata"][0] == "renamed"
    assert posterior_key(renamed, data) != key


def test_the_cache_location_comes_from_the_environment(tmp_path):
    assert cache_root({CACHE_ENV: str(tmp_path)}) == tmp_path
    assert cache_root({CACHE_ENV: "off"}) is None and cache_root({CACHE_ENV: "OFF"}) is None
    assert cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "reddsim"
    assert cache_root({}) == Path.home() / ".cache" / "reddsim"
    assert PosteriorCache.from_environment({CACHE_ENV: "off"}) is None


def test_an_unwritable_cache_is_skipped_with_a_warning(tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    cache = PosteriorCache(blocker / "cache")
    tree = xr.DataTree.from_dict({"/posterior": xr.Dataset({"x": ("draw", np.arange(3.0))})})
    with caplog.at_level(logging.WARNING, logger="simulator.inference.cache"):
        with cache.lock("k" * 64):  # no lock to take: the block still runs
            hashes = cache.store("k" * 64, {}, {"biomass": tree}, None)
    assert hashes == {}
    assert "cannot write" in caplog.text and "goes on without it" in caplog.text
    assert cache.load("k" * 64, with_plots=False) is None


def test_what_a_killed_writer_left_is_removed_by_the_next_writer_of_its_key(tmp_path):
    cache = PosteriorCache(tmp_path / "cache")
    key, other = "a" * 64, "b" * 64
    left = cache.entries / f".incomplete-{key[:16]}-killed"
    kept = cache.entries / f".incomplete-{other[:16]}-running"
    for d in (left, kept):
        d.mkdir(parents=True)
        (d / "biomass.nc").write_bytes(b"half")
    tree = xr.DataTree.from_dict({"/posterior": xr.Dataset({"x": ("draw", np.arange(3.0))})})
    with cache.lock(key):
        assert cache.store(key, {}, {"biomass": tree}, None)
    assert not left.exists() and kept.exists()  # another key's writer is left alone
    assert sorted(p.name for p in cache.entries.iterdir() if not p.name.startswith(".")) == [key]
    assert cache.load_trees(key, ("biomass",)).trees["biomass"].posterior["x"].values.tolist() == [
        0.0,
        1.0,
        2.0,
    ]


# --------------------------------------------------------------------------- reuse


def _outputs(run_dir: Path) -> dict[str, bytes]:
    files = sorted((run_dir / "tables").glob("*")) + [run_dir / "summary.nc"]
    return {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def cold_and_warm(tmp_path_factory):
    """The same run from an empty cache and again from the entry the first one stored."""
    from simulator.orchestration.pipeline import run

    where = tmp_path_factory.mktemp("reuse")
    run_dir = copy_run(where / "run", SMALL_SAMPLER)
    spec = load_run(run_dir)
    cache = where / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(cache))
        cold = run(spec, where / "out").out_dir
        warm = run(spec, where / "out").out_dir
    return spec, cache, cold, warm


def test_a_warm_cache_gives_bit_identical_outputs(cold_and_warm):
    spec, cache, cold, warm = cold_and_warm
    a = json.loads((cold / "manifest.json").read_text())["posterior_cache"]
    b = json.loads((warm / "manifest.json").read_text())["posterior_cache"]
    assert a["hit"] is False and b["hit"] is True and a["enabled"] and b["enabled"]
    assert a["key"] == b["key"] == posterior_key(spec, load_data(spec))
    assert a["sha256"] == b["sha256"] and set(a["sha256"]) == {
        "biomass.nc",
        "deforestation.nc",
        "leakage.nc",
        "plots.npz",
    }
    entry = json.loads((cache / "posteriors" / a["key"] / ENTRY_NAME).read_text())
    assert entry["key"] == a["key"] and entry["sha256"] == a["sha256"]
    assert _outputs(cold) == _outputs(warm)
    assert len(_outputs(cold)) > 5
    cold_m = json.loads((cold / "manifest.json").read_text())
    warm_m = json.loads((warm / "manifest.json").read_text())
    assert cold_m["diagnostics"] == warm_m["diagnostics"]
    # every part computed from the posteriors was reused too, from its own entry
    parts = set(cold_m["cache_parts"])
    assert (
        parts == set(warm_m["cache_parts"]) >= {"error_budget", "replicates", "prior_sensitivity"}
    )
    for name in parts:
        c, w = cold_m["cache_parts"][name], warm_m["cache_parts"][name]
        assert (c["hit"], w["hit"]) == (False, True) and c["key"] == w["key"], name
        assert c["sha256"] == w["sha256"] and (cache / "posteriors" / c["key"]).is_dir(), name


def _entry_copy(cold_and_warm, tmp_path) -> tuple[PosteriorCache, str, Path]:
    """A copy of the reuse test's cache, its key and the entry's directory."""
    spec, cache, cold, _ = cold_and_warm
    key = json.loads((cold / "manifest.json").read_text())["posterior_cache"]["key"]
    shutil.copytree(cache, tmp_path / "cache")
    return PosteriorCache(tmp_path / "cache"), key, tmp_path / "cache" / "posteriors" / key


def _posteriors_equal(a: dict, b: dict) -> None:
    for name in a:
        # the same draws (the attributes say when and how long each was sampled)
        xr.testing.assert_equal(a[name].posterior.to_dataset(), b[name].posterior.to_dataset())


def test_a_tampered_entry_is_refused_resampled_and_replaced(cold_and_warm, tmp_path, caplog):
    spec, original, _, _ = cold_and_warm
    cache, key, entry = _entry_copy(cold_and_warm, tmp_path)
    nc = entry / "leakage.nc"
    content = bytearray(nc.read_bytes())
    content[len(content) // 2] ^= 0xFF  # one byte flipped
    nc.write_bytes(bytes(content))
    data = load_data(spec)
    with caplog.at_level(logging.WARNING, logger="simulator.inference.cache"):
        fresh = fit_models(spec, data, cache=cache)
    assert "leakage.nc does not match its recorded SHA-256" in caplog.text
    assert fresh.cache.hit is False and fresh.cache.sha256
    # sampled afresh to the same draws, and the entry replaced by a whole one
    _posteriors_equal(fresh.trees, PosteriorCache(original).load(key, with_plots=True).trees)
    replaced = json.loads((entry / ENTRY_NAME).read_text())["sha256"]
    assert replaced == fresh.cache.sha256
    again = fit_models(spec, data, cache=cache)
    assert again.cache.hit is True and again.diagnostics == fresh.diagnostics


def test_a_stale_entry_is_refused_resampled_and_replaced(cold_and_warm, tmp_path, caplog):
    spec, _, _, _ = cold_and_warm
    cache, key, entry = _entry_copy(cold_and_warm, tmp_path)
    meta = json.loads((entry / ENTRY_NAME).read_text())
    meta["key"] = "f" * 64  # an entry moved under another key's name
    (entry / ENTRY_NAME).write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING, logger="simulator.inference.cache"):
        fresh = fit_models(spec, load_data(spec), cache=cache)
    assert "a stale entry" in caplog.text and fresh.cache.hit is False
    assert json.loads((entry / ENTRY_NAME).read_text())["key"] == key


def test_verify_samples_afresh_and_reproduces_a_run_from_the_cache(cold_and_warm, monkeypatch):
    from simulator.orchestration import pipeline
    from simulator.orchestration.verify import verify

    _, _, _, warm = cold_and_warm

    def no_cache(*args, **kwargs):
        raise AssertionError("verify read the posterior cache")

    monkeypatch.setattr(pipeline.PosteriorCache, "from_environment", no_cache)
    result = verify(warm)
    assert result.identical and result.compared


# --------------------------------------------------------------------------- a model alone


def _flip_a_byte(path: Path) -> None:
    """Edit one bit in the middle of ``path`` (its SHA-256 changes, its size does not)."""
    edited = bytearray(path.read_bytes())
    edited[len(edited) // 2] ^= 1
    path.write_bytes(bytes(edited))


def test_the_noise_comparisons_other_fit_is_reused_bit_for_bit(base, tmp_path, caplog):
    from simulator.analysis.noise_choice import other_noise
    from simulator.inference.fit import fit_rate_variant

    spec, data = base
    settings = other_noise(spec.config)
    cache = PosteriorCache(tmp_path / "cache")
    fresh, none = fit_rate_variant(spec, data, settings)
    first, miss = fit_rate_variant(spec, data, settings, cache)
    again, hit = fit_rate_variant(spec, data, settings, cache)
    assert (none.enabled, miss.hit, hit.hit) == (False, False, True)
    assert none.key == miss.key == hit.key and miss.sha256 == hit.sha256
    # its own key: not the run's posterior key, nor the run's with the other noise
    assert hit.key not in {
        posterior_key(spec, data),
        posterior_key(_edited(spec, deforestation={"noise": settings.noise}), data),
    }
    for tree in (first, again):
        for v in fresh.posterior.data_vars:
            assert np.array_equal(tree.posterior[v].values, fresh.posterior[v].values), v
    # an edited file is refused, sampled afresh and replaced
    _flip_a_byte(cache.entries / hit.key / "deforestation.nc")
    with caplog.at_level(logging.WARNING, logger="simulator.inference.cache"):
        redone, record = fit_rate_variant(spec, data, settings, cache)
    assert "does not match its recorded SHA-256" in caplog.text and not record.hit
    assert np.array_equal(redone.posterior["a"].values, fresh.posterior["a"].values)


def test_the_error_budget_is_reused_bit_for_bit(base, tmp_path, caplog):
    from simulator.inference import biomass_error_budget, cached_error_budget
    from simulator.inference.fit import BUDGET_NAME

    spec, data = base
    posteriors = fit_models(spec, data, cache=PosteriorCache.from_environment())
    fresh = biomass_error_budget(spec, posteriors)
    cache = PosteriorCache(tmp_path / "cache")
    first, miss = cached_error_budget(spec, data, posteriors, cache)
    again, hit = cached_error_budget(spec, data, posteriors, cache)
    assert (miss.hit, hit.hit) == (False, True) and miss.key == hit.key
    assert hit.key != posterior_key(spec, data)
    for budget in (first, again):
        assert list(budget) == list(fresh)
        for k in fresh:
            assert np.array_equal(budget[k], fresh[k]), k
    _flip_a_byte(cache.entries / hit.key / BUDGET_NAME)
    with caplog.at_level(logging.WARNING, logger="simulator.inference.cache"):
        redone, record = cached_error_budget(spec, data, posteriors, cache)
    assert "does not match its recorded SHA-256" in caplog.text and not record.hit
    assert all(np.array_equal(redone[k], fresh[k]) for k in fresh)


def test_the_predictive_replicates_are_reused_bit_for_bit(base, tmp_path):
    from simulator.inference.fit import cached_replicates, posterior_replicates

    spec, data = base
    posteriors = fit_models(spec, data, cache=PosteriorCache.from_environment())
    fresh = posterior_replicates(spec, data, posteriors)
    assert set(fresh) == {"biomass", "leakage"}
    size = posteriors.trees["biomass"].posterior.sizes
    n_plots = posteriors.plots.mean.size
    assert fresh["biomass"].shape == (size["chain"] * size["draw"], n_plots)
    cache = PosteriorCache(tmp_path / "cache")
    first, miss = cached_replicates(spec, data, posteriors, cache)
    again, hit = cached_replicates(spec, data, posteriors, cache)
    assert (miss.hit, hit.hit) == (False, True) and miss.key == hit.key
    for reps in (first, again):
        assert all(np.array_equal(reps[k], fresh[k]) for k in fresh)
    # another seed draws other replicates, under another key
    other = _edited(spec, simulation={"seed": spec.config.simulation.seed + 1})
    moved, record = cached_replicates(other, data, fit_models(other, data), cache)
    assert record.key != hit.key and not record.hit
    assert not np.array_equal(moved["leakage"], fresh["leakage"])


def test_the_prior_sensitivity_is_reused_only_under_the_same_settings(base, tmp_path):
    from simulator.analysis.prior_sensitivity import cached_prior_sensitivity, prior_sensitivity
    from simulator.inference import kernel_inputs

    spec, data = base
    posteriors = fit_models(spec, data, cache=PosteriorCache.from_environment())
    inputs = kernel_inputs(spec, data, posteriors)
    fresh = prior_sensitivity(spec, inputs)
    cache = PosteriorCache(tmp_path / "cache")
    first, miss = cached_prior_sensitivity(spec, data, inputs, cache)
    again, hit = cached_prior_sensitivity(spec, data, inputs, cache)
    assert (miss.hit, hit.hit) == (False, True)
    assert _same_rows(first, fresh) and _same_rows(again, fresh)
    # a setting no model reads still changes the credits of every case: not reused
    other = _edited(spec, accounting={"buffer_pct": 25.0, "risk": None})
    rows, record = cached_prior_sensitivity(other, data, inputs, cache)
    assert record.key != hit.key and not record.hit
    assert _same_rows(rows, prior_sensitivity(other, inputs)) and not _same_rows(rows, fresh)


def _same_rows(a: list[dict], b: list[dict]) -> bool:
    """Rows equal value for value, bit for bit (NaN equal to NaN)."""
    return [list(r) for r in a] == [list(r) for r in b] and all(
        x[k] == y[k] if isinstance(x[k], str) else np.array_equal(x[k], y[k], equal_nan=True)
        for x, y in zip(a, b, strict=True)
        for k in x
    )
