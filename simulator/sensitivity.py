"""Which uncertain input drives the uncertainty of NER, and what more sampling would buy.

Response model
--------------
Sobol indices need a deterministic function of independent inputs. Total NER over
the crediting period is written as ``Y = f(z)``, where ``z`` holds independent
standard-normal *latent scores*, one block per input group, and each block is
turned into kernel inputs by its own posterior (:class:`ResponseModel`):

* a scalar input (a stratum's mean AGB, carbon fraction, root:shoot,
  effectiveness, post-conversion carbon, leakage fraction) is the posterior
  draw at quantile ``Phi(z)`` of its sorted draws (inverse empirical CDF);
* the deforestation rate is a *whole* posterior draw of the rate model (its
  mean log-rate path and process-noise SD), picked at quantile ``Phi(z)`` after
  ordering the draws by their mean projected log rate, so that the joint
  posterior of (a, b, c, sigma) is kept; the year-to-year process noise of the
  crediting years is ``sigma z_t`` with one latent score per year;
* two groups that share one posterior are split by a Gaussian copula: the score
  that picks the draw is ``sqrt(1 - w) z_1 + sqrt(w) z_2``, which is standard
  normal (so the posterior marginal is reproduced exactly) and gives group 2 the
  share ``w`` of its latent variance. This splits each stratum's mean AGB into
  *biomass sampling* (between-plot variance and the other tree-level errors) and
  *allometry* (the Chave et al. 2014 residual; ``w`` from
  :func:`models.inventory.error_budget`), and the projected rate into
  *deforestation rate* and *map accuracy* (``w`` from :func:`map_share`).

Every evaluation of ``f`` runs :func:`simulator.kernels.simulate` with one
posterior draw per model (so the kernel's posterior pick is that draw) and
``rate_sigma = 0`` (the process noise is already in the log-rate path), so it is
deterministic: the kernel's random numbers are not used.

Assumptions (stated in the appendix): the groups are independent a posteriori.
This holds by construction between the models (they are fitted separately),
and within the deforestation model between the rate, effectiveness and
post-conversion carbon (no shared likelihood term); the carbon fraction and
root:shoot are prior-only. It is approximate between strata, whose means are
partially pooled; :func:`posterior_dependence` measures the largest posterior
rank correlation between groups so that the reader can judge it, and the
uncertainty of ``f`` with every group varying is reported beside the run's.
Fixing a group means setting its latent scores to 0 (its posterior median, and
no share in a split).

Planning
--------
More field plots shrink each stratum's mean-AGB posterior: every plot-level
term of its variance (between-plot variance and the per-plot measurement
errors, independent between plots) scales as ``1/n`` (stratified sampling,
Cochran 1977 Eq. 5.3 without finite-population correction; the same form as
:func:`models.inventory.error_budget`), while the carbon fraction, root:shoot and
every other group stay. With ``k`` more plots the stratum's latent score is
multiplied by ``sqrt(n / (n + k))`` (on the log scale of a log-normal posterior,
its SD). More accuracy-assessment points change each year's loss SE, recomputed
by the stratified estimator (:func:`models.map_accuracy.annual_loss_estimates`)
on the error matrix scaled to the larger sample with the same proportions
(rounded to whole points); the map share of the projected log-rate variance is
then recomputed by :func:`gls_prediction_variance`.

References
----------
Saltelli, A. et al. (2010) Variance based sensitivity analysis of model output.
Computer Physics Communications 181:259-270 (estimators used by SALib).
Sobol', I.M. (2001) Math. Comput. Simul. 55:271-280.
Herman, J. & Usher, W. (2017) SALib. J. Open Source Softw. 2(9):97.
Ishigami, T. & Homma, T. (1990) ISUMA '90, 398-403 (test function).
Cochran, W.G. (1977) Sampling Techniques, 3rd ed., Wiley, §5.3.
Olofsson, P. et al. (2014) Remote Sens. Environ. 148:42-57.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numba
import numpy as np
import xarray as xr
from scipy import special, stats
from scipy.stats import qmc

from models import deforestation
from models.allometry import biomass_to_co2e
from models.map_accuracy import annual_loss_estimates
from models.sampling import flat_draws
from simulator.accounting import account, net_emission_reductions
from simulator.config import RunSpec, Sensitivity
from simulator.data import RunData
from simulator.kernels import KernelInputs, SimulationResult, simulate
from simulator.standards import STANDARDS, Standard, relative_half_width

__all__ = [
    "Group",
    "ResponseModel",
    "sobol_indices",
    "gls_prediction_variance",
    "map_share",
    "projected_loss_se",
    "posterior_dependence",
    "build_response_model",
    "run_response_model",
    "latent_sample",
    "group_uncertainty",
    "Lever",
    "plot_lever",
    "accuracy_lever",
    "smallest_addition",
    "planning",
    "SensitivityResult",
    "analyse",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- Sobol indices


def sobol_indices(
    evaluate: Callable[[np.ndarray], np.ndarray],
    groups: Sequence[str],
    n_base: int,
    seed: int,
    confidence: float = 0.95,
    resamples: int = 200,
) -> xr.Dataset:
    """First-order and total Sobol indices of grouped inputs (SALib, Saltelli sampling).

    Parameters
    ----------
    evaluate : callable
        Maps uniform inputs ``u`` of shape ``(m, d)`` in (0, 1) to outputs ``(m,)``.
    groups : sequence of str, length d
        Group of each input column; indices are per group (order of first appearance).
    n_base : int
        Base sample size N (a power of 2); the cost is ``N (G + 2)`` evaluations.
    seed : int
        Seeds the scrambled Sobol' sequence and the bootstrap of the intervals (>= 1).
    confidence : float
        Level of the bootstrap confidence intervals.
    resamples : int
        Bootstrap resamples.

    Returns
    -------
    xarray.Dataset
        Dimension ``group``: ``s1, s1_conf, st, st_conf`` (``*_conf``: half-width of
        the interval, SALib's normal bootstrap interval).

    References
    ----------
    Saltelli et al. (2010), estimators of S1 (their Table 2 (b)) and ST (Jansen,
    Table 2 (f)), as implemented by SALib 1.6 ``SALib.sample.sobol.sample`` and
    ``SALib.analyze.sobol.analyze`` with ``calc_second_order=False``.
    """
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    if n_base < 2 or n_base & (n_base - 1):
        raise ValueError(f"n_base must be a power of 2, got {n_base}")
    if seed < 1:  # SALib treats a falsy seed as "unseeded"
        raise ValueError(f"seed must be >= 1, got {seed}")
    d = len(groups)
    problem = {
        "num_vars": d,
        "names": [f"x{i}" for i in range(d)],
        "bounds": [[0.0, 1.0]] * d,
        "groups": list(groups),
    }
    u = sobol_sample.sample(problem, n_base, calc_second_order=False, seed=seed)
    y = np.asarray(evaluate(u), dtype=float)
    if y.shape != (u.shape[0],) or not np.all(np.isfinite(y)):
        raise ValueError("evaluate must return one finite value per row")
    res = sobol_analyze.analyze(
        problem,
        y,
        calc_second_order=False,
        num_resamples=resamples,
        conf_level=confidence,
        seed=seed,
    )
    names = list(dict.fromkeys(groups))
    ds = xr.Dataset(
        {
            k.lower(): ("group", np.asarray(res[k], dtype=float))
            for k in ("S1", "S1_conf", "ST", "ST_conf")
        },
        coords={"group": names},
    )
    return ds.assign_attrs(n_base=n_base, n_evaluations=int(u.shape[0]), confidence=confidence)


# --------------------------------------------------------------------------- map share


def gls_prediction_variance(design: np.ndarray, x_star: np.ndarray, obs_var: np.ndarray) -> float:
    """Variance of a linear prediction ``x_star' beta`` by generalised least squares.

    ``Var = x*' (X' W X)^-1 x*`` with ``W = diag(1 / obs_var)`` (Aitken's GLS;
    e.g. Seber & Lee 2003, Linear Regression Analysis, §3.10).

    Parameters
    ----------
    design : ndarray, shape (n, p)
    x_star : ndarray, shape (p,)
    obs_var : ndarray, shape (n,)
        Variance of each observation.
    """
    w = 1.0 / np.asarray(obs_var, dtype=float)
    info = design.T @ (design * w[:, None])
    return float(x_star @ np.linalg.solve(info, x_star))


@dataclass(frozen=True)
class RateDesign:
    """The rate model linearised on the log scale (what :func:`map_share` needs).

    ``design`` (n_years, 3): 1, trend, highway of the reference years; ``x_star`` (3,):
    their mean over the crediting years; ``process_var``: posterior mean of sigma^2;
    ``log_loss_se`` (n_years,): each observed rate's SE on the log scale,
    ``se / loss`` (delta method).
    """

    design: np.ndarray
    x_star: np.ndarray
    process_var: float
    loss_ha: np.ndarray


def map_share(rd: RateDesign, loss_se_ha: np.ndarray) -> float:
    """Share of the projected log-rate variance due to map error, and its absolute size.

    ``w = (V(se) - V(0)) / V(se)`` with ``V`` = :func:`gls_prediction_variance` of the
    mean projected log rate when each year's observation has variance
    ``sigma^2 + (se_t / loss_t)^2`` (process noise plus map error, the rate model's
    two error terms; the weakly informative priors are ignored).
    """
    full = _rate_variance(rd, loss_se_ha)
    none = _rate_variance(rd, np.zeros_like(loss_se_ha))
    return (full - none) / full


def _rate_variance(rd: RateDesign, loss_se_ha: np.ndarray) -> float:
    log_se = np.asarray(loss_se_ha, dtype=float) / rd.loss_ha
    return gls_prediction_variance(rd.design, rd.x_star, rd.process_var + log_se**2)


def projected_loss_se(accuracy, added: int) -> np.ndarray:
    """Each year's loss SE with ``added`` more accuracy-assessment points per stratum.

    The error matrix of each year is scaled to ``n_h + added`` points per stratum
    with the same proportions ``n_hj / n_h`` (rounded to whole points) and
    re-estimated by :func:`models.map_accuracy.annual_loss_estimates`
    (Olofsson et al. 2014; Stehman 2014).

    Parameters
    ----------
    accuracy : list of AreaEstimate
        The run's annual estimates (:attr:`simulator.data.RunData.accuracy`).
    added : int
        Sample points added to every stratum of every year.
    """
    if added < 0:
        raise ValueError(f"added must be >= 0, got {added}")
    out = []
    for est in accuracy:
        n = np.asarray(est.counts, dtype=float)
        n_h = n.sum(axis=1, keepdims=True)
        scaled = np.round(n * (n_h + added) / n_h)
        (new,) = annual_loss_estimates([0], [list(est.strata)], [est.mapped_area], [scaled])
        out.append(new.area_se[0])
    return np.array(out)


# --------------------------------------------------------------------------- response model


@dataclass(frozen=True)
class Group:
    """An input group: name, label for tables, and its latent columns."""

    name: str
    label: str
    columns: tuple[int, ...]


def _pick(sorted_values: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Draw at quantile ``Phi(z)`` of sorted posterior draws (along the first axis)."""
    n = sorted_values.shape[0]
    idx = np.minimum((special.ndtr(z) * n).astype(np.int64), n - 1)
    return sorted_values[idx]


@dataclass(frozen=True)
class ResponseModel:
    """Total NER as a deterministic function of independent latent normal scores.

    Build with :func:`build_response_model`; see the module docstring for the
    mapping. Arrays of posterior draws are sorted (rates: by mean projected log
    rate, each row kept whole).
    """

    groups: tuple[Group, ...]
    n_latent: int
    agb: np.ndarray  # (n, S) each column sorted
    allometry_share: np.ndarray  # (S,)
    carbon_fraction: np.ndarray
    root_shoot: np.ndarray
    log_rate: np.ndarray | None  # (n_d, T) rows ordered by mean
    rate_sigma: np.ndarray | None  # (n_d,) in the same order
    loss_target: np.ndarray | None  # allocated baseline: (n_d, T) rows ordered by mean
    rate_map_share: float
    effectiveness: np.ndarray
    post_carbon: np.ndarray
    leakage_fraction: np.ndarray
    area: np.ndarray
    risk: np.ndarray
    n_years: int
    col: dict = field(repr=False)  # column indices by role

    @property
    def group_names(self) -> list[str]:
        return [g.name for g in self.groups]

    def column_groups(self) -> list[str]:
        """Group name of each latent column."""
        out = [""] * self.n_latent
        for g in self.groups:
            for c in g.columns:
                out[c] = g.name
        return out

    def zero_groups(self, z: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """Copy of ``z`` with the named groups fixed (latent scores 0)."""
        z = np.array(z, dtype=float)
        for g in self.groups:
            if g.name in names:
                z[:, list(g.columns)] = 0.0
        return z

    def simulate(
        self,
        z: np.ndarray,
        plot_factor: np.ndarray | None = None,
        map_factor: float = 1.0,
    ) -> SimulationResult:
        """Run the kernel once per row of latent scores.

        Parameters
        ----------
        z : ndarray, shape (m, n_latent)
            Latent standard-normal scores.
        plot_factor : ndarray, shape (S,), optional
            Variance factor of each stratum's mean AGB (``n / (n + k)`` with k more
            plots); default 1.
        map_factor : float
            Factor on the map-error part of the projected log-rate variance.

        Returns
        -------
        SimulationResult
            ``(m, T)`` arrays; row i is the evaluation at ``z[i]``.
        """
        z = np.asarray(z, dtype=float)
        if z.ndim != 2 or z.shape[1] != self.n_latent or not np.all(np.isfinite(z)):
            raise ValueError(f"z must be finite with shape (m, {self.n_latent}), got {z.shape}")
        m, n_strata, col = z.shape[0], self.area.size, self.col
        pf = np.ones(n_strata) if plot_factor is None else np.asarray(plot_factor, dtype=float)
        w = self.allometry_share
        score = np.sqrt(pf) * (
            np.sqrt(1 - w) * z[:, col["biomass"]] + np.sqrt(w) * z[:, col["allometry"]]
        )
        agb = np.column_stack([_pick(self.agb[:, s], score[:, s]) for s in range(n_strata)])
        carbon = biomass_to_co2e(
            agb,
            _pick(self.carbon_fraction, z[:, col["carbon_fraction"]])[:, None],
            _pick(self.root_shoot, z[:, col["root_shoot"]])[:, None],
        )
        wm = self.rate_map_share
        rate_score = np.sqrt(1 - wm) * z[:, col["rate"]]
        if "map" in col:
            rate_score = rate_score + np.sqrt(wm * map_factor) * z[:, col["map"]]
        if self.loss_target is None:
            paths = _pick(self.log_rate, rate_score)
            sigma = _pick(self.rate_sigma, rate_score)
            paths = paths + sigma[:, None] * z[:, col["noise"]]
            targets = None
        else:
            paths, targets = None, _pick(self.loss_target, rate_score)
        eff = _pick(self.effectiveness, z[:, col["effectiveness"]])
        post = _pick(self.post_carbon, z[:, col["post_carbon"]])
        lam = _pick(self.leakage_fraction, z[:, col["leakage"]])
        shape = (m, self.n_years)
        eb, ep, lk, loss = (np.empty(shape) for _ in range(4))
        zeros = np.zeros((1, self.n_years))
        threads = numba.get_num_threads()
        # One draw per call: a parallel launch over several threads costs more than the
        # draw, and far more on a loaded machine. Results do not depend on threads.
        numba.set_num_threads(1)
        try:
            for i in range(m):
                self._evaluate_one(
                    i, carbon, paths, targets, eff, post, lam, zeros, eb, ep, lk, loss
                )
        finally:
            numba.set_num_threads(threads)
        return SimulationResult(eb, ep, lk, loss, seed=0, draw_start=0)

    def _evaluate_one(self, i, carbon, paths, targets, eff, post, lam, zeros, eb, ep, lk, loss):
        """Kernel run of evaluation ``i`` (one posterior draw per model, no process noise)."""
        inputs = KernelInputs(
            carbon_density=carbon[i : i + 1],
            log_rate_mean=zeros if paths is None else paths[i : i + 1],
            rate_sigma=np.zeros(1),
            effectiveness=eff[i : i + 1],
            post_carbon=post[i : i + 1],
            leakage_fraction=lam[i : i + 1],
            area=self.area,
            risk=self.risk,
            loss_target=None if targets is None else targets[i : i + 1],
        )
        r = simulate(inputs, 1, 1)
        eb[i], ep[i], lk[i], loss[i] = (
            r.baseline[0],
            r.project[0],
            r.leakage[0],
            r.baseline_loss_ha[0],
        )

    def total_ner(self, z: np.ndarray, **factors) -> np.ndarray:
        """Total NER over the crediting period (tCO2e) per row of ``z``."""
        sim = self.simulate(z, **factors)
        return net_emission_reductions(sim.baseline, sim.project, sim.leakage).sum(axis=1)


def build_response_model(
    strata: Sequence[str],
    agb: np.ndarray,
    carbon_fraction: np.ndarray,
    root_shoot: np.ndarray,
    allometry_share: np.ndarray,
    inputs: KernelInputs,
    rate_map_share: float,
) -> ResponseModel:
    """Sort the posterior draws and lay out the latent columns of each group.

    Parameters
    ----------
    strata : sequence of str
    agb : ndarray, shape (n, S)
        Posterior draws of each stratum's mean AGB (Mg/ha).
    carbon_fraction, root_shoot : ndarray, shape (n,)
    allometry_share : ndarray, shape (S,)
        Share of the allometric error in each stratum's mean-AGB variance.
    inputs : KernelInputs
        The run's kernel inputs (rates, effectiveness, post-conversion carbon,
        leakage, areas, risks).
    rate_map_share : float
        Share of the map error in the projected log-rate variance (0 for an
        allocated baseline: no map group).
    """
    n_strata = len(strata)
    share = np.asarray(allometry_share, dtype=float)
    if share.shape != (n_strata,) or np.any((share < 0) | (share > 1)):
        raise ValueError(f"allometry_share must be {n_strata} fractions in [0, 1], got {share}")
    if not 0 <= rate_map_share <= 1:
        raise ValueError(f"rate_map_share must be in [0, 1], got {rate_map_share}")
    allocated = inputs.loss_target is not None
    t = inputs.n_years
    layout: list[tuple[str, str, list[tuple[str, int]]]] = [
        *((f"biomass_{s}", f"Biomass density: {s}", [("biomass", 1)]) for s in strata),
        ("allometry", "Allometry (tree-level model error)", [("allometry", n_strata)]),
        (
            "carbon_conversion",
            "Carbon fraction and root:shoot",
            [("carbon_fraction", 1), ("root_shoot", 1)],
        ),
        (
            "deforestation_rate",
            "Deforestation rate (model and process noise)",
            [("rate", 1)] + ([] if allocated else [("noise", t)]),
        ),
    ]
    if not allocated:
        layout.append(("map_accuracy", "Map accuracy (activity-data error)", [("map", 1)]))
    layout += [
        ("effectiveness", "Project effectiveness", [("effectiveness", 1)]),
        ("post_conversion", "Carbon after conversion", [("post_carbon", 1)]),
        ("leakage", "Leakage (displacement)", [("leakage", 1)]),
    ]
    groups, col, nxt = [], {}, 0
    per_stratum: dict[str, list[int]] = {"biomass": []}
    for name, label, roles in layout:
        cols = []
        for role, width in roles:
            idx = list(range(nxt, nxt + width))
            nxt += width
            cols += idx
            if role == "biomass":
                per_stratum["biomass"] += idx
            else:
                col[role] = idx if role in ("allometry", "noise") else idx[0]
        groups.append(Group(name, label, tuple(cols)))
    col["biomass"] = per_stratum["biomass"]
    if allocated:
        order = np.argsort(inputs.loss_target.mean(axis=1), kind="stable")
        log_rate = sigma = None
        target = inputs.loss_target[order]
    else:
        order = np.argsort(inputs.log_rate_mean.mean(axis=1), kind="stable")
        log_rate, sigma, target = inputs.log_rate_mean[order], inputs.rate_sigma[order], None
    return ResponseModel(
        groups=tuple(groups),
        n_latent=nxt,
        agb=np.sort(np.asarray(agb, dtype=float), axis=0),
        allometry_share=share,
        carbon_fraction=np.sort(carbon_fraction),
        root_shoot=np.sort(root_shoot),
        log_rate=log_rate,
        rate_sigma=sigma,
        loss_target=target,
        rate_map_share=0.0 if allocated else float(rate_map_share),
        effectiveness=np.sort(inputs.effectiveness),
        post_carbon=np.sort(inputs.post_carbon),
        leakage_fraction=np.sort(inputs.leakage_fraction),
        area=inputs.area,
        risk=inputs.risk,
        n_years=t,
        col=col,
    )


def latent_sample(n: int, d: int, seed: int) -> np.ndarray:
    """``n`` (a power of 2) scrambled Sobol' points mapped to standard-normal scores."""
    m = int(np.log2(n))
    if 2**m != n:
        raise ValueError(f"n must be a power of 2, got {n}")
    u = qmc.Sobol(d, scramble=True, seed=np.random.default_rng([seed, 0x53454E53])).random_base2(m)
    z = special.ndtri(u)
    if not np.all(np.isfinite(z)):  # a point exactly on 0 (probability 0 after scrambling)
        raise ValueError("a quasi-random point fell on the boundary; choose another seed")
    return z


def posterior_dependence(named_draws: dict[str, dict[str, np.ndarray]]) -> dict:
    """Largest absolute posterior Spearman correlation between inputs of different groups.

    Parameters
    ----------
    named_draws : dict of group -> dict of input -> draws
        Inputs drawn jointly (same length within a model); only pairs of the same
        length and different groups are compared.

    Returns
    -------
    dict
        ``rho`` (the largest |rho|) and ``pair`` (the two inputs).
    """
    flat = [(g, n, v) for g, inner in named_draws.items() for n, v in inner.items()]
    best = {"rho": 0.0, "pair": ("", "")}
    for i, (gi, ni, vi) in enumerate(flat):
        for gj, nj, vj in flat[i + 1 :]:
            if gi == gj or vi.shape != vj.shape or np.ptp(vi) == 0 or np.ptp(vj) == 0:
                continue
            rho = abs(float(stats.spearmanr(vi, vj).statistic))
            if rho > best["rho"]:
                best = {"rho": rho, "pair": (ni, nj)}
    return best


def group_uncertainty(
    model: ResponseModel, z: np.ndarray, confidence: float, relative_to: str = "mean"
) -> xr.Dataset:
    """Uncertainty of total NER when only one group varies, and when it is fixed.

    Parameters
    ----------
    model : ResponseModel
    z : ndarray, shape (m, n_latent)
        Latent scores (:func:`latent_sample`), shared by every case.
    confidence : float
    relative_to : {"mean", "median"}

    Returns
    -------
    xarray.Dataset
        Dimension ``group``: ``u_only_pct`` and ``u_fixed_pct``
        (:func:`simulator.standards.relative_half_width`, in %); attribute
        ``u_all_pct`` (every group varying).
    """

    def u(zz):
        return 100.0 * float(
            relative_half_width(model.total_ner(zz), confidence, relative_to)["uncertainty"]
        )

    names = model.group_names
    only, fixed = [], []
    for g in names:
        only.append(u(model.zero_groups(z, [n for n in names if n != g])))
        fixed.append(u(model.zero_groups(z, [g])))
    return xr.Dataset(
        {"u_only_pct": ("group", np.array(only)), "u_fixed_pct": ("group", np.array(fixed))},
        coords={"group": names},
        attrs={"u_all_pct": u(z), "n_inner": int(z.shape[0])},
    )


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Lever:
    """A way to add sampling effort: its name, unit, and the model factors it sets.

    ``factors(k)`` returns the keyword arguments of :meth:`ResponseModel.simulate`
    for ``k`` added units; ``k = None`` means unlimited effort (the limit).
    """

    name: str
    unit: str
    factors: Callable[[int | None], dict]


def plot_lever(n_plots: np.ndarray) -> Lever:
    """``k`` more field plots in every stratum: variance factor ``n_s / (n_s + k)``."""
    n = np.asarray(n_plots, dtype=float)

    def factors(k):
        return {"plot_factor": np.zeros_like(n) if k is None else n / (n + k)}

    return Lever("plots", "field plots per stratum", factors)


def accuracy_lever(rd: RateDesign, accuracy) -> Lever:
    """``k`` more accuracy-assessment points in every stratum of every year's sample."""
    se0 = projected_loss_se(accuracy, 0)
    base = _rate_variance(rd, se0) - _rate_variance(rd, np.zeros_like(se0))

    def factors(k):
        if k is None:
            return {"map_factor": 0.0}
        se = projected_loss_se(accuracy, k)
        return {
            "map_factor": (_rate_variance(rd, se) - _rate_variance(rd, np.zeros_like(se))) / base
        }

    return Lever("accuracy_points", "accuracy-assessment points per stratum and year", factors)


def smallest_addition(removes: Callable[[int], bool], k_max: int) -> int | None:
    """Smallest ``k`` in ``0..k_max`` with ``removes(k)``, assuming it is monotone in k.

    Doubling, then bisection; ``None`` if ``removes(k_max)`` is false.
    """
    if removes(0):
        return 0
    if not removes(k_max):
        return None
    lo, hi = 0, 1
    while hi < k_max and not removes(hi):
        lo, hi = hi, min(2 * hi, k_max)
    while hi - lo > 1:  # removes(hi) and not removes(lo)
        mid = (lo + hi) // 2
        if removes(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _bootstrap_se(total: np.ndarray, standard: Standard, seed: int, n: int = 200) -> float:
    """Bootstrap SE (percentage points) of the uncertainty % of ``total``.

    Treats the quasi-random points as independent, which overstates the error of
    a Sobol' sample: a conservative Monte Carlo error.
    """
    gen = np.random.default_rng([seed, 0x424F4F54])
    idx = gen.integers(0, total.size, (n, total.size))
    u = relative_half_width(total[idx].T, standard.confidence, standard.relative_to)["uncertainty"]
    return 100.0 * float(np.std(u, ddof=1))


def planning(
    model: ResponseModel,
    lever: Lever,
    added: Sequence[int],
    z: np.ndarray,
    standard: Standard,
    buffer_pct: float,
    start_year: int,
    k_max: int,
) -> tuple[list[dict], dict]:
    """Projected uncertainty, deduction and credits for more sampling effort.

    Each case is the response model evaluated at the same latent scores ``z``
    (common random numbers, so differences between cases are not Monte Carlo
    noise) and accounted by :func:`simulator.accounting.account` under the run's
    standard; ``credits_gained`` is against ``k = 0``.

    Returns
    -------
    (rows, search)
        ``rows``: one dict per ``k`` in ``added`` plus the unlimited-effort limit
        (``added = "inf"``); ``search``: ``smallest`` (the smallest k that removes
        the deduction, or None), ``reachable`` (whether the limit removes it),
        ``k_max``.
    """
    cache: dict = {}

    def case(k):
        if k not in cache:
            sim = model.simulate(z, **lever.factors(k))
            total = account(sim, standard, buffer_pct, start_year).sel(period="total")
            ner = net_emission_reductions(sim.baseline, sim.project, sim.leakage).sum(axis=1)
            cache[k] = {
                v: float(total[v])
                for v in (
                    "ner_mean",
                    "uncertainty_pct",
                    "deduction_fraction",
                    "uncertainty_deduction",
                    "credits",
                )
            }
            cache[k]["uncertainty_pct_mcse"] = _bootstrap_se(ner, standard, seed=0)
        return cache[k]

    base = case(0)
    reachable = case(None)["deduction_fraction"] == 0.0
    smallest = (
        smallest_addition(lambda k: case(k)["deduction_fraction"] == 0.0, k_max)
        if reachable
        else None
    )
    ks = sorted(set(added) | ({smallest} if smallest is not None else set()))
    rows = []
    for k in [*ks, None]:
        r = case(k)
        rows.append(
            {
                "lever": lever.name,
                "added": "inf" if k is None else int(k),
                **r,
                "credits_gained": r["credits"] - base["credits"],
                "removes_deduction": "yes" if r["deduction_fraction"] == 0.0 else "no",
            }
        )
    return rows, {"smallest": smallest, "reachable": reachable, "k_max": k_max, "unit": lever.unit}


# --------------------------------------------------------------------------- a run


@dataclass(frozen=True)
class SensitivityResult:
    """What :func:`analyse` found: indices, uncertainty per group, planning."""

    indices: xr.Dataset  # dim group: label, s1, s1_conf, st, st_conf, u_only_pct, u_fixed_pct
    planning: list[dict]
    searches: dict[str, dict]
    notes: dict


def _run_design(spec: RunSpec, data: RunData, sigma: np.ndarray) -> RateDesign:
    cfg = spec.config
    years = np.asarray(data.deforestation["year"])
    crediting = np.arange(cfg.crediting.start_year, cfg.crediting.start_year + cfg.crediting.years)
    trend, highway = deforestation.projection_covariates(years, crediting, cfg.deforestation)
    design = np.column_stack(
        [
            np.ones(years.size),
            (years - years[0]).astype(float),
            deforestation.highway_covariate(years, cfg.deforestation.highway_paving),
        ]
    )
    x_star = np.array([1.0, trend.mean(), highway.mean()])
    return RateDesign(
        design, x_star, float(np.mean(sigma**2)), np.asarray(data.deforestation["loss_ha"], float)
    )


def run_response_model(
    spec: RunSpec, data: RunData, posteriors, inputs: KernelInputs, budget: dict
) -> ResponseModel:
    """The :class:`ResponseModel` of a run (what :func:`analyse` evaluates).

    Parameters
    ----------
    spec, data, posteriors, inputs
        As for :func:`analyse`.
    budget : dict
        Per-stratum variance contributions with keys ``allometry``, ``diameter``,
        ``wood_density``, ``height``, ``sampling``
        (:func:`simulator.inference.biomass_error_budget`; only their ratios are used,
        so the percentages of ``tables/biomass_error_budget.csv`` do as well).
    """
    strata = [s.name for s in spec.config.project.strata]
    bio = posteriors.trees["biomass"]
    plot_terms = sum(
        budget[k] for k in ("allometry", "diameter", "wood_density", "height", "sampling")
    )
    allometry_share = np.asarray(budget["allometry"], dtype=float) / plot_terms
    allocated = inputs.loss_target is not None
    rd = _run_design(spec, data, inputs.rate_sigma)
    w_map = 0.0 if allocated else map_share(rd, data.deforestation["loss_se_ha"])
    return build_response_model(
        strata,
        flat_draws(bio, "agb_mg_ha"),
        flat_draws(bio, "carbon_fraction"),
        flat_draws(bio, "root_shoot"),
        allometry_share,
        inputs,
        w_map,
    )


def analyse(
    spec: RunSpec, data: RunData, posteriors, inputs: KernelInputs, budget: dict
) -> SensitivityResult:
    """Sobol indices, uncertainty per group and planning for a run.

    Parameters
    ----------
    spec : RunSpec
    data : RunData
    posteriors : simulator.inference.Posteriors
    inputs : KernelInputs
        The run's kernel inputs.
    budget : dict
        :func:`simulator.inference.biomass_error_budget` of the run.
    """
    cfg = spec.config
    settings: Sensitivity = cfg.sensitivity
    strata = [s.name for s in cfg.project.strata]
    model = run_response_model(spec, data, posteriors, inputs, budget)
    bio = posteriors.trees["biomass"]
    agb = flat_draws(bio, "agb_mg_ha")
    cf, rs = flat_draws(bio, "carbon_fraction"), flat_draws(bio, "root_shoot")
    allometry_share, w_map = model.allometry_share, model.rate_map_share
    allocated = inputs.loss_target is not None
    rd = _run_design(spec, data, inputs.rate_sigma)
    seed = cfg.simulation.seed % (2**31 - 1) + 1
    standard = STANDARDS[cfg.accounting.standard]

    def evaluate(u):
        z = special.ndtri(u)
        if not np.all(np.isfinite(z)):
            raise ValueError("a Saltelli point fell on the boundary of the unit cube")
        return model.total_ner(z)

    idx = sobol_indices(
        evaluate,
        model.column_groups(),
        settings.base_samples,
        seed,
        settings.index_confidence,
        settings.resamples,
    )
    z = latent_sample(settings.inner_draws, model.n_latent, seed)
    unc = group_uncertainty(model, z, standard.confidence, standard.relative_to)
    labels = [g.label for g in model.groups]
    indices = xr.merge([idx, unc], combine_attrs="drop").assign(label=("group", labels))

    defo = flat_draws(posteriors.trees["deforestation"], "effectiveness")
    rate_key = inputs.loss_target.mean(axis=1) if allocated else inputs.log_rate_mean.mean(axis=1)
    dependence = posterior_dependence(
        {
            **{f"biomass_{s}": {f"agb_{s}": agb[:, i]} for i, s in enumerate(strata)},
            "carbon_conversion": {"carbon_fraction": cf, "root_shoot": rs},
            "deforestation_rate": {"mean_log_rate": rate_key, "sigma": inputs.rate_sigma},
            "effectiveness": {"effectiveness": defo},
            "post_conversion": {
                "post_carbon": flat_draws(
                    posteriors.trees["deforestation"], "post_conversion_tco2e_ha"
                )
            },
        }
    )
    n_plots = np.array([np.sum(data.plots["stratum"] == s) for s in strata])
    levers = [(plot_lever(n_plots), settings.plots_added, settings.max_plots)]
    if data.accuracy is not None and not allocated:
        levers.append(
            (accuracy_lever(rd, data.accuracy), settings.points_added, settings.max_points)
        )
    rows, searches = [], {}
    for lever, added, k_max in levers:
        r, s = planning(
            model,
            lever,
            added,
            z,
            standard,
            cfg.accounting.buffer_pct,
            cfg.crediting.start_year,
            k_max,
        )
        rows += r
        searches[lever.name] = s
    notes = {
        "standard": standard.key,
        "confidence": standard.confidence,
        "n_base": settings.base_samples,
        "n_evaluations": int(idx.attrs["n_evaluations"]),
        "inner_draws": settings.inner_draws,
        "index_confidence": settings.index_confidence,
        "u_all_pct": float(unc.attrs["u_all_pct"]),
        "rate_map_share": w_map,
        "allometry_share": dict(zip(strata, allometry_share.tolist(), strict=True)),
        "n_plots": dict(zip(strata, n_plots.tolist(), strict=True)),
        "dependence": dependence,
        "accuracy_lever": data.accuracy is not None and not allocated,
    }
    log.info(
        "sensitivity: %d evaluations for the indices, U (all groups) %.1f%%",
        notes["n_evaluations"],
        notes["u_all_pct"],
    )
    return SensitivityResult(indices, rows, searches, notes)
