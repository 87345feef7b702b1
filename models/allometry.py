"""Allometry and carbon conversion: pure functions used by the biomass model.

They work on NumPy arrays and on PyTensor tensors alike (arithmetic only).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize

__all__ = [
    "CO2_PER_C",
    "CHAVE2014_RSE",
    "chave2014_agb",
    "biomass_to_co2e",
    "chave2004_diameter_sd",
    "feldpausch_height",
    "loglog_height",
    "michaelis_menten_height",
    "HEIGHT_MODELS",
    "HeightModel",
    "fit_height_model",
]

#: Molecular-weight ratio of CO2 to C (44/12).
CO2_PER_C = 44.0 / 12.0
#: Residual standard error of Chave et al. (2014) Eq. 4 on the log scale.
CHAVE2014_RSE = 0.357


def chave2014_agb(wood_density, dbh_cm, height_m):
    """Above-ground biomass of a tree (kg), Chave et al. (2014) Eq. 4.

    ``AGB = 0.0673 * (rho * D**2 * H) ** 0.976``

    Parameters
    ----------
    wood_density : array_like
        Wood specific gravity rho (g/cm3).
    dbh_cm : array_like
        Diameter at breast height D (cm).
    height_m : array_like
        Total tree height H (m).

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
    return 0.0673 * (wood_density * dbh_cm**2 * height_m) ** 0.976


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
    coefficients (residual SE 5.28 m), as in BIOMASS ``feldCoef``.
    """
    return a * (1.0 - np.exp(-b * dbh_cm**c))


def loglog_height(dbh_cm, a, b):
    """Log-log height model ``H = exp(a + b * log D)``."""
    return np.exp(a + b * np.log(dbh_cm))


def michaelis_menten_height(dbh_cm, a, b):
    """Michaelis-Menten height model ``H = a * D / (b + D)``."""
    return a * dbh_cm / (b + dbh_cm)


HEIGHT_MODELS = {"loglog": loglog_height, "michaelis_menten": michaelis_menten_height}


@dataclass(frozen=True)
class HeightModel:
    """A fitted height-diameter model.

    Attributes
    ----------
    form : {"loglog", "michaelis_menten"}
    params : tuple of float
    rse : float
        Residual standard error of height (m), the selection criterion.
    rse_log : float
        Residual SE on the log scale (log-log form only; NaN otherwise).
    n : int
        Trees with measured height used in the fit.
    rse_by_form : dict
        RSE (m) of every candidate form.
    """

    form: str
    params: tuple
    rse: float
    rse_log: float
    n: int
    rse_by_form: dict

    def predict(self, dbh_cm):
        """Expected height (m); the log-log form includes Baskerville's correction."""
        h = HEIGHT_MODELS[self.form](np.asarray(dbh_cm, dtype=float), *self.params)
        return h * np.exp(self.rse_log**2 / 2) if self.form == "loglog" else h

    def sample(self, dbh_cm, gen: np.random.Generator):
        """Heights with prediction error: log-scale residual for log-log, metres otherwise.

        As BIOMASS ``predictHeight(err = TRUE)``; heights at or below 0 become 0.1 m.
        """
        d = np.asarray(dbh_cm, dtype=float)
        mean = HEIGHT_MODELS[self.form](d, *self.params)
        if self.form == "loglog":
            return mean * np.exp(gen.normal(0.0, self.rse_log, d.shape))
        h = mean + gen.normal(0.0, self.rse, d.shape)
        return np.where(h <= 0, 0.1, h)


def fit_height_model(dbh_cm, height_m) -> HeightModel:
    """Fit log-log and Michaelis-Menten H-D models; keep the one with the lower RSE.

    The log-log model is fitted on the log scale (ordinary least squares), the
    Michaelis-Menten model by non-linear least squares on heights. Both are
    compared by the RSE of height in metres, ``sqrt(sum(residual^2) / (n - 2))``,
    the statistic BIOMASS ``modelHD`` reports for choosing among H-D models.

    Raises
    ------
    ValueError
        With fewer than 10 measured heights.
    """
    d = np.asarray(dbh_cm, dtype=float)
    h = np.asarray(height_m, dtype=float)
    if d.size < 10:
        raise ValueError(
            f"a height-diameter model needs at least 10 measured heights, got {d.size}"
        )
    slope, intercept = np.polyfit(np.log(d), np.log(h), 1)
    resid_log = np.log(h) - (intercept + slope * np.log(d))
    rse_log = float(np.sqrt(np.sum(resid_log**2) / (d.size - 2)))
    p0 = (float(h.max()) * 1.2, float(np.median(d)))
    mm, _ = optimize.curve_fit(michaelis_menten_height, d, h, p0=p0, maxfev=10_000)
    candidates = {
        "loglog": HeightModel("loglog", (float(intercept), float(slope)), 0.0, rse_log, d.size, {}),
        "michaelis_menten": HeightModel(
            "michaelis_menten", (float(mm[0]), float(mm[1])), 0.0, float("nan"), d.size, {}
        ),
    }
    rse = {
        form: float(np.sqrt(np.sum((h - m.predict(d)) ** 2) / (d.size - 2)))
        for form, m in candidates.items()
    }
    best = min(rse, key=rse.get)
    return replace(candidates[best], rse=rse[best], rse_by_form=rse)
