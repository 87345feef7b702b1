"""What ``reddsim account`` writes: tables, JSON and a short typst appendix."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import numpy as np

from simulator.report.pdf import compile_appendix

__all__ = ["account_json", "write_account"]


def _num(x):
    x = float(x)
    return None if not np.isfinite(x) else x


def account_json(result) -> dict:
    """The accounting of external draws as a JSON-ready dict.

    Per standard and period: ``uncertainty_pct``, ``deduction_fraction`` (e.g. ART's
    UA, VCS MR v4.4's discount factor), ``uncertainty_deduction``, ``buffer`` and
    ``credits`` (with the NER and gross means); per standard the vintages.
    """
    table = result.accounts.table
    keys = table.standard.values.tolist()
    return {
        "draws": str(result.draws.path),
        "n_draws": result.draws.n_draws,
        "standard": result.standard,
        "buffer_pct": result.buffer_pct,
        "risk": result.risk,
        "assumptions": list(result.assumptions),
        "significance": result.significance,
        "formulas": dict(zip(keys, table.attrs["formulas"], strict=True)),
        "illustrative": {k: v for k, v in zip(keys, table.attrs["illustrative"], strict=True) if v},
        "standards": result.accounts.records(),
    }


def write_account(out: Path, result, pdf: bool = True) -> None:
    """Write ``account.json``, ``tables/periods.csv``, ``tables/vintages.csv`` and the appendix."""
    out = Path(out)
    (out / "tables").mkdir(parents=True)
    doc = account_json(result)
    (out / "account.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    frame = result.accounts.table.to_dataframe().reset_index()
    frame.to_csv(out / "tables" / "periods.csv", index=False)
    vint = result.accounts.vintages.rename("credits").to_dataframe().reset_index()
    vint.to_csv(out / "tables" / "vintages.csv", index=False)
    template = resources.files("simulator.report.templates").joinpath("account.typ")
    shutil.copyfile(str(template), out / "appendix.typ")
    if pdf:
        compile_appendix(out, data="account.json")
