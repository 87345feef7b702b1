"""A run with monitoring periods reports credits per period and vintage under each standard."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SMALL_SAMPLER, copy_run

REPO = Path(__file__).resolve().parents[1]


def test_run_reports_credits_per_monitoring_period(tmp_path):
    edits = SMALL_SAMPLER | {"years = 10": 'years = 10\nperiods = ["2026-2027", "2028-2030"]'}
    run_dir = copy_run(tmp_path / "run", edits)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "simulator.cli", "run", str(run_dir), "--draws", "3000"]
    result = subprocess.run(
        [*cmd, "--seed", "5", "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    totals = json.loads(result.stdout)
    mp = totals["monitoring_periods"]
    assert set(mp) == set(totals["standards"])
    for key, acc in mp.items():
        rows = acc["periods"]
        assert [r["period"] for r in rows] == ["2026-2027", "2028-2030", "sum"]
        for v in ("credits", "buffer", "uncertainty_deduction", "adjusted_ner"):
            assert rows[-1][v] == pytest.approx(rows[0][v] + rows[1][v], rel=1e-12), (key, v)
        assert list(acc["vintages"]) == ["2026", "2027", "2028", "2029", "2030"]
        assert sum(acc["vintages"].values()) == pytest.approx(rows[-1]["credits"], rel=1e-9)
    # VM0007: the credits of both periods add to the adjusted cumulative NER less the buffers
    vm = mp["VM0007-1.8"]["periods"]
    assert vm[-1]["credits"] == pytest.approx(
        vm[-1]["ner_mean"] - vm[-1]["uncertainty_deduction"] - vm[-1]["buffer"], rel=1e-9
    )
    assert (Path(totals["out_dir"]) / "tables" / "monitoring_periods.csv").is_file()
    assert (Path(totals["out_dir"]) / "tables" / "vintages.csv").is_file()
