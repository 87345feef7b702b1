"""The rate model's process noise, iid or AR(1), chosen by a predictive comparison (PSIS-LOO).

The run fits the rate model with its ``[deforestation].noise``; this stage fits the
other form on the same data, sampler and seed and compares the two by their
expected log pointwise predictive density, estimated by Pareto-smoothed importance
sampling leave-one-out cross-validation (Vehtari, Gelman & Gabry 2017, Stat. Comput.
27, 1413-1432) with ArviZ (``arviz.loo``, ``arviz.compare``). The AR(1) model's
likelihood does not factorise over years, so both models' pointwise terms are the
leave-one-out conditionals of the joint normal
(:func:`models.deforestation.pointwise_log_likelihood`; Bürkner, Gabry & Vehtari
2021). The comparison is reported; the run keeps the noise its configuration names.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from models import deforestation
from simulator.inference.fit import fit_rate_variant

__all__ = ["COLUMNS", "loo_tree", "other_noise", "compare_noise"]

#: Columns of ``tables/noise_comparison.csv``.
COLUMNS = ("noise", "used", "elpd_loo", "se", "p_loo", "elpd_diff", "diff_se", "pareto_k_max")


def loo_tree(tree: xr.DataTree, pointwise: np.ndarray) -> xr.DataTree:
    """The posterior with a ``log_likelihood`` group holding ``pointwise`` (chain, draw, year)."""
    post = tree.posterior.to_dataset()
    log_lik = xr.Dataset(
        {"log_hazard_obs": (("chain", "draw", "year"), pointwise)},
        coords={k: post.coords[k] for k in ("chain", "draw", "year") if k in post.coords},
    )
    return xr.DataTree.from_dict({"posterior": post, "log_likelihood": log_lik})


def other_noise(cfg):
    """The run's ``[deforestation]`` settings with the other noise form."""
    other = "ar1" if cfg.deforestation.noise == "iid" else "iid"
    return cfg.deforestation.model_copy(update={"noise": other})


def compare_noise(spec, data, posteriors, other_tree: xr.DataTree | None = None) -> list[dict]:
    """Compare the run's noise form with the other by PSIS-LOO; one row per form.

    ``other_tree``: the rate model's posterior with :func:`other_noise` (same data,
    sampler and seed; :func:`simulator.inference.fit.fit_rate_variant`); fitted here
    when not given. Rows (best first): ``noise``, ``used`` (the run's), ``elpd_loo``
    and its ``se``, ``p_loo``, ``elpd_diff`` from the best with its ``diff_se``, and
    the largest Pareto k (above 0.7 the estimate of that form is unreliable).
    """
    import arviz as az

    cfg = spec.config
    d = data.deforestation
    args = (d["year"], d["forest_area_ha"], d["loss_ha"], d["loss_se_ha"])
    used = cfg.deforestation.noise
    other_settings = other_noise(cfg)
    other = other_settings.noise
    if other_tree is None:
        other_tree, _ = fit_rate_variant(spec, data, other_settings)
    trees = {used: posteriors.trees["deforestation"], other: other_tree}
    settings = {used: cfg.deforestation, other: other_settings}
    loo = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ warns on high Pareto k: reported below
        for name, tree in trees.items():
            pointwise = deforestation.pointwise_log_likelihood(
                tree, *args, settings[name], d.get("loss_cov_ha2")
            )
            loo[name] = az.loo(loo_tree(tree, pointwise), pointwise=True)
        table = az.compare(loo, method="stacking", round_to="none")
    rows = []
    for name, row in table.iterrows():
        rows.append(
            {
                "noise": str(name),
                "used": str(name) == used,
                "elpd_loo": float(row["elpd"]),
                "se": float(row["se"]),
                "p_loo": float(row["p"]),
                "elpd_diff": float(row["elpd_diff"]),
                "diff_se": float(row["dse"]),
                "pareto_k_max": float(np.max(np.asarray(loo[str(name)].pareto_k))),
            }
        )
    return rows
