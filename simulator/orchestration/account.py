"""Accounting Monte Carlo draws simulated elsewhere, end to end (``reddsim account``).

Reads the long-form draws (:mod:`simulator.data.draws`), accounts every standard
per monitoring period (:mod:`simulator.accounting.periods`) and writes the tables,
JSON and appendix (:mod:`simulator.report.account`) into a new directory that
appears only when complete.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from simulator.accounting.periods import PeriodAccounts, compare_periods, vintages
from simulator.accounting.standards import STANDARDS, vcs_mr44_significance
from simulator.config.nprt import check_buffer_pct, nprt_risk_rating
from simulator.data.draws import Draws, read_draws
from simulator.errors import ConfigError, OutputError
from simulator.files import install_directory
from simulator.report.account import write_account

__all__ = ["DrawsAccount", "account_draws", "write_draws_account"]


@dataclass(frozen=True)
class DrawsAccount:
    """External draws accounted under every standard."""

    draws: Draws
    standard: str
    buffer_pct: float
    risk: dict | None
    accounts: PeriodAccounts
    assumptions: tuple[str, ...]
    significance: str | None


def account_draws(
    path: str | Path,
    standard: str,
    buffer_pct: float | None = None,
    risk: tuple[float, float, float] | None = None,
) -> DrawsAccount:
    """Account a draws table under ``standard`` and every other standard beside it.

    Parameters
    ----------
    path : str or Path
        Long-form draws (:func:`simulator.data.draws.read_draws`).
    standard : str
        The standard whose figures lead (a key of :data:`STANDARDS`).
    buffer_pct : float, optional
        A stated non-permanence rating (12 to 60).
    risk : (internal, external, natural), optional
        Category scores of the AFOLU Non-Permanence Risk Tool v4.2; the rating is
        derived from them. Give one of ``buffer_pct`` and ``risk``.

    Raises
    ------
    ConfigError
        For an unknown standard, a bad or missing rating, or a failed risk analysis.
    DataError
        For a bad draws table.
    """
    if standard not in STANDARDS:
        raise ConfigError(f"--standard {standard!r} is not one of {', '.join(sorted(STANDARDS))}")
    if (buffer_pct is None) == (risk is None):
        raise ConfigError("give one of --buffer-pct and --risk internal,external,natural")
    risk_doc = None
    try:
        if risk is not None:
            internal, external, natural = risk
            rating = float(nprt_risk_rating(internal, external, natural))
            risk_doc = {"internal": internal, "external": external, "natural": natural}
        else:
            rating = check_buffer_pct(buffer_pct)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    draws = read_draws(path)
    assumptions = []
    gross = draws.gross
    if gross is None:
        gross = draws.ner
        assumptions.append(
            "no gross column: gross reductions are taken equal to NER (no leakage); ART "
            "TREES' uncertainty and every buffer then rest on NER"
        )
    if draws.n_draws < STANDARDS["ART-TREES-2.0"].min_draws:
        assumptions.append(
            f"{draws.n_draws:,} draws per period: ART TREES asks for at least "
            f"{STANDARDS['ART-TREES-2.0'].min_draws:,}"
        )
    table = compare_periods(draws.ner, gross, draws.periods, rating)
    accounts = PeriodAccounts(table, vintages(table.credits, draws.periods))
    significance = None
    if standard == "VCS-MR-4.4":
        u = table.uncertainty_pct.sel(standard=standard).values[:-1] / 100.0
        significance = "; ".join(
            f"{p}: {vcs_mr44_significance(x)}"
            for p, x in zip(table.period.values[:-1], u, strict=True)
        )
    return DrawsAccount(
        draws, standard, rating, risk_doc, accounts, tuple(assumptions), significance
    )


def write_draws_account(result: DrawsAccount, out_dir: str | Path, pdf: bool = True) -> Path:
    """Write ``result`` into the new directory ``out_dir``, complete or not at all.

    Raises
    ------
    OutputError
        If ``out_dir`` exists and is not empty, or typst fails.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise OutputError(f"{out_dir}: exists and is not an empty directory; give a new --out")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".incomplete-{out_dir.name}-{os.getpid()}"
    tmp.mkdir()
    try:
        write_account(tmp, result, pdf=pdf)
        install_directory(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
