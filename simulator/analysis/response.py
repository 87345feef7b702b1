"""The response model: total NER as a deterministic function of independent latent scores.

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
  crediting years is ``sigma z_t`` with one latent score per year, or, under AR(1)
  noise, the kernel's recursion ``u_t = phi u_t-1 + sigma sqrt(1 - phi^2) z_t`` from
  the draw's last reference-year noise through the gap years (one latent score per
  gap and crediting year);
* two groups that share one posterior are split by a Gaussian copula: the score
  that picks the draw is ``sqrt(1 - w) z_1 + sqrt(w) z_2``, which is standard
  normal (so the posterior marginal is reproduced exactly) and gives group 2 the
  share ``w`` of its latent variance. This splits each stratum's mean AGB into
  *biomass sampling* (between-plot variance and the other tree-level errors) and
  *allometry* (the Chave et al. 2014 residual; ``w`` from
  :func:`models.inventory.error_budget`), and the projected rate into
  *deforestation rate* and *map accuracy* (``w`` from :func:`map_share`).

A batch of evaluations of ``f`` is one call of
:func:`simulator.engine.kernels.simulate_aligned`: evaluation i uses row i of every
input (its posterior draw of each model) and ``rate_sigma = 0`` (the process noise
is already in the log-rate path), so it is deterministic: the kernel's random
numbers are not used.

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

References: see :mod:`simulator.analysis.sensitivity`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from scipy import special, stats

from models.allometry import biomass_to_co2e
from models.inventory import INDEPENDENT_SOURCES, SHARED_SOURCES
from models.sampling import flat_draws
from simulator.accounting import net_emission_reductions
from simulator.accounting.standards import relative_half_width
from simulator.analysis.rate_design import map_share, run_design
from simulator.config import RunSpec
from simulator.data import RunData
from simulator.engine.kernels import KernelInputs, SimulationResult, simulate_aligned

__all__ = [
    "Group",
    "ResponseModel",
    "build_response_model",
    "posterior_dependence",
    "group_uncertainty",
    "run_response_model",
]

log = logging.getLogger(__name__)


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
    #: AR(1) noise (None when every draw's phi is 0): phi and the last reference-year
    #: noise of each draw in the same order, and the gap years the noise runs through
    rate_phi: np.ndarray | None
    noise_last: np.ndarray | None
    gap_years: int
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
            if self.rate_phi is None:
                paths = paths + sigma[:, None] * z[:, col["noise"]]
            else:
                paths = paths + self._ar1_noise(rate_score, sigma, z[:, col["noise"]])
            targets = None
        else:
            paths, targets = None, _pick(self.loss_target, rate_score)
        eff = _pick(self.effectiveness, z[:, col["effectiveness"]])
        post = _pick(self.post_carbon, z[:, col["post_carbon"]])
        lam = _pick(self.leakage_fraction, z[:, col["leakage"]])
        inputs = KernelInputs(
            carbon_density=carbon,
            log_rate_mean=np.zeros((m, self.n_years)) if paths is None else paths,
            rate_sigma=np.zeros(m),
            effectiveness=eff,
            post_carbon=post,
            leakage_fraction=lam,
            area=self.area,
            risk=self.risk,
            loss_target=targets,
        )
        return simulate_aligned(inputs)

    def _ar1_noise(self, rate_score, sigma, z_noise) -> np.ndarray:
        """The kernel's AR(1) noise path (:mod:`simulator.engine.kernels`) from latent scores.

        ``z_noise`` holds one score per gap year, then one per crediting year.
        """
        phi = _pick(self.rate_phi, rate_score)
        innovation = sigma * np.sqrt(1.0 - phi * phi)
        u = _pick(self.noise_last, rate_score)
        for g in range(self.gap_years):
            u = phi * u + innovation * z_noise[:, g]
        out = np.empty((u.size, self.n_years))
        for t in range(self.n_years):
            u = phi * u + innovation * z_noise[:, self.gap_years + t]
            out[:, t] = u
        return out

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
    ar1 = not allocated and inputs.rate_phi is not None and bool(np.any(inputs.rate_phi != 0))
    gap = int(inputs.gap_years) if ar1 else 0
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
            [("rate", 1)] + ([] if allocated else [("noise", gap + t)]),
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
    phi = inputs.rate_phi[order] if ar1 else None
    last = inputs.noise_last[order] if ar1 else None
    return ResponseModel(
        groups=tuple(groups),
        n_latent=nxt,
        agb=np.sort(np.asarray(agb, dtype=float), axis=0),
        allometry_share=share,
        carbon_fraction=np.sort(carbon_fraction),
        root_shoot=np.sort(root_shoot),
        log_rate=log_rate,
        rate_sigma=sigma,
        rate_phi=phi,
        noise_last=last,
        gap_years=gap,
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
        (:func:`simulator.accounting.standards.relative_half_width`, in %); attribute
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
    tree_level = INDEPENDENT_SOURCES + SHARED_SOURCES
    plot_terms = sum(budget[k] for k in tree_level + ("sampling",) if k in budget)
    allometric = sum(budget[k] for k in ("allometry", "coefficients", "site_bias") if k in budget)
    allometry_share = np.asarray(allometric, dtype=float) / plot_terms
    allocated = inputs.loss_target is not None
    rd = run_design(spec, data, inputs.rate_sigma)
    d = data.deforestation
    w_map = 0.0 if allocated else map_share(rd, d.get("loss_cov_ha2", d["loss_se_ha"]))
    return build_response_model(
        strata,
        flat_draws(bio, "agb_mg_ha"),
        flat_draws(bio, "carbon_fraction"),
        flat_draws(bio, "root_shoot"),
        allometry_share,
        inputs,
        w_map,
    )
