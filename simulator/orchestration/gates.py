"""The gates a run must pass before its appendix is written.

Two gates (DESIGN §7):

* **sampler**: every model's R-hat <= 1.01, bulk and tail ESS >= 400 and no
  divergent transitions (:class:`models.sampling.Diagnostics`; Vehtari et al.
  2021);
* **Monte Carlo**: the Monte Carlo standard error of each bound of the reported
  confidence interval of total NER is below :data:`MC_RELATIVE_MAX` (0.5%) of the mean
  total NER. The error counts both of its sources
  (:mod:`simulator.engine.streaming`): the finite number of simulated futures and the
  finite posterior sample they reuse; a re-run with another seed redraws both.
  The gate's advice names the lever of the larger part: more futures
  (``[simulation].n_draws``) or more posterior draws (``[sampler].draws``).

A failing gate is a :class:`~simulator.errors.ConvergenceError` whose one-line
message says what to change. ``reddsim run --allow-unconverged``, or
``[sampler].allow_failed_diagnostics = true`` in ``run.toml`` (the same switch,
kept in the configuration), overrides both gates; the manifest records the
override and the appendix says so on its first page.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import xarray as xr

from models.sampling import ESS_MIN, RHAT_MAX, Diagnostics
from simulator.config import Sampler
from simulator.errors import ConvergenceError

__all__ = [
    "MC_RELATIVE_MAX",
    "DRAWS_MARGIN",
    "OVERRIDE_FLAG",
    "OVERRIDE_KEY",
    "MonteCarloGate",
    "monte_carlo_gate",
    "required_draws",
    "check_sampler",
    "check_monte_carlo",
    "override_source",
]

#: Largest Monte Carlo standard error of a CI bound of total NER, as a fraction of its mean.
#: 0.5%: the bounds' third significant digit is stable between seeds, and the
#: uncertainty U = half-width / mean moves by at most ~0.35 percentage points (the
#: two bounds' errors combined). The posterior-sample part of the error falls as
#: 1/sqrt(ESS); 0.1% would need some 10^5-10^6 effective posterior draws of each model.
MC_RELATIVE_MAX = 0.005
#: Safety factor on a suggested sample size: the MCSE is itself an estimate.
DRAWS_MARGIN = 1.2
#: The command-line switch and the configuration key that override both gates.
OVERRIDE_FLAG = "--allow-unconverged"
OVERRIDE_KEY = "[sampler].allow_failed_diagnostics"


def required_draws(n: int, relative_error: float, limit: float, margin: float = DRAWS_MARGIN):
    """Sample size at which a Monte Carlo error ``relative_error`` (at ``n``) meets ``limit``.

    Monte Carlo standard errors scale as ``1 / sqrt(N)``, so ``N' = N (e / limit)^2``;
    the result is multiplied by ``margin`` and rounded up to two significant digits.

    Examples
    --------
    >>> required_draws(100_000, 0.00125, 0.001)
    190000
    """
    raw = n * (relative_error / limit) ** 2 * margin
    if raw <= n:
        return n
    step = 10 ** max(0, int(math.floor(math.log10(raw))) - 1)
    return int(math.ceil(raw / step) * step)


@dataclass(frozen=True)
class MonteCarloGate:
    """Monte Carlo error of the total-NER interval bounds against :data:`MC_RELATIVE_MAX`.

    Attributes
    ----------
    n_draws : int
    mean : float
        Mean total NER (tCO2e).
    mcse_low, mcse_high : float
        Monte Carlo standard errors of the lower and upper CI bounds (tCO2e): the total.
    limit : float
        Largest allowed MCSE over the mean (a fraction).
    futures_low, futures_high, posterior_low, posterior_high : float
        The two parts of each bound's error (tCO2e): simulated futures and posterior
        sample (``total^2 = futures^2 + posterior^2``).
    posterior_draws : int, optional
        Posterior draws per chain (``[sampler].draws``), for the advice.
    """

    n_draws: int
    mean: float
    mcse_low: float
    mcse_high: float
    limit: float = MC_RELATIVE_MAX
    futures_low: float = math.nan
    futures_high: float = math.nan
    posterior_low: float = 0.0
    posterior_high: float = 0.0
    posterior_draws: int | None = None

    @property
    def relative_low(self) -> float:
        return self.mcse_low / self.mean if self.mean > 0 else math.inf

    @property
    def relative_high(self) -> float:
        return self.mcse_high / self.mean if self.mean > 0 else math.inf

    @property
    def relative(self) -> float:
        """The larger of the two bounds' MCSE over the mean (``inf`` if the mean is not > 0)."""
        return max(self.relative_low, self.relative_high)

    @property
    def passed(self) -> bool:
        return self.relative < self.limit

    def _part(self, name: str) -> float:
        lo, hi = getattr(self, f"{name}_low"), getattr(self, f"{name}_high")
        if math.isnan(lo) or math.isnan(hi):
            return math.nan
        return max(lo, hi) / self.mean if self.mean > 0 else math.inf

    @property
    def relative_futures(self) -> float:
        """The larger bound's futures part over the mean (NaN if not given)."""
        return self._part("futures")

    @property
    def relative_posterior(self) -> float:
        """The larger bound's posterior-sample part over the mean."""
        return self._part("posterior")

    @property
    def required_draws(self) -> int | None:
        """Suggested ``n_draws`` (futures) to pass (``None`` when no N can).

        When the parts are known, the futures part is given half the variance budget
        (``limit / sqrt(2)``) and the posterior-sample part the other half: if the
        posterior part alone exceeds its half, more futures cannot pass and this is
        ``None`` (see :attr:`required_posterior_draws`).
        """
        if not math.isfinite(self.relative):
            return None
        fut = self.relative_futures
        if math.isnan(fut):
            return required_draws(self.n_draws, self.relative, self.limit)
        budget = self.limit / math.sqrt(2.0)
        if self.relative_posterior > budget and fut <= budget:
            return None
        return required_draws(self.n_draws, fut, budget)

    @property
    def required_posterior_draws(self) -> int | None:
        """Suggested ``[sampler].draws`` per chain so that the posterior part meets half."""
        post = self.relative_posterior
        if self.posterior_draws is None or not math.isfinite(post) or post <= 0:
            return None
        return required_draws(self.posterior_draws, post, self.limit / math.sqrt(2.0))

    def as_dict(self) -> dict:
        return asdict(self) | {
            "relative_low": self.relative_low,
            "relative_high": self.relative_high,
            "passed": self.passed,
            "required_draws": self.required_draws,
            "relative_futures": self.relative_futures,
            "relative_posterior": self.relative_posterior,
            "required_posterior_draws": self.required_posterior_draws,
        }


def monte_carlo_gate(summary: xr.Dataset, posterior_draws: int | None = None) -> MonteCarloGate:
    """The Monte Carlo gate of an accounting summary (its ``total`` period).

    ``posterior_draws``: the run's ``[sampler].draws``, named in the advice.
    """
    tot = summary.sel(period="total")

    def part(name, default):
        return float(tot[name]) if name in tot else default

    return MonteCarloGate(
        n_draws=int(summary.attrs["n_draws"]),
        mean=float(tot.ner_mean),
        mcse_low=float(tot.ner_ci_low_mcse),
        mcse_high=float(tot.ner_ci_high_mcse),
        futures_low=part("ner_ci_low_mcse_futures", math.nan),
        futures_high=part("ner_ci_high_mcse_futures", math.nan),
        posterior_low=part("ner_ci_low_mcse_posterior", 0.0),
        posterior_high=part("ner_ci_high_mcse_posterior", 0.0),
        posterior_draws=posterior_draws,
    )


def override_source(flag: bool, settings: Sampler) -> str | None:
    """Who overrode the gates: the command-line flag, the configuration key, or nobody."""
    if flag:
        return OVERRIDE_FLAG
    if settings.allow_failed_diagnostics:
        return OVERRIDE_KEY
    return None


def _nice_up(x: float) -> int:
    step = 10 ** max(0, int(math.floor(math.log10(max(x, 1.0)))) - 1)
    return int(math.ceil(x / step) * step)


def _sampler_advice(failed: list[Diagnostics], settings: Sampler) -> str:
    advice = []
    low_ess = [min(d.min_ess_bulk, d.min_ess_tail) for d in failed]
    if any(e < ESS_MIN for e in low_ess):
        # ESS grows in proportion to the number of draws per chain.
        worst = max(min(low_ess), 1.0)
        need = _nice_up(settings.draws * ESS_MIN / worst * DRAWS_MARGIN)
        advice.append(f"raise [sampler].draws (now {settings.draws:,}) to at least ~{need:,}")
    if any(d.max_r_hat > RHAT_MAX for d in failed):
        advice.append(f"run longer chains (raise [sampler].tune, now {settings.tune:,}, and draws)")
    if any(d.divergences for d in failed):
        advice.append(
            f"raise [sampler].target_accept (now {settings.target_accept:g}) towards 0.99"
        )
    return "; ".join(advice)


def check_sampler(diagnostics: list[Diagnostics], settings: Sampler, override: str | None):
    """Raise :class:`ConvergenceError` if a model fails and the gates are not overridden."""
    failed = [d for d in diagnostics if not d.passed]
    if not failed or override:
        return
    detail = "; ".join(f"{d.model}: {', '.join(d.failures())}" for d in failed)
    raise ConvergenceError(
        f"sampler diagnostics fail ({detail}); {_sampler_advice(failed, settings)}; "
        f"or rerun with {OVERRIDE_FLAG} (or set {OVERRIDE_KEY} = true) and the appendix "
        "will say the results are unconverged"
    )


def check_monte_carlo(gate: MonteCarloGate, override: str | None) -> None:
    """Raise :class:`ConvergenceError` if the Monte Carlo gate fails and is not overridden.

    The advice names the lever of each part that exceeds half the variance budget:
    ``[simulation].n_draws`` for the futures, ``[sampler].draws`` for the posterior
    sample.
    """
    if gate.passed or override:
        return
    if not math.isfinite(gate.relative):
        raise ConvergenceError(
            f"mean total NER is {gate.mean:,.0f} tCO2e (not positive): its relative Monte Carlo "
            f"error is undefined and no credits arise; rerun with {OVERRIDE_FLAG} to write the "
            "appendix anyway"
        )
    fut, post = gate.relative_futures, gate.relative_posterior
    parts = (
        ""
        if math.isnan(fut)
        else f" (futures {100 * fut:.3f}%, posterior sample {100 * post:.3f}%)"
    )
    advice = []
    if gate.required_draws is not None:
        advice.append(
            f"raise [simulation].n_draws (or --draws) to at least ~{gate.required_draws:,} "
            "(the futures' error scales as 1/sqrt(N))"
        )
    budget = gate.limit / math.sqrt(2.0)
    if not math.isnan(fut) and post > budget:
        need = gate.required_posterior_draws
        now = f" (now {gate.posterior_draws:,})" if gate.posterior_draws else ""
        advice.append(
            f"raise [sampler].draws{now}"
            + (f" to at least ~{need:,}" if need else "")
            + " (the posterior-sample error scales as 1/sqrt(posterior draws))"
        )
    raise ConvergenceError(
        f"Monte Carlo error of the total-NER interval bounds is {100 * gate.relative:.3f}% of "
        f"the mean{parts} with {gate.n_draws:,} futures (limit {100 * gate.limit:g}%); "
        + "; ".join(advice)
        + f"; or rerun with {OVERRIDE_FLAG}"
    )
