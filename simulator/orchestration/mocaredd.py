"""A mocaredd-mode run end to end: the workbook's REF, MON and ER as mocaredd computes them.

``reddsim run DIR`` of a directory whose ``run.toml`` says ``[accounting] mode =
"mocaredd"`` (:mod:`simulator.config.mocaredd`) reads the workbook it holds
(:func:`simulator.data.mocaredd.read_mocaredd_inputs`), runs mocaredd's Monte Carlo
(:func:`simulator.accounting.mocaredd.simulate`) and writes, in a new directory
``DIR/out/<run-id>`` (or ``--out``), installed only when complete:

``mocaredd.json``
    provenance (workbook SHA-256, N, seed, confidence, the mocaredd functions
    transcribed) and one record per estimate;
``mocaredd.csv``
    the same records as a table: ``quantity`` (REF, MON, ER), ``period`` (the period
    type: REF, MON1, ...), ``n``, ``mean``, ``sd``, ``median``, ``ci_low``,
    ``ci_high`` and mocaredd's rounded ``E`` (median), ``E_U``, ``E_ME``,
    ``E_cilower``, ``E_ciupper``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from simulator.accounting.mocaredd import results, simulate
from simulator.config.mocaredd import MocareddSpec
from simulator.data.mocaredd import read_mocaredd_inputs
from simulator.orchestration.pipeline import write_new_run

__all__ = ["MocareddOutcome", "RESULT_NAME", "COLUMNS", "run_mocaredd"]

RESULT_NAME = "mocaredd.json"
COLUMNS = (
    "quantity",
    "period",
    "n",
    "mean",
    "sd",
    "median",
    "ci_low",
    "ci_high",
    "E",
    "E_U",
    "E_ME",
    "E_cilower",
    "E_ciupper",
)
SOURCES = (
    "R/fct_make_mcs.R",
    "R/fct_make_formula.R",
    "R/fct_combine_mcs_E.R",
    "R/fct_combine_mcs_P.R",
    "R/fct_combine_mcs_ER.R",
    "R/fct_calc_res.R",
)


@dataclass
class MocareddOutcome:
    out_dir: Path
    result: dict  # what mocaredd.json holds


def run_mocaredd(spec: MocareddSpec, out_dir: Path | None = None, force: bool = False):
    """Run mocaredd's accounting of the spec's workbook and write its results.

    Returns
    -------
    MocareddOutcome

    Raises
    ------
    DataError
        The workbook cannot be read or mocaredd could not compute it.
    OutputError
        The output directory cannot be written.
    """
    cfg = spec.config
    inputs = read_mocaredd_inputs(spec.data_path("workbook"))
    n, seed = cfg.simulation.n_draws, cfg.simulation.seed
    try:
        draws = simulate(inputs, n, seed)
    except ValueError as err:
        from simulator.errors import DataError

        raise DataError(f"{spec.data_path('workbook')}: {err}") from err
    records = results(draws)
    s = inputs.settings
    result = {
        "mode": "mocaredd",
        "workbook": str(cfg.data.workbook),
        "workbook_sha256": inputs.sha256,
        "n_draws": n,
        "seed": seed,
        "rng": "numpy PCG64, SeedSequence(seed).spawn per chunk of 65536 draws",
        "confidence": s.conf_level,
        "trunc_pdf": s.trunc_pdf,
        "ad_annual": s.ad_annual,
        "c_unit": s.c_unit,
        "units": "tCO2e/yr",
        "transcribes": [f"openforis/mocaredd {f}" for f in SOURCES],
        "estimates": records,
    }

    def write(tmp: Path, final: Path) -> None:
        buf = io.StringIO(newline="")
        writer = csv.DictWriter(buf, COLUMNS, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
        (tmp / "mocaredd.csv").write_text(buf.getvalue(), encoding="utf-8")
        result["out_dir"] = str(final)
        (tmp / RESULT_NAME).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    final = write_new_run(spec.run_dir, cfg.digest(), out_dir, force, RESULT_NAME, write)
    return MocareddOutcome(final, result)
