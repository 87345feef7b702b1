"""The shared tree-level factor reaches the stratum posterior as a common factor."""

import numpy as np
import xarray as xr

from simulator.inference import PlotBiomass, apply_shared_factor


def test_shared_ratio_and_its_application():
    gen = np.random.default_rng(0)
    n = 500
    common = np.exp(gen.normal(0, 0.02, n))  # one factor per iteration, all plots
    shared = np.array([[300.0], [320.0], [150.0]]) * common
    inv = type("Inv", (), {"plot_stratum": np.array(["a", "a", "b"])})()
    pb = PlotBiomass(inv, None, shared, independent=shared, shared=shared)
    ratio = pb.shared_ratio(["a", "b"])
    assert ratio.shape == (n, 2)
    np.testing.assert_allclose(ratio.mean(axis=0), 1.0)
    np.testing.assert_allclose(ratio[:, 0], ratio[:, 1])  # the same factor in both strata
    post = xr.Dataset(
        {
            "carbon_tco2e_ha": (("chain", "draw", "stratum"), np.full((2, 300, 2), 500.0)),
            "agb_mg_ha": (("chain", "draw", "stratum"), np.full((2, 300, 2), 250.0)),
            "tau": (("chain", "draw", "stratum"), np.full((2, 300, 2), 0.2)),
        },
        coords={"chain": [0, 1], "draw": np.arange(300), "stratum": ["a", "b"]},
    )
    tree = apply_shared_factor(xr.DataTree.from_dict({"posterior": post}), ratio)
    carbon = tree.posterior["carbon_tco2e_ha"].values.reshape(-1, 2)
    np.testing.assert_allclose(carbon, 500.0 * ratio[np.arange(600) % n])
    np.testing.assert_allclose(tree.posterior["tau"].values, 0.2)  # free parameters untouched
    assert "shared_factor" in tree.posterior
