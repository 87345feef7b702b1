"""`reddsim runs`: past runs read from manifest.json + tables/summary.csv, newest first."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from simulator.orchestration.runs import list_runs
from simulator.report.tables import TABLE_COLUMNS
from tests.conftest import fake_manifest


def _fake_run(
    out_root: Path,
    run_id: str,
    created: str,
    ner: float,
    passed=True,
    override=False,
    mc_passed=True,
):
    """A run output with the manifest keys and summary columns the pipeline writes."""
    d = out_root / run_id
    (d / "tables").mkdir(parents=True)
    manifest = fake_manifest(
        run_id, created, sampler_passed=passed, mc_passed=mc_passed, override=override
    )
    (d / "manifest.json").write_text(json.dumps(manifest))
    values = dict.fromkeys(TABLE_COLUMNS, 1.0) | {
        "ner_mean": ner,
        "ner_ci_low": ner - 10,
        "ner_ci_high": ner + 10,
        "uncertainty_pct": 12.5,
        "credits": ner / 2,
    }
    rows = ["period," + ",".join(TABLE_COLUMNS)]
    for period, scale in (("2026", 0.5), ("total", 1.0)):
        rows.append(period + "," + ",".join(repr(values[c] * scale) for c in TABLE_COLUMNS))
    (d / "tables" / "summary.csv").write_text("\n".join(rows) + "\n")
    return d


def test_lists_runs_newest_first_and_counts_skipped(tmp_path):
    out = tmp_path / "runs" / "p" / "out"
    _fake_run(out, "20260101T000000Z-aaaa", "2026-01-01T00:00:00+00:00", 100.0)
    _fake_run(out, "20260301T000000Z-bbbb", "2026-03-01T00:00:00+00:00", 300.0, False, True)
    _fake_run(out, "20260201T000000Z-cccc", "2026-02-01T00:00:00+00:00", 200.0, False)
    (out / ".incomplete-20260401T000000Z-dddd-123").mkdir()
    broken = out / "20260501T000000Z-eeee"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    listing = list_runs(tmp_path / "runs")
    assert [r.ner_mean for r in listing.runs] == [300.0, 200.0, 100.0]  # the total row
    assert [r.gate for r in listing.runs] == ["FAIL (overridden)", "FAIL", "pass"]
    first = listing.runs[0]
    assert (first.ner_ci_low, first.credits, first.confidence) == (290.0, 150.0, 0.95)
    assert len(listing.incomplete) == 1 and list(listing.unreadable) == [str(broken)]
    assert listing.skipped == 2


def test_a_failed_monte_carlo_gate_is_not_listed_as_a_pass(tmp_path):
    """Both gates count: sampler diagnostics that pass do not make an overridden run a pass."""
    out = tmp_path / "runs" / "p" / "out"
    _fake_run(out, "20260101T000000Z-aaaa", "2026-01-01T00:00:00+00:00", 1.0, True, True, False)
    assert [r.gate for r in list_runs(tmp_path / "runs").runs] == ["FAIL (overridden)"]


def test_a_malformed_manifest_is_skipped_as_unreadable(tmp_path):
    out = tmp_path / "runs" / "p" / "out"
    good = _fake_run(out, "20260101T000000Z-aaaa", "2026-01-01T00:00:00+00:00", 1.0)
    bad = _fake_run(out, "20260201T000000Z-bbbb", "2026-02-01T00:00:00+00:00", 2.0)
    (bad / "manifest.json").write_text("[1, 2]")
    listing = list_runs(tmp_path / "runs")
    assert [r.path for r in listing.runs] == [str(good)]
    assert "JSON list" in listing.unreadable[str(bad)]
    # the same from a run directory and from its out/ directory
    assert [r.run_id for r in list_runs(out.parent).runs] == [r.run_id for r in listing.runs]
    assert [r.run_id for r in list_runs(out).runs] == [r.run_id for r in listing.runs]


def test_cli_table_and_json(tmp_path):
    out = tmp_path / "out"
    _fake_run(out, "20260101T000000Z-aaaa", "2026-01-01T00:00:00+00:00", 123456.0)
    (out / ".incomplete-x").mkdir()
    cli = [sys.executable, "-m", "simulator", "runs", str(out)]
    table = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert table.returncode == 0, table.stderr
    assert "20260101T000000Z-aaaa" in table.stdout and "123,456" in table.stdout
    assert "95% 123,446 – 123,466" in table.stdout
    assert "skipped 1 (1 incomplete, 0 unreadable)" in table.stderr
    doc = json.loads(subprocess.run([*cli, "--json"], capture_output=True, text=True).stdout)
    assert doc["runs"][0]["ner_mean"] == 123456.0 and doc["runs"][0]["n_draws"] == 4000
    assert doc["skipped"]["incomplete"] == [str(out / ".incomplete-x")]


def test_hostile_run_directories_do_not_break_the_listing(tmp_path):
    out = tmp_path / "runs" / "p" / "out"
    good = _fake_run(out, "20260101T000000Z-aaaa", "2026-01-01T00:00:00+00:00", 1.0)
    nan = _fake_run(out, "20260201T000000Z-bbbb", "2026-02-01T00:00:00+00:00", float("nan"))
    odd = _fake_run(out, "20260301T000000Z-cccc", "2026-03-01T00:00:00+00:00", 3.0)
    manifest = json.loads((odd / "manifest.json").read_text())
    manifest["run_id"] = "[bold red]x[/]\x1b[2J\nerror: forged"
    manifest["config"]["accounting"]["standard"] = ["not", "text"]
    (odd / "manifest.json").write_text(json.dumps(manifest))
    deep = _fake_run(out, "20260401T000000Z-dddd", "2026-04-01T00:00:00+00:00", 4.0)
    (deep / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    listing = list_runs(tmp_path / "runs")
    assert [r.path for r in listing.runs] == [str(good)]
    assert set(listing.unreadable) == {str(nan), str(odd), str(deep)}
    assert "not finite" in listing.unreadable[str(nan)]
    for args in (["--json"], []):
        result = subprocess.run(
            [sys.executable, "-m", "simulator", "runs", str(tmp_path / "runs"), *args],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        assert "\x1b[2J" not in result.stdout + result.stderr
        assert not any(line.startswith("error:") for line in result.stderr.splitlines())
    assert (
        json.loads(
            subprocess.run(
                [sys.executable, "-m", "simulator", "runs", str(tmp_path / "runs"), "--json"],
                capture_output=True,
                text=True,
            ).stdout
        )["runs"][0]["run_id"]
        == "20260101T000000Z-aaaa"
    )
