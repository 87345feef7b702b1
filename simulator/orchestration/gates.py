"""The gates a run must pass before its appendix is written.

Two gates (DESIGN §7):

* **sampler**: every model's R-hat <= 1.01, bulk and tail ESS >= 400 and no
  divergent transitions (:class:`models.sampling.Diagnostics`; Vehtari et al.
  2021);
* **Monte Carlo**: the Monte Carlo standard error of each bound of the reported
  confidence interval of total NER is below 0.1% of the mean total NER, so the
  published bounds do not move in their fourth significant digit on a re-run
  with another seed.

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
MC_RELATIVE_MAX = 0.001
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
        Monte Carlo standard errors of the lower and upper CI bounds (tCO2e).
    limit : float
        Largest allowed MCSE over the mean (a fraction).
    """

    n_draws: int
    mean: float
    mcse_low: float
    mcse_high: float
    limit: float = MC_RELATIVE_MAX

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

    @property
    def required_draws(self) -> int | None:
        """Suggested ``n_draws`` to pass (``None`` when no N can: the mean is not positive)."""
        if not math.isfinite(self.relative):
            return None
        return required_draws(self.n_draws, self.relative, self.limit)

    def as_dict(self) -> dict:
        return asdict(self) | {
            "relative_low": self.relative_low,
            "relative_high": self.relative_high,
            "passed": self.passed,
            "required_draws": self.required_draws,
        }


def monte_carlo_gate(summary: xr.Dataset) -> MonteCarloGate:
    """The Monte Carlo gate of an accounting summary (its ``total`` period)."""
    tot = summary.sel(period="total")
    return MonteCarloGate(
        n_draws=int(summary.attrs["n_draws"]),
        mean=float(tot.ner_mean),
        mcse_low=float(tot.ner_ci_low_mcse),
        mcse_high=float(tot.ner_ci_high_mcse),
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
    """Raise :class:`ConvergenceError` if the Monte Carlo gate fails and is not overridden."""
    if gate.passed or override:
        return
    if gate.required_draws is None:
        raise ConvergenceError(
            f"mean total NER is {gate.mean:,.0f} tCO2e (not positive): its relative Monte Carlo "
            f"error is undefined and no credits arise; rerun with {OVERRIDE_FLAG} to write the "
            "appendix anyway"
        )
    raise ConvergenceError(
        f"Monte Carlo error of the total-NER interval bounds is {100 * gate.relative:.3f}% of "
        f"the mean with {gate.n_draws:,} draws (limit {100 * gate.limit:g}%); raise "
        f"[simulation].n_draws (or --draws) to at least ~{gate.required_draws:,} "
        f"(the error scales as 1/sqrt(N)), or rerun with {OVERRIDE_FLAG}"
    )
