"""Worked equations whose printed numbers reproduce the printed result.

An auditor re-does the appendix's arithmetic from the numbers on the page. Each
function here prints an equation's operands and result with the fewest digits for
which that works: it renders the numbers, re-computes the equation **from the
printed strings** in exact decimal arithmetic, rounds to the result's printed
precision and keeps the first rendering that gives the printed result. Whole
tonnes are tried first, then one, two, three decimals; a factor gets as many
decimals as the product needs to be right to the unit.

The results printed are always the run's own numbers (the tables'), rounded: the
equations are never bent to fit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_EVEN, Decimal

__all__ = [
    "fixed",
    "value",
    "reproduces",
    "first_reproducing",
    "difference",
    "scaled",
    "half_width_ratio",
    "deduction_chain",
]

#: Decimals tried for tonnes (whole first) and for the fractions of a rule's factor.
TONNE_DECIMALS = tuple(range(7))
FACTOR_DECIMALS = tuple(range(4, 13))


def fixed(x: float, decimals: int) -> str:
    """``x`` with thousands separators and ``decimals`` decimals."""
    return f"{x:,.{decimals}f}"


def value(text: str) -> Decimal:
    """The exact decimal a printed number stands for (``"1,234.5"``, ``"69.70 %"``)."""
    t = text.replace(",", "").replace("−", "-").strip()
    if t.endswith("%"):
        return Decimal(t[:-1].strip()) / 100
    return Decimal(t)


def _decimals(text: str) -> int:
    t = text.rstrip("% ").strip()
    return len(t.split(".")[1]) if "." in t else 0


def reproduces(computed: Decimal, printed: str) -> bool:
    """Whether ``computed`` rounds to ``printed`` at the decimals ``printed`` shows."""
    places = _decimals(printed) + (2 if printed.rstrip().endswith("%") else 0)
    quantum = Decimal(1).scaleb(-places)
    shown = value(printed)
    if abs(computed - shown) * 2 == quantum:  # an exact tie: either neighbour is right
        return True
    return computed.quantize(quantum, rounding=ROUND_HALF_EVEN) == shown


def first_reproducing(
    candidates: Iterable, render: Callable[..., dict], holds: Callable[[dict], bool]
) -> dict:
    """``render(*c)`` for the first candidate ``c`` whose strings satisfy ``holds``.

    The returned dict has ``reproduces`` True; if no candidate works (which the
    tests do not find), the last rendering, with ``reproduces`` False.
    """
    out: dict = {}
    for c in candidates:
        out = render(*c)
        if holds(out):
            return {**out, "reproduces": True}
    return {**out, "reproduces": False}


def difference(a: float, b: float, result: float) -> dict:
    """``a − b = result`` as printed: keys ``a``, ``b``, ``result``."""

    def render(k):
        return {"a": fixed(a, k), "b": fixed(b, k), "result": fixed(result, k)}

    def holds(s):
        return reproduces(value(s["a"]) - value(s["b"]), s["result"])

    return first_reproducing(((k,) for k in TONNE_DECIMALS), render, holds)


def scaled(factor: str, base: float, result: float) -> dict:
    """``factor × base = result`` with ``factor`` exact as given (``"0.15"``)."""

    def render(k):
        return {"factor": factor, "base": fixed(base, k), "result": fixed(result, k)}

    def holds(s):
        return reproduces(value(s["factor"]) * value(s["base"]), s["result"])

    return first_reproducing(((k,) for k in TONNE_DECIMALS), render, holds)


def half_width_ratio(high: float, low: float, centre: float, u: float, pct_decimals: int) -> dict:
    """``U = (high − low) / (2 × |centre|) = u`` as printed, U as a percentage.

    Keys ``high``, ``low``, ``centre``, ``u_pct``, ``reproduces``.
    """

    def render(k):
        return {
            "high": fixed(high, k),
            "low": fixed(low, k),
            "centre": fixed(centre, k),
            "u_pct": f"{100 * u:.{pct_decimals}f}%",
        }

    def holds(s):
        ratio = (value(s["high"]) - value(s["low"])) / (2 * abs(value(s["centre"])))
        return reproduces(ratio, s["u_pct"])

    return first_reproducing(((k,) for k in TONNE_DECIMALS), render, holds)


def _pct(x: float, d: int) -> str:
    """A fraction printed as a percentage with ``d`` decimals of the fraction."""
    return f"{100 * x:.{max(d - 2, 0)}f} %"


def deduction_chain(
    rule: str,
    *,
    high: float,
    low: float,
    centre: float,
    base: float,
    u: float,
    fraction: float,
    deduction: float,
    allowable: float = 0.15,
) -> dict:
    """The numbers of a rule's worked deduction, each line reproducing from the page.

    ``base`` is NER (the stock change for ``"art"``) and ``centre`` the interval's mean
    or median. Lines (the template writes the formulas, these are their numbers):

    * ``U = (ucl − lcl) / (2 × centre) = u_pct``, at two decimals of a percent (for
      ``"art"``, U is of the gross reductions: only its value, with ``u_digits``);
    * ``"vcs"``: ``f = min(1, 1 − u_pct + 15 %) = f``; then, because ``NER (U − 15 %)
      = (UCL − LCL) / 2 − 15 % NER`` when U is over the mean, ``deduction = (ucl −
      lcl) / 2 − 0.15 × base`` (``form = "identity"``), which has no rounded
      intermediate; ``"mr44"``: ``deduction = (ucl − lcl) / 2 × 0.4307 / 1.6449``
      likewise; ``"art"``: ``deduction = base × 0.524417 × u_digits / 1.645006``;
      ``"fcpf"``: ``deduction = base × fraction`` (the band's fraction, exact). No
      deduction (``form = "none"``, U within the allowance) or all of NER (``"all"``,
      an MR 4.4 estimate not eligible) has no product line.

    Keys: ``ucl``, ``lcl``, ``centre``, ``base``, ``u``, ``u_pct``, ``u_digits``,
    ``f``, ``fraction``, ``deduction``, ``form``, ``reproduces``.
    """
    over_mean = centre == base and rule in ("vcs", "mr44")
    if rule == "mr44" and u > 1.0:  # MR 4.4 §2.4: not eligible, nothing credited
        form = "all"
    elif fraction <= 0.0:
        form = "none"
    elif over_mean:
        form = "identity"
    else:
        form = "product"

    def render(k, d):
        return {
            "ucl": fixed(high, k),
            "lcl": fixed(low, k),
            "centre": fixed(centre, k),
            "base": fixed(base, k),
            "u": f"{u:.4f}",
            "u_pct": _pct(u, 4),
            "u_digits": f"{u:.{d}f}",
            "f": f"{1 - fraction:.4f}" if rule == "vcs" else "",
            "fraction": f"{fraction:g}" if rule == "fcpf" else f"{fraction:.4f}",
            "deduction": fixed(deduction, k),
            "form": form,
        }

    def holds(s):
        ucl, lcl, centre_, base_ = (value(s[x]) for x in ("ucl", "lcl", "centre", "base"))
        lines = []
        if rule != "art":
            lines.append(reproduces((ucl - lcl) / (2 * centre_), s["u"]))
        if rule == "vcs":
            f = min(Decimal(1), 1 - value(s["u"]) + Decimal(str(allowable)))  # as the rule
            lines.append(reproduces(f, s["f"]))
        if form == "all":
            lines.append(s["deduction"] == s["base"])
        elif form == "none":
            lines.append(value(s["deduction"]) == 0)
        elif rule == "vcs" and form == "identity":
            d = (ucl - lcl) / 2 - Decimal(str(allowable)) * base_
            lines.append(reproduces(d, s["deduction"]))
        elif rule == "mr44" and form == "identity":
            d = (ucl - lcl) / 2 * Decimal("0.4307") / Decimal("1.6449")
            lines.append(reproduces(d, s["deduction"]))
        elif rule == "art":
            d = base_ * Decimal("0.524417") * value(s["u_digits"]) / Decimal("1.645006")
            lines.append(reproduces(d, s["deduction"]))
        else:  # fcpf, or a rule over the median: the printed fraction times NER
            lines.append(reproduces(base_ * value(s["fraction"]), s["deduction"]))
        return all(lines)

    candidates = ((k, d) for k in TONNE_DECIMALS for d in FACTOR_DECIMALS)
    return first_reproducing(candidates, render, holds)
