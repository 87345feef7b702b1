"""``reddsim account``: draws simulated elsewhere, accounted per period under every standard."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from simulator.data.draws import read_draws
from simulator.errors import ConfigError, DataError
from simulator.orchestration.account import account_draws, write_draws_account

REPO = Path(__file__).resolve().parents[1]
N = 4000
Z = stats.norm.ppf((np.arange(N) + 0.5) / N)


def _write(path: Path, rows: list[str], header: str = "period,draw,ner,gross") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _box_draws(path: Path) -> Path:
    """2021: NER 100,000 +- 20,000 z (MR v4.4's box); 2022-2023: NER 150,000 exactly."""
    rows = [
        f"2021,{i},{100_000 + 20_000 * z:.4f},{110_000 + 20_000 * z:.4f}" for i, z in enumerate(Z)
    ]
    rows += [f"2022-2023,{i},150000,160000" for i in range(N)]
    return _write(path / "draws.csv", rows)


def test_mr44_box_per_period(tmp_path):
    result = account_draws(_box_draws(tmp_path), "VCS-MR-4.4", risk=(6, 4, 2.1))
    assert result.buffer_pct == 13.0
    t = result.accounts.table.sel(standard="VCS-MR-4.4")
    assert float(t.uncertainty_pct.sel(period="2021")) == pytest.approx(32.9, abs=0.05)
    assert float(t.deduction_fraction.sel(period="2021")) == pytest.approx(0.0861, abs=3e-4)
    assert float(t.adjusted_ner.sel(period="2021")) == pytest.approx(91_390, abs=40)
    assert float(t.buffer.sel(period="2021")) == pytest.approx(0.13 * 110_000)
    assert float(t.credits.sel(period="2022-2023")) == pytest.approx(150_000 - 0.13 * 160_000)
    assert "significant" in result.significance
    v = result.accounts.vintages.sel(standard="VCS-MR-4.4")
    assert float(v.sel(vintage="2022")) == pytest.approx(float(v.sel(vintage="2023")))
    # VM0007: the cumulative U falls within 15% in the second period, so the
    # deduction of the first is credited back (Eq. 16 on cumulative NER).
    vm = result.accounts.table.sel(standard="VM0007-1.8")
    assert float(vm.adjusted_ner.sel(period="sum")) == pytest.approx(250_000)


@pytest.mark.parametrize(
    ("rows", "header", "match"),
    [
        (["2021,0,1", "2021,1,2"], "period,draw", "missing column 'ner'"),
        (["2021,0,1,5"], "period,draw,ner,colour", "unknown column 'colour'"),
        (["2021,0,x", "2021,1,2"], "period,draw,ner", "line 2: ner = 'x' is not a number"),
        (["2021,0,nan", "2021,1,2"], "period,draw,ner", "ner = 'nan' is not finite"),
        (["21,0,1", "21,1,2"], "period,draw,ner", "period '21' is not a year"),
        (["2021,0,1", "2021,0,2"], "period,draw,ner", "draw 0 is given twice"),
        (["2021,0,1", "2021,1,2", "2023,0,1", "2023,1,1"], "period,draw,ner", "leave a gap"),
        (["2021,0,1", "2021,1,2", "2022,0,1", "2022,2,1"], "period,draw,ner", "other draws"),
        (["2021-2022,0,1", "2022,0,1"], "period,draw,ner", "overlap"),
        (["2021,0.5,1"], "period,draw,ner", "draw = '0.5' is not an integer"),
    ],
)
def test_bad_draws_name_file_line_and_value(tmp_path, rows, header, match):
    path = _write(tmp_path / "d.csv", rows, header)
    with pytest.raises(DataError, match=match) as e:
        read_draws(path)
    assert str(path) in str(e.value)


def test_bad_ratings():
    with pytest.raises(ConfigError, match="from 12"):
        account_draws("unused.csv", "VCS-MR-4.4", buffer_pct=10)
    with pytest.raises(ConfigError, match="fails the non-permanence risk analysis"):
        account_draws("unused.csv", "VCS-MR-4.4", risk=(36, 0, 0))
    with pytest.raises(ConfigError, match="give one of"):
        account_draws("unused.csv", "VCS-MR-4.4")
    with pytest.raises(ConfigError, match="is not one of"):
        account_draws("unused.csv", "VM0000", buffer_pct=20)


def test_no_gross_column_is_stated(tmp_path):
    path = _write(
        tmp_path / "d.csv",
        [f"2021,{i},{1000 + 100 * z}" for i, z in enumerate(Z)],
        "period,draw,ner",
    )
    result = account_draws(path, "ART-TREES-2.0", buffer_pct=20)
    assert any("no gross column" in a for a in result.assumptions)
    assert any("at least 10,000" in a for a in result.assumptions)


def test_out_dir_must_be_new(tmp_path):
    result = account_draws(_box_draws(tmp_path), "VCS-MR-4.4", buffer_pct=20)
    out = tmp_path / "out"
    write_draws_account(result, out, pdf=False)
    assert (out / "account.json").is_file()
    from simulator.errors import OutputError

    with pytest.raises(OutputError, match="exists and is not an empty directory"):
        write_draws_account(result, out, pdf=False)


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "simulator.cli", "account", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=600,
    )


def test_cli_json_and_appendix(tmp_path):
    out = tmp_path / "out"
    r = _cli(
        _box_draws(tmp_path),
        "--standard",
        "VCS-MR-4.4",
        "--buffer-pct",
        "20",
        "--out",
        out,
        "--json",
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc == json.loads((out / "account.json").read_text())
    rows = doc["standards"]["ART-TREES-2.0"]["periods"]
    assert [p["period"] for p in rows] == ["2021", "2022-2023", "sum"]
    for key in (
        "uncertainty_pct",
        "deduction_fraction",
        "uncertainty_deduction",
        "buffer",
        "credits",
    ):
        assert key in rows[0]
    assert doc["illustrative"]["ART-TREES-2.0"]
    assert (out / "appendix.pdf").stat().st_size > 1000


def test_cli_bad_input_one_line_exit_2_nothing_written(tmp_path):
    bad = _write(tmp_path / "d.csv", ["2021,0,x"], "period,draw,ner")
    out = tmp_path / "out"
    r = _cli(bad, "--standard", "VCS-MR-4.4", "--risk", "6,4", "--out", out)
    assert r.returncode == 2 and "--risk '6,4'" in r.stderr
    r = _cli(bad, "--standard", "VCS-MR-4.4", "--buffer-pct", "20", "--out", out)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "ner = 'x'" in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists() and not list(tmp_path.glob(".incomplete-*"))
