"""Statistical calibration: simulation-based calibration and whole-chain coverage.

One study, shared by the slow tests (``tests/models/test_sbc.py``,
``tests/test_coverage.py``) and the report script (``python -m benchmarks.calibration``).
Each replication r = 1..R:

1. draws every model's parameters from its own prior and data from its own
   likelihood, in one ``pymc.draw`` of the model built by ``build_model`` (so the
   priors are exactly the model code's), on the Los Amigos design: its 62 plots
   in 4 strata with their tree Monte Carlo measurement SDs, its 20 years of
   reference-region forest area and map SE, its 10 years of leakage-belt
   monitoring;
2. fits each model with nutpie (each model's settings in :data:`SAMPLERS`). A model is
   compiled once and each data set is swapped in as shared data
   (:func:`swappable`); ``tests/models/test_sbc.py`` checks that the swapped model
   has the log density of a model freshly built from the same data;
3. **SBC** (Talts et al. 2018; Modrák et al. 2023): the rank of each true
   quantity among :data:`RANK_DRAWS` thinned posterior draws;
4. **whole chain**: the fitted posteriors go through the pipeline's own seam
   (:func:`simulator.inference.kernel_inputs`), the forward simulation
   (:func:`simulator.engine.kernels.simulate`) and the accounting
   (:func:`simulator.accounting.account`) under VM0007 v1.8 (90% interval) and
   v1.6 (95%). The estimand is the *realised* total NER of the crediting period
   (Los Amigos strata, 2026-2035): the same kernel run with the true parameters
   and an independent realisation of the future process noise (another seed),
   i.e. one future of the true project. Because truths are prior draws, an
   interval that is a correct posterior predictive interval covers it with
   exactly its nominal probability.

Uniformity of ranks is tested two ways at the 1% level per model: Pearson's
chi-square over :data:`BINS` equal bins, and the simultaneous ECDF band of
Säilynoja et al. (2022) turned into a p-value by simulation. With k quantities
per model and two tests each, every p-value is compared with 0.01 / (2k)
(Bonferroni: the family-wise error of a calibrated model is at most 1%).

References
----------
Talts, S., Betancourt, M., Simpson, D., Vehtari, A. & Gelman, A. (2018)
Validating Bayesian inference algorithms with simulation-based calibration.
arXiv:1804.06788.
Modrák, M., Moon, A. H., Kim, S., Bürkner, P. & Huurre, N. (2023) Simulation-based
calibration checking for Bayesian computation: the choice of test quantities
shapes sensitivity. Bayesian Analysis.
Säilynoja, T., Bürkner, P.-C. & Vehtari, A. (2022) Graphical test for discrete
uniformity and its applications in goodness-of-fit evaluation and multiple
sample comparison. Statistics and Computing 32:32.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import nutpie
import pymc as pm
import pytensor
from pytensor.compile.sharedvalue import SharedVariable
from scipy import stats

from models import biomass, deforestation, leakage
from models.sampling import diagnose
from simulator.accounting import account, net_emission_reductions
from simulator.accounting.standards import STANDARDS
from simulator.config import RunSpec, Sampler, load_config
from simulator.data import RunData, load_data
from simulator.engine.kernels import KernelInputs, simulate
from simulator.errors import SimulationError
from simulator.inference import (
    Posteriors,
    crediting_years,
    kernel_inputs,
    plot_biomass,
    relative_risk,
)

__all__ = [
    "SAMPLERS",
    "RANK_DRAWS",
    "BINS",
    "ALPHA",
    "NER_DRAWS",
    "LEVELS",
    "REPLICATIONS",
    "Problem",
    "Study",
    "swappable",
    "problems",
    "rank",
    "thinned",
    "chi_square_uniformity",
    "ecdf_uniformity",
    "ecdf_band",
    "sbc_table",
    "coverage_table",
    "run_study",
    "main",
]

REPO = Path(__file__).resolve().parents[1]
LOS_AMIGOS = REPO / "runs" / "los-amigos" / "run.toml"
REPORTS = REPO / "tests" / "reports"

#: NUTS settings of each model's fits: short chains, the run's target_accept. Each fit is
#: also checked against the run's own sampler gate (R-hat <= 1.01, bulk and tail ESS >= 400,
#: no divergences) and the pass count reported per model.
SAMPLERS = {
    "biomass": Sampler(chains=2, draws=500, tune=500, target_accept=0.9),
    "deforestation": Sampler(chains=2, draws=1000, tune=1000, target_accept=0.9),
    "leakage": Sampler(chains=2, draws=500, tune=500, target_accept=0.9),
}
#: Thinned draws each truth is ranked among: ranks 0..99, 100 equally likely values.
#: Each chain is thinned evenly to (RANK_DRAWS + 1) / chains draws, about its ESS.
RANK_DRAWS = 99
#: Bins of the chi-square test (100 rank values -> 10 per bin).
BINS = 10
#: Family-wise level of each model's uniformity tests, and of each coverage check.
ALPHA = 0.01
#: Forward-simulated futures per replication.
NER_DRAWS = 4000
#: Interval levels checked and the standard that reports each.
LEVELS = {0.90: "VM0007-1.8", 0.95: "VM0007-1.6"}
#: Replications of the tests and of the default report.
REPLICATIONS = 100


def swappable(model: pm.Model, observed: str) -> tuple[pm.Model, SharedVariable]:
    """The same model with its observations held in a shared variable.

    ``pymc.observe`` replaces the observed constant by a shared variable named
    ``<observed>_observed``; a nutpie model compiled from it takes new data through
    ``CompiledModel.with_data`` without recompiling.

    Returns
    -------
    (model, shared variable)
    """
    value = model.rvs_to_values[model[observed]]
    shared = pytensor.shared(np.array(value.data, dtype=float), name=f"{observed}_observed")
    return pm.observe(model, {observed: shared}), shared


@dataclass
class Problem:
    """One model prepared for repeated simulation and fitting.

    Attributes
    ----------
    name : str
    model : pymc.Model
        The model of ``build_model`` with its observations as shared data.
    observed : str
        Name of the observed variable.
    data : SharedVariable
        Its observations (``data.name`` is the key of nutpie's ``with_data``).
    quantities : callable
        ``quantities(values) -> {label: array}``: the scalar quantities ranked, from a
        dict of model variables (true values, or draws with a leading sample axis).
    """

    name: str
    model: pm.Model
    observed: str
    data: SharedVariable
    quantities: Callable[[dict], dict[str, np.ndarray]]
    sampler: Sampler
    compiled: object = field(default=None, repr=False)

    @property
    def variables(self) -> list[str]:
        return [v.name for v in self.model.free_RVs + self.model.deterministics]

    def compile(self) -> None:
        if self.compiled is None:
            self.compiled = nutpie.compile_pymc_model(self.model)

    def simulate(self, seed) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """True values of every variable (prior draw) and data from the likelihood."""
        with warnings.catch_warnings():
            # pytensor's notice that TruncatedNormal draws run in numba's object mode:
            # about speed, not about the numbers
            warnings.filterwarnings("ignore", "Numba will use object mode", UserWarning)
            values = pm.draw(
                [self.model[v] for v in [*self.variables, self.observed]], random_seed=seed
            )
        truth = dict(zip(self.variables, values[:-1], strict=True))
        return truth, np.asarray(values[-1], dtype=float)

    def fit(self, y: np.ndarray, seed: int):
        """Posterior DataTree of the model given data ``y`` (NUTS, :attr:`sampler`)."""
        self.compile()
        return nutpie.sample(
            self.compiled.with_data(**{self.data.name: y}),
            draws=self.sampler.draws,
            tune=self.sampler.tune,
            chains=self.sampler.chains,
            target_accept=self.sampler.target_accept,
            seed=seed,
            save_warmup=False,
            progress_bar=False,
        )


def _components(label: str, value, coords=None) -> dict[str, np.ndarray]:
    """Split a vector quantity into scalar ones named ``label[coord]`` (sample axis first)."""
    value = np.asarray(value)
    if coords is None:
        return {label: value}
    return {f"{label}[{c}]": value[..., i] for i, c in enumerate(coords)}


def problems(spec: RunSpec, data: RunData) -> dict[str, Problem]:
    """The three models on the Los Amigos design, observations swappable.

    Biomass: the run's 62 plots and strata, each plot's log-scale measurement SD from
    the run's tree Monte Carlo. Deforestation: the reference years, forest areas and
    loss SEs of the run (no project monitoring, as in the run). Leakage: the run's
    belt design (avoided loss, belt baseline, belt SE).
    """
    cfg = spec.config
    strata = [s.name for s in cfg.project.strata]
    plots = plot_biomass(spec, data)
    defo = data.deforestation
    belt = data.leakage_belt

    bio_model = biomass.build_model(
        strata, plots.inventory.plot_stratum, plots.mean, plots.sd, cfg.biomass
    )
    defo_model = deforestation.build_model(
        defo["year"],
        defo["forest_area_ha"],
        defo["loss_ha"],
        defo["loss_se_ha"],
        cfg.deforestation,
    )
    leak_model = leakage.build_model(
        belt["year"],
        belt["avoided_ha"],
        belt["belt_loss_ha"],
        belt["belt_baseline_ha"],
        belt["belt_se_ha"],
        cfg.leakage,
    )
    trend, highway = deforestation.projection_covariates(
        defo["year"], crediting_years(spec), cfg.deforestation
    )
    if not (np.all(trend == trend[0]) and np.all(highway == highway[0])):
        raise ValueError("the calibration design assumes a constant projected mean log rate")

    def bio_q(v):
        # mu_0 is integrated out of the model (drawn after sampling): not ranked
        out = _components("sigma_stratum", v["sigma_stratum"])
        for name in ("mu_stratum", "tau"):
            out |= _components(name, v[name], strata)
        for name in ("carbon_fraction", "root_shoot"):
            out |= _components(name, v[name])
        return out | _components("carbon_tco2e_ha", v["carbon_tco2e_ha"], strata)

    def defo_q(v):
        out = {}
        for name in ("a", "b", "c", "sigma", "effectiveness", "post_conversion_tco2e_ha"):
            out |= _components(name, v[name])
        projected = deforestation.log_hazard_mean(v["a"], v["b"], v["c"], trend[0], highway[0])
        out["projected_log_hazard"] = np.asarray(projected)
        return out

    def leak_q(v):
        out = _components("displacement", v["displacement"])
        if "belt_baseline_z" in v:
            out |= _components("belt_baseline_z", v["belt_baseline_z"])
        return out

    out = {}
    for name, model, observed, q in (
        ("biomass", bio_model, "log_agb", bio_q),
        ("deforestation", defo_model, "log_hazard_obs", defo_q),
        ("leakage", leak_model, "belt_loss_ha", leak_q),
    ):
        swapped, shared = swappable(model, observed)
        out[name] = Problem(name, swapped, observed, shared, q, SAMPLERS[name])
    return out


def thinned(tree, name: str) -> np.ndarray:
    """Evenly thinned draws of each chain, chains concatenated, the first :data:`RANK_DRAWS`.

    Each chain keeps every k-th draw, k = chains * draws // (RANK_DRAWS + 1), so the
    kept draws are about as many as the effective sample size and roughly independent.
    """
    x = tree.posterior[name].transpose("chain", "draw", ...).values
    chains, draws = x.shape[:2]
    step = chains * draws // (RANK_DRAWS + 1)
    if step < 1:
        raise ValueError(f"{chains} x {draws} draws are fewer than {RANK_DRAWS + 1}")
    x = x[:, ::step]
    return x.reshape(-1, *x.shape[2:])[:RANK_DRAWS]


def rank(truth, draws) -> np.ndarray:
    """Rank of the true value among posterior draws: ``#{draws < truth}`` (Talts et al. 2018).

    Parameters
    ----------
    truth : array, shape (...)
    draws : array, shape (L, ...)

    Returns
    -------
    ndarray of int, shape (...), values 0..L
    """
    return np.sum(np.asarray(draws) < np.asarray(truth)[None, ...], axis=0)


def chi_square_uniformity(ranks, n_values: int, bins: int = BINS) -> tuple[float, int, float]:
    """Pearson's chi-square test that ranks are uniform on ``0 .. n_values - 1``.

    Ranks are grouped into ``bins`` equal bins (``n_values`` must be a multiple).

    Returns
    -------
    (statistic, degrees of freedom, p-value)
    """
    if n_values % bins:
        raise ValueError(f"{n_values} rank values do not split into {bins} equal bins")
    counts = np.bincount(np.asarray(ranks) * bins // n_values, minlength=bins)
    expected = len(ranks) / bins
    statistic = float(np.sum((counts - expected) ** 2 / expected))
    return statistic, bins - 1, float(stats.chi2.sf(statistic, bins - 1))


def _ecdf_counts(ranks, n_values: int) -> np.ndarray:
    """``c_j = #{ranks < j}`` for j = 1..n_values-1 (last axis: the sets of ranks)."""
    ranks = np.atleast_2d(ranks)
    rows = ranks.shape[0]
    flat = ranks + n_values * np.arange(rows)[:, None]
    hist = np.bincount(flat.ravel(), minlength=rows * n_values).reshape(rows, n_values)
    return np.cumsum(hist, axis=1)[:, :-1]


def _pointwise_tail(counts: np.ndarray, n: int, n_values: int) -> np.ndarray:
    """Smallest two-sided binomial tail probability of the ECDF over the grid, per set."""
    z = np.arange(1, n_values) / n_values
    lower = stats.binom.cdf(counts, n, z)
    upper = stats.binom.sf(counts - 1, n, z)
    return np.minimum(1.0, 2.0 * np.minimum(lower, upper)).min(axis=1)


@functools.lru_cache(maxsize=16)
def _null_tails(n: int, n_values: int, n_sim: int, seed: int) -> np.ndarray:
    gen = np.random.default_rng(seed)
    return _pointwise_tail(
        _ecdf_counts(gen.integers(0, n_values, (n_sim, n)), n_values), n, n_values
    )


def ecdf_uniformity(ranks, n_values: int, n_sim: int = 20_000, seed: int = 2022) -> float:
    """p-value of the simultaneous ECDF test of uniform ranks (Säilynoja et al. 2022).

    Under uniformity the ECDF count at grid point z_j = j / n_values is
    Binomial(N, z_j). The statistic is the smallest two-sided pointwise tail
    probability over the grid; its null distribution is simulated (the paper's
    simulation method for the adjusted level gamma). ``p < alpha`` exactly when
    the ECDF leaves the 1 - alpha simultaneous band of :func:`ecdf_band`.
    """
    n = len(ranks)
    observed = _pointwise_tail(_ecdf_counts(ranks, n_values), n, n_values)[0]
    null = _null_tails(n, n_values, n_sim, seed)
    return float((1 + np.sum(null <= observed)) / (n_sim + 1))


def ecdf_band(
    n: int, n_values: int, prob: float, n_sim: int = 20_000, seed: int = 2022
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simultaneous ``prob`` band of the ECDF of N uniform ranks (Säilynoja et al. 2022).

    Returns
    -------
    (z, lower, upper) : grid j / n_values and the band of the ECDF (fractions) on it
    """
    gamma = np.quantile(_null_tails(n, n_values, n_sim, seed), 1.0 - prob)
    z = np.arange(1, n_values) / n_values
    lower = stats.binom.ppf(gamma / 2, n, z) / n
    upper = stats.binom.isf(gamma / 2, n, z) / n
    return z, lower, upper


@dataclass
class Study:
    """Everything a calibration run produced (arrays over replications)."""

    replications: int
    seed: int
    ranks: dict[str, dict[str, list[int]]]
    diagnostics: dict[str, dict[str, list[float]]]
    truth_ner: list[float]
    ner_pit: list[float]
    intervals: dict[float, list[tuple[float, float]]]
    status: list[str]
    seconds: dict[str, float]


def _seed(seed: int, *key: int) -> int:
    return int(np.random.SeedSequence([seed, *key]).generate_state(1, np.uint64)[0] >> 1)


def _whole_chain(spec, data, trees, truths, seed, out) -> str:
    """Forward-simulate truth and posterior, account; append to ``out``; return a status."""
    cfg = spec.config
    trend, highway = deforestation.projection_covariates(
        data.deforestation["year"], crediting_years(spec), cfg.deforestation
    )
    bt, dt, lt = truths["biomass"], truths["deforestation"], truths["leakage"]
    true_inputs = KernelInputs(
        carbon_density=np.asarray(bt["carbon_tco2e_ha"])[None, :],
        log_rate_mean=deforestation.log_hazard_mean(dt["a"], dt["b"], dt["c"], trend, highway)[
            None, :
        ],
        rate_sigma=np.atleast_1d(dt["sigma"]),
        effectiveness=np.atleast_1d(dt["effectiveness"]),
        post_carbon=np.atleast_1d(dt["post_conversion_tco2e_ha"]),
        leakage_fraction=np.atleast_1d(lt["displacement"]),
        area=np.array([s.area_ha for s in cfg.project.strata]),
        risk=relative_risk(spec),
        gap_years=deforestation.gap_years(data.deforestation["year"], cfg.crediting.start_year),
    )
    try:
        # one future of the true project: the kernel with the true parameters, its own seed
        true_sim = simulate(true_inputs, 1, _seed(seed, 0))
    except SimulationError:
        return "truth refused by the kernel"
    posteriors = Posteriors(trees=trees, diagnostics=[], plots=None)
    try:
        sim = simulate(kernel_inputs(spec, data, posteriors), NER_DRAWS, _seed(seed, 1))
    except SimulationError:
        return "posterior draws refused by the kernel"
    truth = float(
        net_emission_reductions(true_sim.baseline, true_sim.project, true_sim.leakage).sum()
    )
    ner = net_emission_reductions(sim.baseline, sim.project, sim.leakage).sum(axis=1)
    out["truth_ner"].append(truth)
    out["ner_pit"].append(float(np.mean(ner < truth)))
    for level, key in LEVELS.items():
        table = account(sim, STANDARDS[key], cfg.accounting.buffer_pct, cfg.crediting.start_year)
        total = table.sel(period="total")
        out["intervals"][level].append((float(total["ner_ci_low"]), float(total["ner_ci_high"])))
    return "ok"


def run_study(
    replications: int = REPLICATIONS, seed: int = 20261125, progress: Callable | None = None
) -> Study:
    """Simulate, fit, rank and forward-simulate projects (module docstring).

    Replications go on until there are at least ``replications`` of them and at least
    ``replications`` reached the accounting (the hazard link keeps every loss rate in
    [0, 1), so the kernel refuses no prior-drawn project; the status of each is kept).
    SBC uses every replication.

    Parameters
    ----------
    replications : int
        Minimum number of data sets per model, and of whole-chain replications.
    seed : int
        Seeds every prior draw, fit and simulation.
    progress : callable, optional
        Called as ``progress(replications done, replications accounted)``.
    """
    t0 = time.perf_counter()
    spec = load_config(LOS_AMIGOS)
    data = load_data(spec)
    probs = problems(spec, data)
    for p in probs.values():
        p.compile()
    seconds = {"setup_and_compile": time.perf_counter() - t0, "fit": 0.0, "simulate_ner": 0.0}
    ranks = {name: {} for name in probs}
    diags = {
        name: {k: [] for k in ("divergences", "min_ess_bulk", "max_r_hat", "passed")}
        for name in probs
    }
    out = {"truth_ner": [], "ner_pit": [], "intervals": {level: [] for level in LEVELS}}
    status = []
    r = 0
    while r < replications or status.count("ok") < replications:
        if r == 3 * replications:
            raise RuntimeError(
                f"only {status.count('ok')} of {r} replications reached the accounting"
            )
        trees, truths = {}, {}
        t = time.perf_counter()
        for m, (name, p) in enumerate(probs.items()):
            truth, y = p.simulate(_seed(seed, r, m, 0))
            tree = p.fit(y, _seed(seed, r, m, 1) % 2**31)
            trees[name], truths[name] = tree, truth
            draws = {v: thinned(tree, v) for v in p.variables}
            true_q, draw_q = p.quantities(truth), p.quantities(draws)
            for label, value in true_q.items():
                ranks[name].setdefault(label, []).append(int(rank(value, draw_q[label])))
            d = diagnose(name, tree, [v.name for v in p.model.free_RVs])
            for key in diags[name]:  # "passed": the run's own sampler gate
                diags[name][key].append(bool(d.passed) if key == "passed" else getattr(d, key))
        seconds["fit"] += time.perf_counter() - t
        t = time.perf_counter()
        status.append(_whole_chain(spec, data, trees, truths, _seed(seed, r, 9), out))
        seconds["simulate_ner"] += time.perf_counter() - t
        r += 1
        if progress is not None:
            progress(r, status.count("ok"))
    seconds["total"] = time.perf_counter() - t0
    return Study(
        r,
        seed,
        ranks,
        diags,
        out["truth_ner"],
        out["ner_pit"],
        out["intervals"],
        status,
        seconds,
    )


def sbc_table(study: Study, model: str) -> list[dict]:
    """Per quantity of ``model``: chi-square and ECDF uniformity results (Bonferroni)."""
    n_values = RANK_DRAWS + 1
    labels = list(study.ranks[model])
    threshold = ALPHA / (2 * len(labels))
    rows = []
    for label in labels:
        r = np.asarray(study.ranks[model][label])
        chi2, df, p_chi2 = chi_square_uniformity(r, n_values)
        p_ecdf = ecdf_uniformity(r, n_values)
        rows.append(
            {
                "quantity": label,
                "n": int(r.size),
                "chi2": chi2,
                "df": df,
                "p_chi2": p_chi2,
                "p_ecdf": p_ecdf,
                "threshold": threshold,
                "passed": bool(min(p_chi2, p_ecdf) >= threshold),
            }
        )
    return rows


def coverage_table(study: Study) -> list[dict]:
    """Coverage of the total-NER intervals, with 99% binomial acceptance region and CI."""
    truth = np.asarray(study.truth_ner)
    n = truth.size
    rows = []
    for level, key in LEVELS.items():
        lo, hi = np.asarray(study.intervals[level]).T
        hits = int(np.sum((lo <= truth) & (truth <= hi)))
        accept = stats.binom(n, level).ppf([ALPHA / 2, 1 - ALPHA / 2]).astype(int)
        ci = stats.binomtest(hits, n).proportion_ci(1 - ALPHA, method="exact")
        rows.append(
            {
                "level": level,
                "standard": key,
                "n": n,
                "covered": hits,
                "rate": hits / n,
                "accept_low": int(accept[0]),
                "accept_high": int(accept[1]),
                "rate_ci99_low": float(ci.low),
                "rate_ci99_high": float(ci.high),
                "passed": bool(accept[0] <= hits <= accept[1]),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the study and write figures, ``calibration.json`` and ``calibration.md``."""
    from benchmarks.calibration_report import load_study, write_report

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=REPLICATIONS)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--out", type=Path, default=REPORTS)
    parser.add_argument(
        "--replot", action="store_true", help="redraw from OUT/calibration.json, no fitting"
    )
    args = parser.parse_args(argv)
    if args.replot:
        saved = args.out / "calibration.json"
        command = json.loads(saved.read_text())["command"]
        print(write_report(load_study(saved), args.out, command))
        return 0

    def progress(done, accounted):
        if done % 10 == 0:
            print(f"replication {done}, {accounted} accounted", flush=True)

    study = run_study(args.replications, args.seed, progress)
    summary = write_report(study, args.out)
    print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
