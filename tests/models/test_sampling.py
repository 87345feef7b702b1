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
