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


def test_eq4_posterior_matches_the_published_coefficients():
    # Chave et al. (2014) Eq. 4: 0.0673 = exp(alpha + sigma^2/2), beta 0.976, RSE 0.357
    from models.allometry import load_eq4_posterior

    post = load_eq4_posterior()
    assert post.size == 4000
    a, b, s = post.alpha, post.beta, post.sigma
    assert np.mean(np.exp(a + s**2 / 2)) == pytest.approx(0.0673, rel=0.015)
    assert np.mean(b) == pytest.approx(0.976, abs=0.003)
    assert np.mean(s) == pytest.approx(0.357, abs=0.003)
    # posterior, not a point: alpha and beta are strongly (negatively) correlated
    assert 0.005 < a.std() < 0.05 and np.corrcoef(a, b)[0, 1] < -0.9


def test_palm_model_value():
    from models.allometry import goodman2013_palm_agb

    # ln AGB = -3.3488 + 2.7483 ln 30, times exp(0.588^2 / 2)
    assert goodman2013_palm_agb(30.0) == pytest.approx(
        np.exp(-3.3488 + 2.7483 * np.log(30.0) + 0.588**2 / 2)
    )
