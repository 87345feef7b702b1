"""mocaredd's own accounting: reference level, monitored emissions and ER by Monte Carlo.

A transcription of what FAO Open Foris mocaredd (github.com/openforis/mocaredd, MIT)
computes from a workbook, so that ``reddsim run`` of a directory imported without areas,
leakage belt or buffer reproduces mocaredd's numbers within Monte Carlo error. It does
not re-model anything: the inputs are drawn as the workbook says, combined draw by draw
as mocaredd combines them, rounded where mocaredd rounds.

The recipe, by mocaredd function (files ``R/fct_*.R``):

``fct_make_mcs``
    each input drawn ``normal(round(mean, 3), round(se, 3))`` (negative draws set to 0
    when ``user_inputs.trunc_pdf``) or ``beta(round(a, 3), round(b, 3))`` (never
    truncated); every draw rounded to 3 decimals (:func:`draw_input`).
``fct_make_formula``
    a land use's carbon stock ``(AGB + BGB) * CF + DW + LI + SOC`` with ``CF`` only for
    ``c_unit = DM``, ``BGB = AGB * RS`` given a root-to-shoot ratio, absent pools left
    out, ``ALL`` a total (:func:`carbon_stock`).
``fct_combine_mcs_E``
    degraded land uses (a ``DG_ratio`` element): ``DG_ratio * C_intact`` when
    ``dg_pool = ALL``, else ``DG_ratio * C_intact + (1 - DG_ratio) * C_intact_noDG`` with
    ``C_intact_noDG`` the sum of the intact land use's pools that are not in ``dg_pool``
    (:func:`degraded_stock`); stocks rounded to 3 decimals; per transition
    ``EF = round((C_i - C_f) * 44 / 12, 3)`` and ``E = round(AD * EF, 3)``
    (:func:`emission_factor`, :func:`emissions`).
``fct_combine_mcs_P``
    per period type (``REF``, ``MON1``, ...), the emissions of its periods summed, times
    each period's years when ``ad_annual`` (annual areas), divided by the type's total
    years, rounded to a whole tCO2e/yr (:func:`period_level`).
``fct_combine_mcs_ER``
    ``ER = E_REF - E_MON`` draw by draw, for each monitoring type (:func:`emission_reductions`).
``fct_calc_res``
    median, CI from the ``alpha/2`` and ``1 - alpha/2`` quantiles (R type 7, NumPy's
    ``linear``) with ``alpha = 1 - conf_level``, margin of error and % uncertainty, all
    rounded (:func:`summarise`; the mean and SD are added).

The draws are NumPy's PCG64, not R's Mersenne Twister, so the numbers agree with
mocaredd's in distribution (within Monte Carlo error), not draw for draw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from simulator.data.mocaredd import MocareddInputs, Pdf

__all__ = [
    "CO2_PER_C_MOCAREDD",
    "CHUNK",
    "draw_input",
    "carbon_stock",
    "degraded_stock",
    "emission_factor",
    "emissions",
    "period_level",
    "emission_reductions",
    "summarise",
    "MocareddDraws",
    "simulate",
    "results",
]

#: mocaredd multiplies by 44 and divides by 12 (``fct_combine_mcs_E``), in that order.
CO2_PER_C_MOCAREDD = (44, 12)

#: Draws per chunk: each chunk has its own child seed, so a run's draws depend on the seed
#: and N only, and memory stays bounded for any N.
CHUNK = 1 << 16


def _r3(x):
    return np.round(x, 3)


def draw_input(rng: np.random.Generator, n: int, pdf: Pdf, trunc: bool) -> np.ndarray:
    """``fct_make_mcs``: n draws of one workbook input, rounded to 3 decimals."""
    if pdf.pdf == "normal":
        x = rng.normal(round(pdf.mean, 3), round(pdf.se, 3), n)
        if trunc:
            x[x < 0] = 0.0
    elif pdf.pdf == "beta":
        x = rng.beta(round(pdf.a, 3), round(pdf.b, 3), n)
    else:
        raise ValueError(f"pdf {pdf.pdf!r}: mocaredd draws normal or beta only")
    return _r3(x)


def carbon_stock(pools: dict[str, np.ndarray], order: list[str], c_unit: str, cf=None):
    """``fct_make_formula`` evaluated: a land use's total carbon stock (tC/ha), unrounded.

    Parameters
    ----------
    pools : dict
        Draws of the land use's elements (``AGB``, ``BGB``, ``RS``, ``DW``, ``LI``,
        ``SOC``, ``ALL``).
    order : list of str
        The elements in the workbook's row order: mocaredd takes the stock as ``ALL``
        when the first element is ``ALL``.
    c_unit : str
        ``"C"`` or ``"DM"`` (AGB and BGB in dry matter, times the carbon fraction ``cf``).
    """
    if order and order[0] == "ALL":
        return pools["ALL"]
    if "AGB" not in pools:
        raise ValueError(f"no AGB among {order}: mocaredd's stock formula needs it")
    agb = pools["AGB"]
    if "BGB" in pools:
        bio = agb + pools["BGB"]
    elif "RS" in pools:
        bio = agb + agb * pools["RS"]
    else:
        bio = agb
    if c_unit == "DM":
        if cf is None:
            raise ValueError("c_unit DM needs the carbon fraction (user_inputs.c_fraction)")
        bio = bio * cf
    total = bio
    for pool in ("DW", "LI", "SOC"):
        if pool in pools:
            total = total + pools[pool]
    return total


def degraded_stock(dg_ratio, c_intact, c_intact_nodg=None):
    """``fct_combine_mcs_E`` step 3.2: the stock of a degraded land use, unrounded.

    ``DG_ratio * C_intact`` when every pool degrades (``dg_pool = ALL``, ``c_intact_nodg``
    None), else ``DG_ratio * C_intact + (1 - DG_ratio) * C_intact_noDG``.
    """
    if c_intact_nodg is None:
        return dg_ratio * c_intact
    return dg_ratio * c_intact + (1 - dg_ratio) * c_intact_nodg


def emission_factor(c_initial, c_final):
    """``EF = round((C_i - C_f) * 44 / 12, 3)`` (tCO2e/ha)."""
    num, den = CO2_PER_C_MOCAREDD
    return _r3((np.asarray(c_initial) - np.asarray(c_final)) * num / den)


def emissions(area, ef):
    """``E = round(AD * EF, 3)`` (tCO2e, or tCO2e/yr for annual areas)."""
    return _r3(np.asarray(area) * np.asarray(ef))


def period_level(e_by_period: dict[str, np.ndarray], years: dict[str, int], ad_annual: bool):
    """``fct_combine_mcs_P``: one period type's emission level (tCO2e/yr), whole numbers.

    Parameters
    ----------
    e_by_period : dict
        Per period of the type, the draws of its transitions' emissions summed.
    years : dict
        Each period's ``nb_years``.
    ad_annual : bool
        Areas per year: a period counts ``E * nb_years``; else ``E`` (a period total).
        Either way the sum is divided by the type's total years.
    """
    total_years = sum(years[p] for p in e_by_period)
    acc = 0.0
    for p, e in e_by_period.items():
        acc = acc + (e * years[p] if ad_annual else e)
    return np.round(acc / total_years, 0)


def emission_reductions(ref, mon):
    """``fct_combine_mcs_ER``: ``ER = E_REF - E_MON`` draw by draw."""
    return np.asarray(ref) - np.asarray(mon)


def _r0(x: float) -> float:
    return float(np.round(x, 0))


def summarise(draws: np.ndarray, conf_level: float) -> dict:
    """``fct_calc_res`` of one quantity, plus its mean and SD.

    Returns ``mean``, ``sd``, ``median``, ``ci_low``, ``ci_high`` (unrounded, quantiles
    R type 7) and mocaredd's rounded ``E`` (the median), ``E_U`` (%), ``E_ME``,
    ``E_cilower``, ``E_ciupper``.
    """
    x = np.asarray(draws, dtype=float)
    alpha = 1 - conf_level
    lo, med, hi = np.quantile(x, [alpha / 2, 0.5, 1 - alpha / 2])
    e, e_lo, e_hi = _r0(med), _r0(lo), _r0(hi)
    me = _r0((e_hi - e_lo) / 2)
    return {
        "n": int(x.size),
        "mean": float(x.mean()),
        "sd": float(x.std(ddof=1)),
        "median": float(med),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "E": e,
        "E_U": _r0(me / e * 100) if e != 0 else None,
        "E_ME": me,
        "E_cilower": e_lo,
        "E_ciupper": e_hi,
    }


@dataclass
class MocareddDraws:
    """Period-level draws: the reference level, each monitoring type, ER by type."""

    ref_type: str
    ref: np.ndarray
    mon: dict[str, np.ndarray]
    er: dict[str, np.ndarray]
    conf_level: float
    n: int
    seed: int


def _land_use_stocks(inputs: MocareddInputs, rng, n: int) -> dict[str, np.ndarray]:
    """Every land use's stock draws, as ``fct_combine_mcs_E`` steps 1-3 compute them."""
    s = inputs.settings
    cf = None
    if s.c_fraction is not None and s.c_unit == "DM":
        cf = draw_input(rng, n, s.c_fraction, s.trunc_pdf)
    by_lu: dict[str, dict[str, np.ndarray]] = {}
    order: dict[str, list[str]] = {}
    for el in inputs.elements:
        by_lu.setdefault(el.lu, {})[el.element] = draw_input(rng, n, el.value, s.trunc_pdf)
        order.setdefault(el.lu, []).append(el.element)
    degraded = [lu for lu, pools in by_lu.items() if "DG_ratio" in pools]
    if degraded and not s.dg_ext:
        raise ValueError("DG_ratio given but user_inputs.dg_ext is NA")
    stocks: dict[str, np.ndarray] = {}
    for lu, pools in by_lu.items():
        if lu not in degraded:
            stocks[lu] = _r3(carbon_stock(pools, order[lu], s.c_unit, cf))
    if degraded:
        intact_of = {lu: re.sub(s.dg_ext, "", lu, count=1) for lu in degraded}
        dg_all = s.dg_pool is None or s.dg_pool.strip() == "ALL"
        expool: list[str] = []
        if not dg_all:
            allpool = list(
                dict.fromkeys(
                    el.element for el in inputs.elements if el.lu in set(intact_of.values())
                )
            )
            dg_pool = [p.strip() for p in s.dg_pool.strip().split(",")]
            expool = [p for p in allpool if p not in dg_pool]
        for lu in degraded:
            intact = intact_of[lu]
            if intact not in stocks:
                raise ValueError(f"degraded land use {lu}: no stock for intact {intact}")
            nodg = None
            if not dg_all:
                missing = [p for p in expool if p not in by_lu[intact]]
                if missing:
                    raise ValueError(f"intact land use {intact} lacks pools {missing} (NA)")
                nodg = sum((by_lu[intact][p] for p in expool), np.zeros(n))
            stocks[lu] = _r3(degraded_stock(by_lu[lu]["DG_ratio"], stocks[intact], nodg))
    return stocks


def _chunk(inputs: MocareddInputs, rng, n: int) -> dict[str, np.ndarray]:
    """Per period type, the level draws of one chunk (``fct_combine_mcs_E`` and ``_P``)."""
    s = inputs.settings
    stocks = _land_use_stocks(inputs, rng, n)
    e_period: dict[str, np.ndarray] = {p.period_no: np.zeros(n) for p in inputs.periods}
    for t in inputs.transitions:  # areas are drawn after all stocks, in row order
        area = draw_input(rng, n, t.area, s.trunc_pdf)
        ef = emission_factor(stocks[t.initial], stocks[t.final])
        e_period[t.period] = e_period[t.period] + emissions(area, ef)
    years = {p.period_no: p.nb_years for p in inputs.periods}
    levels = {}
    for ptype in dict.fromkeys(p.period_type for p in inputs.periods):
        names = [p.period_no for p in inputs.periods if p.period_type == ptype]
        levels[ptype] = period_level({p: e_period[p] for p in names}, years, s.ad_annual)
    return levels


def simulate(inputs: MocareddInputs, n: int, seed: int) -> MocareddDraws:
    """mocaredd's Monte Carlo of a workbook: REF, MON and ER draws (N = ``n``).

    Draws come in chunks of :data:`CHUNK`, chunk ``k`` from
    ``SeedSequence(seed).spawn``'s k-th child, so the result depends on ``seed`` and
    ``n`` only.
    """
    if n < 2:
        raise ValueError("at least 2 draws")
    types = list(dict.fromkeys(p.period_type for p in inputs.periods))
    ref_types = [t for t in types if "REF" in t]  # str_detect(period_type, "REF")
    mon_types = [t for t in types if "MON" in t]  # str_detect(period_type, "MON")
    if len(ref_types) != 1:
        raise ValueError(f"exactly one reference period type needed, found {ref_types}")
    n_chunks = -(-n // CHUNK)
    children = np.random.SeedSequence(seed).spawn(n_chunks)
    parts: dict[str, list[np.ndarray]] = {t: [] for t in types}
    for k, child in enumerate(children):
        size = min(CHUNK, n - k * CHUNK)
        levels = _chunk(inputs, np.random.Generator(np.random.PCG64(child)), size)
        for t in types:
            parts[t].append(levels[t])
    level = {t: np.concatenate(parts[t]) for t in types}
    ref = level[ref_types[0]]
    mon = {t: level[t] for t in mon_types}
    er = {t: emission_reductions(ref, m) for t, m in mon.items()}
    return MocareddDraws(ref_types[0], ref, mon, er, inputs.settings.conf_level, n, seed)


def results(d: MocareddDraws) -> list[dict]:
    """One record per estimate: ``quantity`` (REF, MON, ER), ``period`` and :func:`summarise`."""
    rows = [{"quantity": "REF", "period": d.ref_type, **summarise(d.ref, d.conf_level)}]
    rows += [
        {"quantity": "MON", "period": t, **summarise(x, d.conf_level)} for t, x in d.mon.items()
    ]
    rows += [{"quantity": "ER", "period": t, **summarise(x, d.conf_level)} for t, x in d.er.items()]
    return rows
