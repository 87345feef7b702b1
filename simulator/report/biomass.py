"""What ``reddsim biomass`` writes: per-plot and total AGB, the error budget, the H-D candidates.

``biomass.csv`` (rows ``plot, mean, median, sd, q2.5, q97.5`` and a ``total`` row),
``error_budget.csv``, ``hd_candidates.csv`` and ``biomass.json`` (the same as
``--json`` prints), written into a new directory all or nothing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np

from simulator.errors import OutputError
from simulator.inference.trees import SUMMARY_KEYS, BiomassResult

__all__ = ["write_biomass", "biomass_json"]


def _csv_text(header, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([r[h] if not isinstance(r[h], float) else f"{r[h]:.6g}" for h in header])
    return buf.getvalue()


def write_biomass(out_dir: Path, result: BiomassResult) -> None:
    """Write the result files into a new directory, all or nothing."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise OutputError(f"{out_dir}: exists and is not an empty directory; give a new --out")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".incomplete-{out_dir.name}-{os.getpid()}"
    try:
        tmp.mkdir()
        (tmp / "biomass.csv").write_text(_csv_text(SUMMARY_KEYS, result.rows), "utf-8")
        budget = [{"source": k, **v} for k, v in result.budget.items()]
        (tmp / "error_budget.csv").write_text(
            _csv_text(("source", "kind", "share_pct", "relative_sd_pct"), budget), "utf-8"
        )
        (tmp / "hd_candidates.csv").write_text(
            _csv_text(("hd_model", "total_mg", "chosen"), result.candidates), "utf-8"
        )
        (tmp / "biomass.json").write_text(biomass_json(result), "utf-8")
        if out_dir.exists():
            out_dir.rmdir()
        tmp.rename(out_dir)
    except OSError as err:
        raise OutputError(f"{out_dir}: cannot write: {err}") from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def biomass_json(result: BiomassResult) -> str:
    def finite(x):
        x = float(x)
        return x if np.isfinite(x) else None

    doc = json.loads(json.dumps(result.as_dict(), default=finite), parse_constant=lambda c: None)
    for v in doc["error_budget"].values():
        v["share_pct"] = finite(v["share_pct"]) if v["share_pct"] is not None else None
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"
