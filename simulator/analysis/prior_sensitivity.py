"""How much the credits depend on the priors the data do not inform: e, lambda, C_post.

The project's effectiveness ``e`` and the post-conversion carbon ``C_post`` have
no likelihood term in a run without project monitoring: their posterior *is*
their prior, and the kernel simulates them from i.i.d. prior draws
(:func:`simulator.inference.inputs.scenario_draws`). Another prior for them is
therefore simulated exactly by drawing from it instead. The leakage fraction
``lambda`` is updated by the belt data, weakly: another prior ``p'`` is applied
by importance weighting the posterior draws, ``w proportional to p'(lambda) /
p(lambda)`` (the likelihood is unchanged), and resampling them (systematic
resampling, seeded; Kitagawa 1996, J. Comput. Graph. Stat. 5:1). Each case
runs the kernel on the same seed (common random numbers) and is accounted
under the run's standard: mean and 90%/95% interval of total NER, the
uncertainty and the credits. The effective sample size of the weights is
reported; a small one means that prior is far from what the data allow.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import stats

from models import deforestation
from models.settings import BetaPrior
from simulator.accounting import account
from simulator.accounting.standards import STANDARDS
from simulator.engine.kernels import KernelInputs, simulate
from simulator.engine.streaming import period_totals

__all__ = [
    "COLUMNS",
    "MAX_DRAWS",
    "cases",
    "n_draws",
    "prior_sensitivity",
    "cached_prior_sensitivity",
]

#: Futures per case, at most (fewer when the run itself simulates fewer).
MAX_DRAWS = 200_000

#: File of a cache entry holding a run's prior-sensitivity numbers.
CACHE_NAME = "prior_sensitivity.npz"

#: The code a cached prior sensitivity depends on beyond the posteriors'.
PART_CODE = ("simulator/config", "simulator/engine", "simulator/accounting", "simulator/analysis")

#: Columns of ``tables/prior_sensitivity.csv``.
COLUMNS = (
    "parameter",
    "case",
    "prior",
    "weights_ess",
    "ner_mean",
    "ner_ci_low",
    "ner_ci_high",
    "uncertainty_pct",
    "credits",
    "credits_vs_run_pct",
)


def cases(cfg) -> list[tuple[str, str, str, object]]:
    """``(parameter, case, prior text, frozen scipy distribution)`` of each alternative."""
    e, lam = cfg.deforestation.effectiveness, cfg.leakage.displacement
    p = cfg.deforestation.post_conversion_tco2e_ha

    def effectiveness(alpha, beta, lower=0.0):
        return deforestation.effectiveness_prior(BetaPrior(alpha=alpha, beta=beta), lower)

    return [
        (
            "effectiveness",
            "run",
            f"Beta({e.alpha:g}, {e.beta:g}) on [{e.lower:g}, 1]",
            deforestation.effectiveness_prior(e),
        ),
        (
            "effectiveness",
            "own controls (1 - project/control)",
            "Beta(14, 5) on [0, 1]",
            effectiveness(14, 5),
        ),
        (
            "effectiveness",
            "sceptical (mean 0.3)",
            "Beta(2, 1.75) on [-0.5, 1]",
            effectiveness(2, 1.75, -0.5),
        ),
        (
            "displacement",
            "run",
            f"Beta({lam.alpha:g}, {lam.beta:g})",
            stats.beta(lam.alpha, lam.beta),
        ),
        ("displacement", "mean 0.05", "Beta(1, 19)", stats.beta(1, 19)),
        ("displacement", "mean 0.20", "Beta(4, 16)", stats.beta(4, 16)),
        (
            "post_conversion_tco2e_ha",
            "run",
            f"Gamma(mean {p.mean:g}, sd {p.sd:g})",
            deforestation.gamma_prior(p.mean, p.sd),
        ),
        (
            "post_conversion_tco2e_ha",
            "half",
            f"Gamma(mean {p.mean / 2:g}, sd {p.sd / 2:g})",
            deforestation.gamma_prior(p.mean / 2, p.sd / 2),
        ),
        (
            "post_conversion_tco2e_ha",
            "double",
            f"Gamma(mean {2 * p.mean:g}, sd {2 * p.sd:g})",
            deforestation.gamma_prior(2 * p.mean, 2 * p.sd),
        ),
    ]


def _systematic(weights: np.ndarray, gen: np.random.Generator) -> np.ndarray:
    """Systematic resampling: indices, as many as weights."""
    n = weights.size
    cum = np.cumsum(weights / weights.sum())
    cum[-1] = 1.0
    return np.searchsorted(cum, (gen.uniform() + np.arange(n)) / n)


def _total(inputs: KernelInputs, futures: int, seed: int, cfg, standard):
    """The whole-period row of the accounting of ``futures`` simulated futures of ``inputs``."""
    return account(
        period_totals(simulate(inputs, futures, seed)),
        standard,
        cfg.accounting.buffer_pct,
        cfg.crediting.start_year,
    ).sel(period="total")


def n_draws(cfg) -> int:
    """Futures per case: as many as the run simulates, at most :data:`MAX_DRAWS`.

    200,000 futures put a case's Monte Carlo error well below the differences between
    priors it is read for; a trial run with fewer futures than that simulates its
    cases with as many as itself, so it is not slowed by them.
    """
    return min(MAX_DRAWS, cfg.simulation.n_draws)


def prior_sensitivity(spec, inputs: KernelInputs) -> list[dict]:
    """One row per case of :func:`cases` (module docstring); the run's prior first per group.

    Each case simulates :func:`n_draws` futures.
    ``inputs`` are the run's kernel inputs. Effectiveness alternatives are only
    exact when it is prior-only (no project monitoring); with monitoring data they
    are importance weights on its posterior draws, as for the displacement.
    """
    cfg = spec.config
    standard = STANDARDS[cfg.accounting.standard]
    seed, futures = cfg.simulation.seed, n_draws(cfg)
    gen = np.random.default_rng([seed, 0x50524953])
    run_lam = cases(cfg)[3][3]
    rows, base_credits, run_total = [], {}, None
    for parameter, case, text, dist in cases(cfg):
        ess = float("nan")
        if parameter == "displacement":
            lam = inputs.leakage_fraction
            w = dist.pdf(lam) / np.maximum(run_lam.pdf(lam), 1e-300)
            ess = float(w.sum() ** 2 / np.sum(w**2))
            new = replace(inputs, leakage_fraction=lam[_systematic(w, gen)])
        elif parameter == "effectiveness":
            draws = dist.rvs(size=inputs.effectiveness.size, random_state=gen)
            new = replace(inputs, effectiveness=np.minimum(draws, np.nextafter(1.0, 0.0)))
        else:
            new = replace(
                inputs, post_carbon=dist.rvs(size=inputs.post_carbon.size, random_state=gen)
            )
        # the run's own draws, one simulation for every parameter (its alternative draws
        # above are still made, so each later case draws what it always drew)
        if case == "run":
            if run_total is None:
                run_total = _total(inputs, futures, seed, cfg, standard)
            total = run_total
        else:
            total = _total(new, futures, seed, cfg, standard)
        credits = float(total["credits"])
        if case == "run":
            base_credits[parameter] = credits
        rows.append(
            {
                "parameter": parameter,
                "case": case,
                "prior": text,
                "weights_ess": ess,
                "ner_mean": float(total["ner_mean"]),
                "ner_ci_low": float(total["ner_ci_low"]),
                "ner_ci_high": float(total["ner_ci_high"]),
                "uncertainty_pct": float(total["uncertainty_pct"]),
                "credits": credits,
                "credits_vs_run_pct": 100.0 * (credits / base_credits[parameter] - 1.0),
            }
        )
    return rows


def cached_prior_sensitivity(spec, data, inputs: KernelInputs, cache=None):
    """:func:`prior_sensitivity`, reused from the posterior cache ``cache``.

    Its rows depend on the run's posteriors (the key of their content) and on the
    settings the cases are simulated and accounted under, so the entry's key adds the
    whole validated configuration and the SHA-256 of the code of :data:`PART_CODE` to
    the posteriors' content, with ``"part": "prior_sensitivity"``: any changed setting
    or code computes it afresh. The numeric
    columns are stored; the text columns are :func:`cases`' own. A hit returns the
    rows a fresh computation gives, bit for bit. Returns ``(rows, CacheRecord)``.
    """
    from simulator.inference.cache import code_sha256, key_content
    from simulator.inference.fit import cached_part

    cfg = spec.config
    numeric = COLUMNS[3:]
    content = {
        **key_content(spec, data),
        "config": cfg.model_dump(mode="json"),
        # the code that simulates and accounts the cases
        "part_code_sha256": code_sha256(PART_CODE),
        "part": "prior_sensitivity",
    }

    def rows_of(arrays):
        return [
            {
                "parameter": parameter,
                "case": case,
                "prior": text,
                **{c: float(arrays[c][i]) for c in numeric},
            }
            for i, (parameter, case, text, _) in enumerate(cases(cfg))
        ]

    def store(key, rows):
        arrays = {c: np.array([row[c] for row in rows], dtype=float) for c in numeric}
        return cache.store(key, content, {}, arrays, arrays_name=CACHE_NAME)

    return cached_part(
        cache,
        content,
        compute=lambda: prior_sensitivity(spec, inputs),
        load=lambda key: cache.load_arrays(key, CACHE_NAME, numeric),
        store=store,
        unpack=lambda entry: rows_of(entry.plot_arrays),
    )
