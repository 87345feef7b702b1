"""Allometry and carbon conversion: pure functions used by the biomass model.

They work on NumPy arrays and on PyTensor tensors alike (arithmetic only).
"""

from __future__ import annotations

__all__ = [
    "CO2_PER_C",
    "CHAVE2014_RSE",
    "chave2014_agb",
    "biomass_to_co2e",
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
