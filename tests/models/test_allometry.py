"""Allometry and carbon conversion against published values."""

import numpy as np
import pytest

from models.allometry import CO2_PER_C, biomass_to_co2e, chave2014_agb


def test_chave2014_check_value():
    # Chave et al. (2014) Eq. 4: D = 30 cm, rho = 0.6 g/cm3, H = 25 m -> 723.1 kg (DESIGN §3.1)
    assert chave2014_agb(0.6, 30.0, 25.0) == pytest.approx(723.1, abs=0.05)


def test_chave2014_is_vectorised_and_monotone():
    d = np.array([10.0, 30.0, 100.0])
    agb = chave2014_agb(0.6, d, 25.0)
    assert agb.shape == (3,) and np.all(np.diff(agb) > 0)
    # exponent 0.976 on rho*D^2*H: doubling D multiplies AGB by 4**0.976
    assert chave2014_agb(0.6, 60.0, 25.0) / chave2014_agb(0.6, 30.0, 25.0) == pytest.approx(
        4**0.976
    )


def test_winrock_calibration_identity():
    # DESIGN §4: 316 Mg/ha AGB x 0.47 x 44/12 is ~545 tCO2/ha (79.4 Mt over 145,700 ha)
    assert biomass_to_co2e(316.0, 0.47, 0.0) == pytest.approx(79.4e6 / 145_700, rel=0.002)
    assert biomass_to_co2e(1.0, 0.5, 0.37) == pytest.approx(1.37 * 0.5 * CO2_PER_C)
