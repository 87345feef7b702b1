"""The annual loss fraction of a forest under a deforestation hazard: one formula, one place.

A forest exposed for one year to a constant hazard ``h`` (events per hectare-year,
``log h = eta``) loses the fraction::

    r = 1 - exp(-h) = 1 - exp(-exp(eta))

the complementary log-log (cloglog) link, which maps any real ``eta`` into
``[0, 1)`` (McCullagh & Nelder 1989, *Generalized Linear Models*, §4.3.1; it is
the discrete-time form of a proportional-hazards model, Prentice & Gloeckler 1978,
Biometrics 34:57). Relative risks and the project's effect multiply the hazard,
so they enter as log offsets: stratum ``s`` with relative risk ``w_s`` under a
project that prevents the fraction ``e`` of the hazard loses
``loss_fraction(eta + log w_s + log(1 - e))``. For small rates ``r ~ h`` and the
project's loss is ``(1 - e)`` times the baseline's, as in DESIGN §3.4; unlike
``r (1 - e)`` it stays below 1 for any ``e < 1`` (including ``e < 0``, a project
that increases loss).

:func:`loss_fraction` is compiled by numba and called by the kernel (scalars),
by the NumPy reference, the sensitivity analysis and the report (arrays); the
rate model (:mod:`models.deforestation`) writes the same formula in PyTensor and
is tested against it.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["loss_fraction", "log_kept"]


@numba.njit(cache=True)
def loss_fraction(log_hazard):
    """Annual loss fraction ``1 - exp(-exp(log_hazard))``, computed as ``-expm1(-exp(.))``.

    Accepts a float or an array (elementwise); ``-inf`` gives 0 and large values 1.
    """
    return -np.expm1(-np.exp(log_hazard))


@numba.njit(cache=True)
def log_kept(effectiveness):
    """Log offset of the project: ``log(1 - e)`` (``-inf`` for ``e = 1``: no loss)."""
    return np.log(1.0 - effectiveness)
