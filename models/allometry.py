"""Allometry and carbon conversion: pure functions used by the biomass model.

They work on NumPy arrays and on PyTensor tensors alike (arithmetic only).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field, replace
from importlib import resources

import numpy as np
from scipy import optimize

__all__ = [
    "CO2_PER_C",
    "CHAVE2014_RSE",
    "CHAVE2014_LN_A",
    "CHAVE2014_B",
    "Eq4Posterior",
    "load_eq4_posterior",
    "chave2014_agb",
    "GOODMAN2013_PALM",
    "goodman2013_palm_agb",
    "biomass_to_co2e",
    "chave2004_diameter_sd",
    "feldpausch_height",
    "loglog_height",
    "michaelis_menten_height",
    "weibull_height",
    "HD_FORMS",
    "HD_WEIGHTS",
    "HEIGHT_MODELS",
    "MIN_HEIGHTS",
    "FELDPAUSCH_WAMAZONIA",
    "HeightModel",
    "fit_height_model",
    "fit_height_form",
    "feldpausch_model",
]

#: Molecular-weight ratio of CO2 to C (44/12).
CO2_PER_C = 44.0 / 12.0
#: Residual standard error of Chave et al. (2014) Eq. 4 on the log scale.
CHAVE2014_RSE = 0.357
#: Published Eq. 4 coefficients: ln(0.0673) (bias-corrected intercept) and 0.976.
CHAVE2014_LN_A = math.log(0.0673)
CHAVE2014_B = 0.976


def chave2014_agb(wood_density, dbh_cm, height_m, ln_a=CHAVE2014_LN_A, b=CHAVE2014_B):
    """Above-ground biomass of a tree (kg), Chave et al. (2014) Eq. 4.

    ``AGB = exp(ln_a) * (rho * D**2 * H) ** b``; the published equation is
    ``AGB = 0.0673 * (rho * D**2 * H) ** 0.976`` (the defaults). The Monte Carlo
    passes one posterior draw ``ln_a = alpha + eps_i`` (intercept plus the tree's
    log-scale residual) and ``b = beta`` per iteration (:class:`Eq4Posterior`).
    This is the only implementation of Eq. 4 in reddsim.

    Parameters
    ----------
    wood_density : array_like
        Wood specific gravity rho (g/cm3).
    dbh_cm : array_like
        Diameter at breast height D (cm).
    height_m : array_like
        Total tree height H (m).
    ln_a, b : array_like
        Log intercept and exponent (broadcast with the tree arrays).

    Returns
    -------
    ndarray
        AGB in kg, broadcast over the inputs. The coefficient 0.0673 already
        includes the log-bias correction, so no further factor is applied.

    References
    ----------
    Chave, J. et al. (2014). Improved allometric models to estimate the
    aboveground biomass of tropical trees. Global Change Biology 20, 3177-3190,
    Eq. 4 (RSE 0.357).

    Examples
    --------
    >>> round(float(chave2014_agb(0.6, 30.0, 25.0)), 1)
    723.1
    """
    return np.exp(ln_a) * (wood_density * dbh_cm**2 * height_m) ** b


@dataclass(frozen=True)
class Eq4Posterior:
    """Posterior draws of Eq. 4's ``ln AGB = alpha + beta ln(rho D^2 H) + eps``.

    Fitted to the Chave et al. (2014) harvest data by ``models/data/fit_chave2014.py``
    (provenance in ``models/data/chave2014_eq4_posterior.json``).
    """

    alpha: np.ndarray
    beta: np.ndarray
    sigma: np.ndarray

    @property
    def size(self) -> int:
        return self.alpha.size

    def central(self) -> tuple[float, float, float]:
        """Posterior means of (alpha, beta, sigma)."""
        return float(self.alpha.mean()), float(self.beta.mean()), float(self.sigma.mean())


def load_eq4_posterior() -> Eq4Posterior:
    """The committed posterior draws of Eq. 4's coefficients (4,000 draws)."""
    text = resources.files("models").joinpath("data/chave2014_eq4_posterior.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    return Eq4Posterior(
        *(np.array([float(r[k]) for r in rows]) for k in ("alpha", "beta", "sigma"))
    )


#: Goodman et al. (2013) family-level palm model with diameter only:
#: ln AGB(kg) = a + b ln D(cm), residual SE on the log scale.
GOODMAN2013_PALM = {"a": -3.3488, "b": 2.7483, "rse": 0.588}


def goodman2013_palm_agb(dbh_cm, ln_residual=None):
    """Above-ground biomass of an arborescent palm (kg), Goodman et al. (2013).

    Family-level (Arecaceae) model with diameter only, fitted to 97-106 harvested
    Amazonian palms of nine species (among them Mauritia flexuosa, Iriartea
    deltoidea, Euterpe precatoria, Attalea phalerata):
    ``ln AGB = -3.3488 + 2.7483 ln D``, RSE 0.588. Without a residual the
    prediction carries Baskerville's correction ``exp(RSE^2 / 2)`` (the mean);
    with ``ln_residual`` (draws of N(0, RSE)) it does not.

    References
    ----------
    Goodman, R. C. et al. (2013). Amazon palm biomass and allometry. Forest
    Ecology and Management 310, 994-1004: the family-level AGB equation with
    diameter only (n = 97-106 palms; the coefficients are those used by
    published implementations of this equation, e.g. the ForestGEO AGB-flux
    code, ``exp(-3.3488 + 2.7483 ln D + 0.588^2 / 2)``; the paper's table itself
    was not available to check them against).

    Examples
    --------
    >>> round(float(goodman2013_palm_agb(30.0)), 1)
    478.9
    """
    c = GOODMAN2013_PALM
    d = np.asarray(dbh_cm, dtype=float)
    if ln_residual is None:
        return np.exp(c["a"] + c["b"] * np.log(d) + c["rse"] ** 2 / 2)
    return np.exp(c["a"] + c["b"] * np.log(d) + ln_residual)


def biomass_to_co2e(agb_mg, carbon_fraction, root_shoot):
    """Carbon stock (tCO2e) of above- plus below-ground biomass.

    ``CO2e = AGB * (1 + R) * CF * 44/12``

    Parameters
    ----------
    agb_mg : array_like
        Above-ground biomass (Mg dry matter, or Mg/ha for a density).
    carbon_fraction : array_like
        Carbon fraction of dry matter (IPCC 2006 Vol. 4 Table 4.3: 0.47).
    root_shoot : array_like
        Ratio of below- to above-ground biomass (IPCC 2006 Vol. 4 Table 4.4,
        tropical rainforest: 0.37, range 0.27-0.44).

    Returns
    -------
    ndarray
        tCO2e (or tCO2e/ha).
    """
    return agb_mg * (1.0 + root_shoot) * carbon_fraction * CO2_PER_C


# --------------------------------------------------------------------------- measurement error


def chave2004_diameter_sd(dbh_cm):
    """SD of a diameter measurement (cm), Chave et al. (2004).

    ``sd = 0.0062 * D + 0.0904`` for most trees; a small share of trees carries
    gross errors (:data:`GROSS_DIAMETER_SD`), as in BIOMASS ``AGBmonteCarlo``.

    References
    ----------
    Chave, J. et al. (2004). Error propagation and scaling for tropical forest
    biomass estimates. Phil. Trans. R. Soc. B 359, 409-420.

    Examples
    --------
    >>> round(float(chave2004_diameter_sd(30.0)), 4)
    0.2764
    """
    return 0.0062 * dbh_cm + 0.0904


# --------------------------------------------------------------------------- height-diameter models


def feldpausch_height(dbh_cm, a=46.263, b=0.0876, c=0.6072):
    """Tree height (m) from diameter, Feldpausch et al. (2012) Weibull form.

    ``H = a * (1 - exp(-b * D**c))``; defaults are the western-Amazonia
    coefficients (residual SE 5.277 m), Feldpausch et al. (2012) Table 3, as in
    BIOMASS ``feldCoef``.
    """
    return a * (1.0 - np.exp(-b * dbh_cm**c))


def loglog_height(dbh_cm, a, b):
    """Log-log height model ``H = exp(a + b * log D)`` (BIOMASS ``log1``)."""
    return np.exp(a + b * np.log(dbh_cm))


def _log_poly_height(dbh_cm, *coef):
    """``H = exp(sum_k coef_k (log D)^k)``: BIOMASS ``log1``, ``log2`` (and ``log3``)."""
    x = np.log(dbh_cm)
    return np.exp(sum(c * x**k for k, c in enumerate(coef)))


def michaelis_menten_height(dbh_cm, a, b):
    """Michaelis-Menten height model ``H = a * D / (b + D)`` (BIOMASS ``michaelis``)."""
    return a * dbh_cm / (b + dbh_cm)


def weibull_height(dbh_cm, a, b, c):
    """Weibull height model ``H = a (1 - exp(-(D / b)^c))`` (BIOMASS ``weibull``)."""
    return a * (1.0 - np.exp(-((dbh_cm / b) ** c)))


#: Candidate H-D forms (BIOMASS ``modelHD``; ``log3`` from BIOMASS <= 2.x) and weights.
HD_FORMS = ("log1", "log2", "log3", "weibull", "michaelis")
HD_WEIGHTS = ("none", "d2h")
#: Fewest measured heights a local H-D model is fitted to (BIOMASS ``modelHD`` refuses < 15).
MIN_HEIGHTS = 15
#: Feldpausch et al. (2012) Table 3, western Amazonia (covers Madre de Dios): a, b, c, RSE (m).
FELDPAUSCH_WAMAZONIA = (46.263, 0.0876, 0.6072, 5.277)

HEIGHT_MODELS = {
    "log1": _log_poly_height,
    "log2": _log_poly_height,
    "log3": _log_poly_height,
    "weibull": weibull_height,
    "michaelis": michaelis_menten_height,
    "feldpausch": feldpausch_height,
}


@dataclass(frozen=True)
class HeightModel:
    """A height-diameter model with its parameter uncertainty.

    Attributes
    ----------
    form : str
        One of :data:`HD_FORMS`, or ``"feldpausch"`` (regional model, not fitted).
    params : tuple of float
        Point estimates (least squares, weighted by D^2 H with ``weights="d2h"``).
    rse : float
        Residual standard error of height in metres (the selection criterion).
    rse_log : float
        Residual SE on the log scale (log forms; NaN otherwise).
    n : int
        Measured heights used in the fit (0 for the regional model).
    rse_by_form : dict
        RSE (m) of every candidate form fitted to the same heights.
    cov : ndarray or None
        Covariance of ``params`` (the least-squares sampling covariance, i.e. the
        posterior under flat priors); None when unknown (regional model).
    weights : {"none", "d2h"}
    source : str
        Where the model comes from ("local fit" or the regional reference).
    candidates : dict
        Every candidate form fitted to the same heights (form -> HeightModel).
    """

    form: str
    params: tuple
    rse: float
    rse_log: float
    n: int
    rse_by_form: dict = field(default_factory=dict)
    cov: np.ndarray | None = None
    weights: str = "none"
    source: str = "local fit"
    candidates: dict = field(default_factory=dict, repr=False)

    @property
    def is_log(self) -> bool:
        return self.form.startswith("log")

    def _mean(self, d, params):
        return HEIGHT_MODELS[self.form](d, *params)

    def predict(self, dbh_cm, params=None):
        """Expected height (m); log forms include Baskerville's correction ``exp(RSE^2/2)``."""
        d = np.asarray(dbh_cm, dtype=float)
        h = self._mean(d, self.params if params is None else params)
        return h * np.exp(self.rse_log**2 / 2) if self.is_log else h

    def sample(self, dbh_cm, gen: np.random.Generator, params=None):
        """Heights with prediction error, as BIOMASS ``predictHeight(err = TRUE)``.

        Log forms: ``exp(mean_log + N(0, RSE_log))``; others: ``mean + N(0, RSE)``;
        heights at or below 0 become 0.1 m.
        """
        d = np.asarray(dbh_cm, dtype=float)
        mean = self._mean(d, self.params if params is None else params)
        if self.is_log:
            return mean * np.exp(gen.normal(0.0, self.rse_log, d.shape))
        h = mean + gen.normal(0.0, self.rse, d.shape)
        return np.where(h <= 0, 0.1, h)

    def draw_params(self, gen: np.random.Generator, n: int) -> np.ndarray:
        """``n`` parameter draws, shape (n, k): multivariate normal around ``params``."""
        p = np.asarray(self.params, dtype=float)
        if self.cov is None:
            return np.repeat(p[None, :], n, axis=0)
        draws = gen.multivariate_normal(p, self.cov, size=n, method="cholesky")
        if not self.is_log:  # Weibull and Michaelis-Menten parameters are positive
            for _ in range(100):
                bad = np.any(draws <= 0, axis=1)
                if not bad.any():
                    break
                draws[bad] = gen.multivariate_normal(p, self.cov, size=int(bad.sum()))
        return draws


def _weights(d, h, weights: str) -> np.ndarray:
    if weights not in HD_WEIGHTS:
        raise ValueError(f"H-D weights must be one of {', '.join(HD_WEIGHTS)}, got {weights!r}")
    w = d**2 * h if weights == "d2h" else np.ones_like(d)
    return w / w.sum()  # BIOMASS modelHD: weight proportional to tree volume D^2 H


def fit_height_form(dbh_cm, height_m, form: str, weights: str = "none") -> HeightModel:
    """Fit one H-D form by (weighted) least squares, as BIOMASS ``modelHD(bayesian = FALSE)``.

    Log forms are linear in ``log D`` (``lm`` on ``log H``); Weibull and
    Michaelis-Menten by non-linear least squares on H. The RSE (m and log) is
    ``sqrt(sum(residual^2) / (n - p))`` of unweighted residuals (BIOMASS does the
    same for weighted fits); ``cov`` is the weighted least-squares covariance of
    the parameters (R's ``vcov``).

    Raises
    ------
    ValueError
        Unknown form or weights, or a non-linear fit that does not converge.
    """
    d = np.asarray(dbh_cm, dtype=float)
    h = np.asarray(height_m, dtype=float)
    w = _weights(d, h, weights)
    if form.startswith("log") and form in HD_FORMS:
        k = int(form[3:])
        x = np.vander(np.log(d), k + 1, increasing=True)
        sw = np.sqrt(w)
        coef, *_ = np.linalg.lstsq(x * sw[:, None], np.log(h) * sw, rcond=None)
        resid = np.log(h) - x @ coef
        dof = d.size - (k + 1)
        rse_log = float(np.sqrt(np.sum(resid**2) / dof))
        sigma2_w = np.sum(w * resid**2) / dof
        cov = sigma2_w * np.linalg.inv(x.T @ (w[:, None] * x))
        model = HeightModel(
            form, tuple(float(c) for c in coef), 0.0, rse_log, d.size, cov=cov, weights=weights
        )
    elif form in ("weibull", "michaelis"):
        f = HEIGHT_MODELS[form]
        p0 = (
            (float(np.quantile(h, 0.9)), 24.9, 0.8)  # BIOMASS weibullFunction start values
            if form == "weibull"
            else (float(h.max()) * 1.2, float(np.median(d)))
        )
        try:
            params, cov = optimize.curve_fit(f, d, h, p0=p0, sigma=1.0 / np.sqrt(w), maxfev=20_000)
        except (RuntimeError, optimize.OptimizeWarning) as err:
            raise ValueError(f"the {form} H-D model does not converge: {err}") from err
        if not np.all(np.isfinite(cov)):
            raise ValueError(f"the {form} H-D model's parameters are not identified")
        model = HeightModel(
            form,
            tuple(float(p) for p in params),
            0.0,
            float("nan"),
            d.size,
            cov=cov,
            weights=weights,
        )
    else:
        raise ValueError(f"H-D model must be one of {', '.join(HD_FORMS)}, got {form!r}")
    dof = d.size - len(model.params)
    rse = float(np.sqrt(np.sum((h - model.predict(d)) ** 2) / dof))
    return replace(model, rse=rse)


def fit_height_model(dbh_cm, height_m, form: str = "auto", weights: str = "none") -> HeightModel:
    """Fit the candidate H-D forms; keep ``form``, or with ``"auto"`` the one of lowest RSE.

    Criterion: the residual standard error of height in metres, the statistic
    BIOMASS ``modelHD`` reports for choosing among its models (its vignette picks
    the lowest). Every candidate that converges is kept in ``candidates`` so its
    AGB can be reported (model-choice spread).

    Raises
    ------
    ValueError
        With fewer than :data:`MIN_HEIGHTS` measured heights, or if the requested
        form does not converge.
    """
    d = np.asarray(dbh_cm, dtype=float)
    h = np.asarray(height_m, dtype=float)
    if d.size < MIN_HEIGHTS:
        raise ValueError(
            f"a height-diameter model needs at least {MIN_HEIGHTS} measured heights, got {d.size}"
        )
    if form != "auto" and form not in HD_FORMS:
        raise ValueError(f"H-D model must be auto or one of {', '.join(HD_FORMS)}, got {form!r}")
    candidates, errors = {}, {}
    for f in HD_FORMS:
        try:
            candidates[f] = fit_height_form(d, h, f, weights)
        except ValueError as err:
            errors[f] = str(err)
    if form != "auto" and form not in candidates:
        raise ValueError(errors[form])
    rse = {f: m.rse for f, m in candidates.items()}
    chosen = form if form != "auto" else min(rse, key=rse.get)
    return replace(candidates[chosen], rse_by_form=rse, candidates=candidates)


def feldpausch_model(region: tuple = FELDPAUSCH_WAMAZONIA) -> HeightModel:
    """The regional H-D model of Feldpausch et al. (2012) (default: western Amazonia).

    Used where too few heights were measured. Its residual SE (m) is propagated
    per tree; its coefficients' uncertainty is not published, so not propagated.
    """
    a, b, c, rse = region
    return HeightModel(
        "feldpausch",
        (a, b, c),
        rse,
        float("nan"),
        0,
        source="Feldpausch et al. (2012) Table 3, western Amazonia",
    )
