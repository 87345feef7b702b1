"""The appendix's worked equations reproduce from the printed numbers, which are the run's."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.accounting.standards import (
    art_trees_deduction_fraction,
    fcpf_conservativeness_factor,
    vcs_deduction_fraction,
    vcs_mr44_discount_factor,
)
from simulator.report.arithmetic import deduction_chain, difference, reproduces, scaled, value

RULES = {
    "vcs": vcs_deduction_fraction,
    "mr44": vcs_mr44_discount_factor,
    "art": art_trees_deduction_fraction,
    "fcpf": fcpf_conservativeness_factor,
}


def _rounded(x: float, printed: str) -> bool:
    """``printed`` is ``x`` (its exact binary value) rounded at the decimals it shows."""
    return reproduces(Decimal(x), printed)


def _redo(s: dict, rule: str) -> Decimal:
    """The deduction re-computed from the printed strings alone, as a reader would."""
    ucl, lcl, base = value(s["ucl"]), value(s["lcl"]), value(s["base"])
    if s["form"] == "none":
        return Decimal(0)
    if s["form"] == "all":
        return base
    if rule == "vcs":
        return (ucl - lcl) / 2 - Decimal("0.15") * base
    if rule == "mr44":
        return (ucl - lcl) / 2 * Decimal("0.4307") / Decimal("1.6449")
    if rule == "art":
        return base * Decimal("0.524417") * value(s["u_digits"]) / Decimal("1.645006")
    return base * value(s["fraction"])


def _chain(rule, mean, low, high, base):
    u = (high - low) / (2 * mean)
    frac = float(RULES[rule](u))
    s = deduction_chain(
        rule,
        high=high,
        low=low,
        centre=mean,
        base=base,
        u=u,
        fraction=frac,
        deduction=base * frac,
    )
    return s, u, base * frac


def test_a_four_decimal_factor_does_not_reproduce_a_seven_digit_product():
    # 1,804,742 x 0.1332 = 240,392, not the deduction 240,384 it stood for
    assert not scaled("0.1332", 1_804_742.0, 240_384.0)["reproduces"]
    ner = 1_804_742.0
    s, _, deduction = _chain("vcs", ner, 0.72 * ner, 1.58 * ner, ner)
    assert s["reproduces"] and s["form"] == "identity"
    assert reproduces(_redo(s, "vcs"), s["deduction"]) and _rounded(deduction, s["deduction"])


@settings(max_examples=300, deadline=None)
@given(
    rule=st.sampled_from(sorted(RULES)),
    mean=st.floats(1e2, 1e8),
    lo_share=st.floats(0.0, 0.99),
    hi_share=st.floats(0.01, 2.0),
    stock_share=st.floats(1.0, 1.5),
)
def test_every_line_of_a_deduction_reproduces_from_the_page(
    rule, mean, lo_share, hi_share, stock_share
):
    low, high = mean * (1 - lo_share), mean * (1 + hi_share)
    base = mean * stock_share if rule == "art" else mean
    s, u, deduction = _chain(rule, mean, low, high, base)
    assert s["reproduces"], s
    # the printed results are the run's numbers, rounded
    assert _rounded(deduction, s["deduction"]) and _rounded(u, s["u"])
    # and re-doing each line from the page gives its result
    assert reproduces(_redo(s, rule), s["deduction"])
    if rule != "art":
        hw = (value(s["ucl"]) - value(s["lcl"])) / (2 * value(s["centre"]))
        assert reproduces(hw, s["u"]) and value(s["u_pct"]) == value(s["u"])
    if rule == "vcs":
        assert value(s["f"]) == min(1, 1 - value(s["u"]) + Decimal("0.15"))


@settings(max_examples=300, deadline=None)
@given(a=st.floats(0, 1e8), b=st.floats(0, 1e8), pct=st.sampled_from(["0.1", "0.15", "0.2"]))
def test_differences_and_buffers_reproduce(a, b, pct):
    d = difference(a, b, a - b)
    assert d["reproduces"] and _rounded(a - b, d["result"])
    assert reproduces(value(d["a"]) - value(d["b"]), d["result"])
    buffer = float(pct) * a
    s = scaled(pct, a, buffer)
    assert s["reproduces"] and _rounded(buffer, s["result"])
    assert reproduces(value(s["factor"]) * value(s["base"]), s["result"])


def test_whole_tonnes_when_they_suffice_else_decimals():
    d = difference(1_683_853.2, 921_115.1, 1_683_853.2 - 921_115.1)
    assert (d["a"], d["b"], d["result"]) == ("1,683,853", "921,115", "762,738")
    # 10.4 - 0.6 = 9.8 prints 10; but 10 - 1 = 9: one decimal then
    d = difference(10.4, 0.6, 9.8)
    assert d["reproduces"] and (d["a"], d["b"], d["result"]) == ("10.4", "0.6", "9.8")
    assert value("−1,234.5") == Decimal("-1234.5") and value("69.70 %") == Decimal("0.697")
