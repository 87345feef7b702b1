"""Convergence diagnostics: a chain that never moves fails the gate instead of crashing."""

import numpy as np
import xarray as xr

from models.sampling import diagnose


def test_a_stuck_chain_fails_the_gate_without_a_warning():
    # filterwarnings = error (pyproject): ArviZ's RuntimeWarning would be an exception here
    post = xr.Dataset({"x": (("chain", "draw"), np.ones((2, 100)))})
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((2, 100), bool))})
    tree = xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})
    d = diagnose("m", tree, ["x"])
    assert np.isnan(d.max_r_hat) and not d.passed
    assert any("R-hat" in f for f in d.failures())


def test_chain_progress_goes_to_stderr_and_leaves_the_draws_unchanged(capsys):
    import pymc as pm

    from models.sampling import chain_progress, sample
    from models.settings import Sampler

    settings = Sampler(draws=100, tune=100, chains=2)
    with pm.Model() as model:
        pm.Normal("x", 1.0, 2.0)
    quiet = sample(model, settings, seed=4)
    assert capsys.readouterr().err == ""
    with chain_progress():
        shown = sample(model, settings, seed=4)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("draws/s") == 2  # a row per chain: draws, speed, time left
    assert np.array_equal(quiet.posterior["x"].values, shown.posterior["x"].values)
