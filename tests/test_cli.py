"""The reddsim command end to end: outputs, JSON, reproducibility, errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import xarray as xr

from simulator.report import FIGURES
from simulator.report.arithmetic import reproduces, value
from simulator.report.tables import TABLE_COLUMNS
from tests.conftest import LOS_AMIGOS, NUMBER, copy_run, pdf_pages

REDDSIM = [sys.executable, "-m", "simulator.cli"]


def reddsim(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*REDDSIM, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def test_help():
    for args in ([], ["--help"], ["run", "--help"], ["check", "--help"]):
        result = reddsim(*args)
        assert "Usage" in result.stdout, result.stderr
    assert "--draws" in reddsim("run", "--help").stdout


def test_check_los_amigos():
    result = reddsim("check", LOS_AMIGOS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ") and "4 strata" in result.stdout


@pytest.fixture(scope="module")
def json_run(tmp_path_factory):
    """One small end-to-end run through the CLI, shared by the tests below."""
    from tests.conftest import SMALL_SAMPLER

    base = tmp_path_factory.mktemp("cli")
    run_dir = copy_run(base / "run", SMALL_SAMPLER)
    result = reddsim("run", run_dir, "--draws", 3000, "--seed", 5, "--out", base / "out", "--json")
    assert result.returncode == 0, result.stderr
    return run_dir, base / "out", result


def test_run_writes_every_output(json_run):
    _, out_root, result = json_run
    totals = json.loads(result.stdout)
    out = Path(totals["out_dir"])
    # --out names the run directory itself; nothing half-written is left beside it
    assert out == out_root and Path(totals["appendix"]) == out / "appendix.pdf"
    assert sorted(p.name for p in out_root.parent.iterdir()) == ["out", "run"]
    for name in (
        "manifest.json",
        "posterior.nc",
        "summary.nc",
        "run.log",
        "appendix.typ",
        "appendix.json",
        "tables/summary.csv",
        "tables/ner_quantiles.csv",
        "tables/posterior_biomass.csv",
        "tables/standards.csv",
        "tables/biomass_error_budget.csv",
        "tables/plot_agb.csv",
        "tables/tree_wood_density.csv",
        "tables/accuracy_assessment.csv",
    ):
        assert (out / name).is_file(), name
    for fig in FIGURES:
        assert (out / "figures" / fig).stat().st_size > 10_000, fig
    assert (out / "appendix.pdf").read_bytes().startswith(b"%PDF")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n_draws"] == 3000 and manifest["seed"] == 5
    assert set(manifest["data_sha256"]) == {
        "plots",
        "trees",
        "map_areas",
        "accuracy_sample",
        "leakage_belt",
        "provenance",
    }
    assert {"sampling", "simulation", "report"} <= set(manifest["timings_s"])
    tree = xr.open_datatree(out / "posterior.nc", engine="h5netcdf")
    assert {"biomass", "deforestation", "leakage"} <= set(tree.children)
    assert tree.attrs["config_sha256"] == manifest["config_sha256"]
    # progress went to stderr, not stdout
    assert "sampling" in result.stderr and "simulation" in result.stderr


def test_an_ex_ante_run_says_so_in_json_manifest_and_on_every_page(json_run):
    _, _, result = json_run
    totals = json.loads(result.stdout)
    out = Path(totals["out_dir"])
    assert totals["run_kind"] == "ex-ante"
    assert json.loads((out / "manifest.json").read_text())["run_kind"] == "ex-ante"
    assert json.loads((out / "appendix.json").read_text())["run_kind"] == "ex-ante"
    pages = pdf_pages(out / "appendix.pdf")
    assert len(pages) > 5 and all("ex-ante estimate" in p for p in pages)
    assert "Ex-ante uncertainty appendix" in pages[0]


#: The appendix's top-level sections, in order (a run with sensitivity and map accuracy).
SECTIONS = [
    "Project and run summary",
    "Data sources and provenance",
    "Scope and design",
    "Models",
    "Sampler settings and diagnostics",
    "Posterior summaries and predictive checks",
    "Monte Carlo settings and error",
    "Baseline, project, leakage and net emission reductions",
    "Uncertainty deduction",
    "Standards side by side",
    "IPCC Approach 1 and Approach 2",
    "Buffer and credits",
    "Sensitivity and planning",
    "Prior sensitivity",
    "Glossary of symbols",
    "Reproducibility",
]


def _redo(pattern: str, text: str) -> list[Decimal]:
    """The numbers of the one line matching ``pattern`` (groups), as exact decimals."""
    [m] = re.findall(pattern, text)
    return [value(x) for x in m]


def test_the_appendix_has_its_sections_header_and_arithmetic_that_reproduces(json_run):
    """Read as text: contents, every section in order, the synthetic header on every page,
    and each worked equation re-done from its printed numbers gives its printed result,
    which is the run's."""
    _, _, result = json_run
    totals = json.loads(result.stdout)
    out = Path(totals["out_dir"])
    pages = pdf_pages(out / "appendix.pdf")
    # the running header of every page: the kind of estimate, synthetic data, the run
    run_id = json.loads((out / "manifest.json").read_text())["run_id"]
    heads = [p.splitlines()[0] for p in pages]
    assert all(h.endswith(f"synthetic data · run {run_id}") for h in heads), heads
    assert all("ex-ante estimate" in h for h in heads)
    text = "\n".join(pages)
    # the contents list every section, with its page; the sections follow in that order
    contents = text[text.index("Contents") : text.index("Reproducibility") + 15]
    assert all(f"{i} {name}" in contents for i, name in enumerate(SECTIONS, 1))
    after = len(contents) + text.index("Contents")
    where = [text.index(f"\n{i} {name}", after) for i, name in enumerate(SECTIONS, 1)]
    assert where == sorted(where)
    # no code names outside the reproducibility annex's key
    body = text[: text.rindex("Reproducibility")]
    assert "terra_firme" not in body and "mu_stratum" not in body and "_tco2e" not in body

    n = NUMBER
    total = totals["periods"][-1]
    hi, lo, mean, u = _redo(rf"= ({n}) − ({n}) 2 × ({n}) = ({n}) %", text)
    assert reproduces((hi - lo) / (2 * mean), f"{u} %")
    assert reproduces(Decimal(total["uncertainty_pct"]), f"{u}")
    # VM0007 v1.8: deduction = NER (U - 15 %) = (UCL - LCL) / 2 - 0.15 NER
    a, b, c, deduction = _redo(rf"= ({n}) − ({n}) 2 − 0\.15 × ({n}) = ({n})\n", text)
    assert reproduces((a - b) / 2 - Decimal("0.15") * c, str(deduction))
    assert reproduces(Decimal(total["uncertainty_deduction"]), str(deduction))
    a, b, adjusted = _redo(rf"adjusted NER = NER − deduction = ({n}) − ({n}) = ({n})", text)
    assert reproduces(a - b, str(adjusted))
    assert reproduces(Decimal(total["adjusted_ner"]), str(adjusted))
    f, base, buffer = _redo(rf"buffer = .* = ({n}) × ({n}) = ({n})", text)
    assert reproduces(f * base, str(buffer)) and f == Decimal("0.15")
    assert reproduces(Decimal(total["buffer"]), str(buffer))
    a, b, credits = _redo(rf"credits = adjusted NER − buffer = ({n}) − ({n}) = ({n})", text)
    assert reproduces(a - b, str(credits))
    assert reproduces(Decimal(total["credits"]), str(credits))


def test_the_appendix_traces_its_numbers_and_states_its_scope(json_run):
    """Provenance on the page: published magnitudes with their sources, a source and
    reason for every prior, the prior-dominated posteriors, the scope statements, and
    the synthetic-data flag beside every credit table and figure."""
    _, _, result = json_run
    out = Path(json.loads(result.stdout)["out_dir"])
    pages = pdf_pages(out / "appendix.pdf")
    text = "\n".join(pages)
    assert "Published magnitudes and the values used" in text
    assert "Winrock International (2006)" in text and "79.4 MtCO2" in text
    assert "not stated" not in text and "Not on record" not in text
    for item in (
        "Carbon pools",
        "Greenhouse gases",
        "Reference region",
        "Reference period",
        "Field plots",
        "Plot QA/QC",
        "Non-permanence risk",
    ):
        assert item in text, item
    assert "internal 6, external 4, natural 5: rating 15%" in text
    assert "2021–2025" in text  # the gap between the reference period and the crediting start
    # the effectiveness has no data: its posterior is its prior, and the page says so
    dominated = text[text.index("Prior-dominated") :][:600]
    assert "project effectiveness" in dominated
    figures = len(re.findall(r"\nFigure\s\d+:", text))
    notes = text.count("Synthetic data: these numbers demonstrate the method")
    assert figures >= 12 and text.count("synthetic data") >= figures + len(pages)
    assert notes >= 6


def test_json_totals_match_the_tables(json_run):
    _, _, result = json_run
    totals = json.loads(result.stdout)
    assert totals["standard"] == "VM0007-1.8" and totals["n_draws"] == 3000
    periods = totals["periods"]
    assert [p["period"] for p in periods] == [str(y) for y in range(2026, 2036)] + ["total"]
    summary = xr.open_dataset(Path(totals["out_dir"]) / "summary.nc", engine="h5netcdf")
    total = periods[-1]
    assert total["ner_mean"] == float(summary.ner_mean.sel(period="total"))
    assert total["ner_ci_low"] < total["ner_mean"] < total["ner_ci_high"]
    assert set(TABLE_COLUMNS) < set(total)
    assert total["credits"] == pytest.approx(
        total["ner_mean"] - total["uncertainty_deduction"] - total["buffer"], rel=1e-12
    )
    # every implemented standard side by side, the run's own among them
    side = totals["standards"]
    assert set(side) == {"VM0007-1.8", "VM0007-1.6", "VCS-MR-4.4", "ART-TREES-2.0", "FCPF-CF"}
    assert side["VM0007-1.8"][-1]["credits"] == total["credits"]
    csv_rows = (Path(totals["out_dir"]) / "tables" / "standards.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + 5 * 11
    fcpf_total = next(r for r in csv_rows if r.startswith("FCPF-CF,total,"))
    assert float(fcpf_total.split(",")[-1]) == side["FCPF-CF"][-1]["credits"]


def test_rerun_is_bit_identical_on_one_thread(json_run, tmp_path):
    run_dir, _, result = json_run
    first = Path(json.loads(result.stdout)["out_dir"])
    again = reddsim(
        "run",
        run_dir,
        "--draws",
        3000,
        "--seed",
        5,
        "--out",
        tmp_path,
        "--json",
        "-q",
        env={"NUMBA_NUM_THREADS": "1"},
    )
    assert again.returncode == 0, again.stderr
    second = Path(json.loads(again.stdout)["out_dir"])
    for table in ("summary.csv", "ner_quantiles.csv", "posterior_deforestation.csv"):
        assert (first / "tables" / table).read_bytes() == (second / "tables" / table).read_bytes()
    assert json.loads((second / "manifest.json").read_text())["numba_threads"] == 1


def test_table_is_printed_without_json(small_run, tmp_path):
    result = reddsim("run", small_run, "--draws", 500, "--out", tmp_path / "o")
    assert result.returncode == 0, result.stderr
    assert "total" in result.stdout and "appendix:" in result.stdout
    assert "Net emission reductions" in result.stdout


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        ({"buffer_pct = 15": "buffer_pct = 15\ncolour = 1"}, "[accounting].colour: unknown key"),
        ({"area_ha = 7285": "area_ha = -7285"}, "area_ha = -7285"),
        (
            {'leakage_belt = "data/leakage_belt.csv"': 'leakage_belt = "data/belt.csv"'},
            "[data].leakage_belt = 'data/belt.csv': file not found",
        ),
    ],
)
def test_bad_config_exits_2_with_one_line(tmp_path, edit, fragment):
    run_dir = copy_run(tmp_path / "run", edit)
    out = tmp_path / "out"
    result = reddsim("run", run_dir, "--out", out)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_bad_data_exits_2(tmp_path):
    run_dir = copy_run(tmp_path / "run")
    path = run_dir / "data" / "map_areas.csv"
    path.write_text(path.read_text().replace("2002,", "2002x,", 1))
    result = reddsim("check", run_dir)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {path}: row 5, column year = '2002x': not an integer"


#: Chains far too short for the sampler gate (and a small tree Monte Carlo: the run stops at
#: the gate); one configuration, so its posteriors are sampled once and then cached.
UNCONVERGED = {
    "draws = 2000": "draws = 50",
    "tune = 1000": "tune = 50",
    "chains = 4": "chains = 2",
    "n_monte_carlo = 1000": "n_monte_carlo = 100",
}


def test_convergence_failure_leaves_no_output(tmp_path):
    run_dir = copy_run(
        tmp_path / "run",
        UNCONVERGED,
    )
    out = tmp_path / "out"
    result = reddsim("run", run_dir, "--out", out, "-q")
    assert result.returncode == 2, result.stderr
    assert (
        "sampler diagnostics fail" in result.stderr and "allow_failed_diagnostics" in result.stderr
    )
    assert not out.exists()


def test_allocated_baseline_run(tmp_path):
    """VM0048-shaped baseline: the project loses the jurisdiction's loss x its share.

    The share is what ``reddsim allocate`` gives on the Los Amigos risk map (its maps/), so
    the chain risk raster -> allocation.toml -> simulation is run whole.
    """
    import tomllib

    from tests.conftest import SMALL_SAMPLER

    maps = LOS_AMIGOS / "maps"
    made = reddsim(
        "allocate",
        "--risk", maps / "risk_classes.tif",
        "--loss", maps / "loss_year.tif",
        "--jurisdiction", maps / "reference_region.gpkg",
        "--project", maps / "project.gpkg",
        "--years", "2011-2020",
        "--jurisdiction-loss", "20655,1200",
        "--out", tmp_path / "alloc",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    table = tomllib.loads((tmp_path / "alloc" / "allocation.toml").read_text())
    j = table["deforestation"]["allocation"]["jurisdiction_loss_ha"]
    s = table["deforestation"]["allocation"]["risk_share"]
    alloc = (
        '[deforestation]\nbaseline = "allocated"\nallocation = { jurisdiction_loss_ha = '
        f"{{ mean = {j['mean']!r}, sd = {j['sd']!r} }}, risk_share = "
        f"{{ alpha = {s['alpha']!r}, beta = {s['beta']!r} }} }}\n"
    )
    run_dir = copy_run(tmp_path / "run", {**SMALL_SAMPLER, "[deforestation]\n": alloc})
    result = reddsim("run", run_dir, "--draws", 2000, "--out", tmp_path / "out", "--json", "-q")
    assert result.returncode == 0, result.stderr
    out = Path(json.loads(result.stdout)["out_dir"])
    tree = xr.open_datatree(out / "posterior.nc", engine="h5netcdf")
    share = tree["deforestation/posterior"]["risk_share"].values
    loss = tree["deforestation/posterior"]["jurisdiction_loss_ha"].values
    expected = 10 * float((share * loss).mean())  # ha over the 10-year crediting period
    doc = json.loads((out / "appendix.json").read_text())
    assert float(doc["baseline_loss"]["mean"].replace(",", "")) == pytest.approx(expected, rel=0.05)
    assert "allocated" in doc["baseline"]
    # the parameters that gate the run are those its tables and rank plots show
    table = (out / "tables" / "posterior_deforestation.csv").read_text()
    assert "jurisdiction_loss_ha" in table and "risk_share" in table


def test_verify_reproduces_a_run_and_catches_changed_data(json_run, tmp_path):
    run_dir, _, result = json_run
    out = Path(json.loads(result.stdout)["out_dir"])
    again = reddsim("verify", out, "-q")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("identical: ") and "bit for bit" in again.stdout
    # an auditor's copy where a data file was edited since the run
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy / "run", ignore=shutil.ignore_patterns("out"))
    shutil.copytree(out, copy / "run" / "out" / out.name)
    moved = copy / "run" / "out" / out.name
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["config_path"] = "/nonexistent/run.toml"  # found through the run layout instead
    (moved / "manifest.json").write_text(json.dumps(manifest))
    belt = copy / "run" / "data" / "leakage_belt.csv"
    belt.write_text(belt.read_text().replace("2013,551.8", "2013,551.9", 1))
    changed = reddsim("verify", moved, "-q")
    assert changed.returncode == 2
    assert f"error: {belt}: changed since the run" in changed.stderr


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupted_run_leaves_nothing_that_looks_complete(small_run, tmp_path, sig):
    import signal
    import time

    out = tmp_path / "out"
    proc = subprocess.Popen(  # sampled (no posterior cache): the signal arrives mid-run
        [*REDDSIM, "run", str(small_run), "--out", str(out), "-q", "--no-cache"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(tmp_path.glob(".incomplete-*")):
        time.sleep(0.05)
    assert any(tmp_path.glob(".incomplete-*")), "the run never started writing"
    proc.send_signal(getattr(signal, sig))
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not out.exists() and not any(tmp_path.glob(".incomplete-*"))


@pytest.mark.slow
def test_a_killed_run_leaves_only_partial_files_and_resume_finishes_it(small_run, tmp_path):
    """SIGKILL cannot be caught: what is left must not look complete, and --resume reuses it."""
    import re
    import signal
    import time

    toml = small_run / "run.toml"
    toml.write_text(toml.read_text().replace("chunk_size = 1500", "chunk_size = 50000"))
    args = [small_run, "--draws", 2_000_000, "--seed", 3, "-q"]
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*REDDSIM, "run", *map(str, args), "--out", str(out), "--resume"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # complete chunks only: one being written is a hidden ".<name>.*.partial.npz"
    saved = lambda: sorted(tmp_path.glob(".chunks/*/*/[0-9]*.npz"))  # noqa: E731
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not saved() and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    kept = len(saved())
    assert kept >= 1, "the run was killed before it saved a chunk"
    assert not out.exists()  # nothing that looks like a run
    assert {p.name.split("-")[0] for p in tmp_path.iterdir()} >= {".incomplete", ".chunks"}
    listing = json.loads(reddsim("runs", tmp_path, "--json").stdout)
    assert listing["runs"] == [] and len(listing["skipped"]["incomplete"]) == 1

    resumed = reddsim("run", *args, "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    log = (out / "run.log").read_text()
    assert re.search(rf"reusing {kept} of \d+ saved chunks", log), log[-2000:]
    assert not any(tmp_path.glob(".incomplete-*")) and not (tmp_path / ".chunks").exists()

    fresh = reddsim("run", *args, "--out", tmp_path / "fresh")
    assert fresh.returncode == 0, fresh.stderr
    for table in sorted((tmp_path / "fresh" / "tables").glob("*.csv")):
        assert (out / "tables" / table.name).read_bytes() == table.read_bytes(), table.name


def test_report_rebuilds_the_pdf_without_rerunning(json_run, tmp_path):
    import shutil

    _, _, result = json_run
    copy = tmp_path / "copy"
    shutil.copytree(Path(json.loads(result.stdout)["out_dir"]), copy)
    original = (copy / "appendix.pdf").read_bytes()
    (copy / "appendix.pdf").unlink()
    (copy / "posterior.nc").unlink()  # nothing is re-run: the posterior is not needed
    rebuilt = reddsim("report", copy)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.strip() == f"appendix: {copy / 'appendix.pdf'}"
    # the PDF carries the run's own date, so the rebuild is byte-identical
    assert (copy / "appendix.pdf").read_bytes() == original


@pytest.mark.parametrize(
    ("target", "fragment"),
    [("missing", "no such run directory"), ("empty", "not a reddsim run directory")],
)
def test_report_errors_exit_2_with_one_line(tmp_path, target, fragment):
    (tmp_path / "empty").mkdir()
    result = reddsim("report", tmp_path / target)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]


def test_out_never_overwrites_a_run_without_force(json_run):
    run_dir, out, _ = json_run
    before = (out / "manifest.json").read_bytes()
    result = reddsim("run", run_dir, "--out", out, "-q")
    assert result.returncode == 2
    assert "a complete run directory already exists; pass --force" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (out / "manifest.json").read_bytes() == before


def test_out_refuses_a_directory_that_is_not_a_run_even_with_force(tmp_path):
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("not a run")
    result = reddsim("run", LOS_AMIGOS, "--out", keep, "--force", "-q")
    assert result.returncode == 2 and "is not a reddsim run directory" in result.stderr
    assert (keep / "notes.txt").read_text() == "not a run"


def test_force_replaces_a_run_only_once_the_new_one_is_complete(json_run, tmp_path):
    import shutil

    run_dir, out, _ = json_run
    dest = tmp_path / "dest"
    shutil.copytree(out, dest)
    old = (dest / "manifest.json").read_bytes()
    # a forced run that fails (its gates) leaves the old run whole
    strict = copy_run(
        tmp_path / "strict",
        UNCONVERGED,
    )
    failed = reddsim("run", strict, "--out", dest, "--force", "-q")
    assert failed.returncode == 2 and "sampler diagnostics fail" in failed.stderr
    assert (dest / "manifest.json").read_bytes() == old
    # a forced run that completes replaces it
    result = reddsim("run", run_dir, "--draws", 2000, "--seed", 9, "--out", dest, "--force", "-q")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((dest / "manifest.json").read_text())
    assert (manifest["seed"], manifest["n_draws"]) == (9, 2000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest", "strict"]


def test_allow_unconverged_writes_an_appendix_that_says_so(tmp_path):
    from tests.conftest import SMALL_SAMPLER

    no_override = {**SMALL_SAMPLER, "tune = 1000": "tune = 300"}
    run_dir = copy_run(tmp_path / "run", no_override)
    out = tmp_path / "out"
    refused = reddsim("run", run_dir, "--draws", 2000, "--out", out, "-q")
    assert refused.returncode == 2 and "--allow-unconverged" in refused.stderr
    assert not out.exists()
    result = reddsim("run", run_dir, "--draws", 2000, "--out", out, "--allow-unconverged", "-q")
    assert result.returncode == 0, result.stderr
    assert "gates failed and were overridden by --allow-unconverged" in result.stderr
    gates = json.loads((out / "manifest.json").read_text())["gates"]
    assert gates["override"] == "--allow-unconverged" and not gates["passed"]
    assert not gates["monte_carlo"]["passed"]  # 2,000 futures cannot reach 0.5%
    doc = json.loads((out / "appendix.json").read_text())
    assert doc["gates"]["override"] == "--allow-unconverged"
    assert any("Monte Carlo error" in f for f in doc["gates"]["failures"])
    assert doc["command"].endswith("--allow-unconverged")
    # the first page carries the banner
    assert "UNCONVERGED RESULTS" in (out / "appendix.typ").read_text()


@pytest.mark.slow
def test_monte_carlo_gate_fails_a_converged_run_with_too_few_draws(tmp_path):
    out = tmp_path / "out"
    result = reddsim("run", LOS_AMIGOS, "--draws", 2000, "--out", out, "-q")
    assert result.returncode == 2, result.stderr
    assert "raise [simulation].n_draws (or --draws) to at least ~" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists() and not any(tmp_path.iterdir())


@pytest.mark.slow
def test_a_one_year_crediting_period_passes_both_gates_at_the_default_settings(tmp_path):
    """The shortest valid crediting period with the default sampler and draws: no override."""
    run_dir = copy_run(tmp_path / "one-year", {"years = 10": "years = 1"})
    out = tmp_path / "out"
    result = reddsim("run", run_dir, "--out", out, "--json")
    assert result.returncode == 0, result.stderr
    gates = json.loads((out / "manifest.json").read_text())["gates"]
    assert gates["passed"] and gates["override"] is None, gates
    assert gates["monte_carlo"]["n_draws"] == 1_000_000
    rows = (out / "tables" / "summary.csv").read_text().splitlines()
    periods = [line.split(",")[0] for line in rows]
    assert periods[1:] == ["2026", "total"]


#: typst markup and code; an appendix that evaluated its data would fail on the panic or
#: put the manifest's contents into the PDF.
TYPST_PAYLOAD = '#panic("evaluated") $x^2$ *b* _i_ <l> @sec-data #raw(read("manifest.json")) \\ ]'


def _copy_out(json_run, dest: Path) -> Path:
    shutil.copytree(Path(json.loads(json_run[2].stdout)["out_dir"]), dest)
    return dest


def test_appendix_shows_typst_in_its_data_literally(json_run, tmp_path):
    copy = _copy_out(json_run, tmp_path / "copy")

    def poison(value, key=None):
        if isinstance(value, dict):
            return {k: poison(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [poison(v, key) for v in value]
        # every string but the run's date, which the template parses into the PDF's date
        return TYPST_PAYLOAD if isinstance(value, str) and key != "created" else value

    doc = json.loads((copy / "appendix.json").read_text())
    (copy / "appendix.json").write_text(json.dumps(poison(doc)))
    rebuilt = reddsim("report", copy)
    assert rebuilt.returncode == 0, rebuilt.stderr
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(copy / "appendix.pdf"), "-"], capture_output=True, text=True
        ).stdout
        assert '#raw(read("manifest.json"))' in text and "config_sha256" not in text


def test_appendix_reads_no_symlink_out_of_the_run(json_run, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-CONTENT")
    copy = _copy_out(json_run, tmp_path / "copy")
    (copy / "leak.txt").symlink_to(secret)
    typ = copy / "appendix.typ"
    typ.write_text(typ.read_text() + '\n#raw(read("leak.txt"))\n')
    leaked = reddsim("report", copy)
    assert leaked.returncode == 2 and "typst cannot compile" in leaked.stderr
    assert len(leaked.stderr.strip().splitlines()) == 1
    # a file the appendix does use, replaced by a symlink, is refused by name
    copy2 = _copy_out(json_run, tmp_path / "copy2")
    figure = copy2 / "figures" / "ner_total.png"
    figure.unlink()
    figure.symlink_to(secret)
    refused = reddsim("report", copy2)
    assert refused.returncode == 2 and f"error: {figure}: a symlink" in refused.stderr


def test_report_never_writes_through_a_planted_path(json_run, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    copy = _copy_out(json_run, tmp_path / "copy")
    for name in (".appendix.pdf.partial", ".appendix.pdf.partial.pdf"):
        (copy / name).symlink_to(victim)
    (copy / "appendix.pdf").unlink()
    (copy / "appendix.pdf").symlink_to(victim)  # replaced by the new file, not written through
    assert reddsim("report", copy).returncode == 0
    assert victim.read_text() == "untouched"
    assert not (copy / "appendix.pdf").is_symlink()
    assert (copy / "appendix.pdf").read_bytes().startswith(b"%PDF")
    # a directory in the way is one line, exit 2
    (copy / "appendix.pdf").unlink()
    (copy / "appendix.pdf").mkdir()
    blocked = reddsim("report", copy)
    assert blocked.returncode == 2 and "a directory is in the way" in blocked.stderr


def _out_with_project(json_run, dest: Path) -> Path:
    """A copy of the run's project with the run's output at ``<project>/out/<run-id>``."""
    run_dir, _, result = json_run
    out = Path(json.loads(result.stdout)["out_dir"])
    shutil.copytree(run_dir, dest / "run", ignore=shutil.ignore_patterns("out"))
    shutil.copytree(out, dest / "run" / "out" / out.name)
    return dest / "run" / "out" / out.name


def test_verify_applies_the_run_directory_path_check(json_run, tmp_path):
    from simulator.config import validate_config

    moved = _out_with_project(json_run, tmp_path)
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["config"]["data"]["leakage_belt"] = "../../../../../../../../etc/passwd"
    # a consistent forgery: the recorded SHA-256 of the config matches the edited config
    manifest["config_sha256"] = validate_config(manifest["config"], Path("x")).digest()
    (moved / "manifest.json").write_text(json.dumps(manifest))
    result = reddsim("verify", moved, "-q")
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "[data].leakage_belt" in lines[0]
    assert "outside the run directory" in lines[0]


def test_verify_refuses_an_edited_config_and_a_manifest_that_is_not_one(json_run, tmp_path):
    moved = _out_with_project(json_run, tmp_path)
    path = moved / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["config"]["simulation"]["seed"] += 1
    path.write_text(json.dumps(manifest))
    edited = reddsim("verify", moved, "-q")
    assert edited.returncode == 2 and "config_sha256 does not match" in edited.stderr
    for text in ("[1, 2]", "[" * 100_000 + "]" * 100_000, '{"run_id": NaN}'):
        path.write_text(text)
        bad = reddsim("verify", moved, "-q")
        assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1 and str(path) in bad.stderr


def test_verify_reports_missing_extra_and_changed_files(json_run, tmp_path):
    moved = _out_with_project(json_run, tmp_path)
    if "outputs_sha256" not in json.loads((moved / "manifest.json").read_text()):
        pytest.fail("the manifest records no outputs_sha256")
    (moved / "tables" / "standards.csv").unlink()
    (moved / "figures" / "ner_total.png").unlink()
    doc = moved / "appendix.json"
    doc.write_text(doc.read_text() + " ")
    (moved / "tables" / "extra.csv").write_text("a\n1\n")
    result = reddsim("verify", moved, "-q")
    assert result.returncode == 1, result.stderr
    line = result.stdout.strip()
    assert line.startswith("DIFFERENT: ") and len(line.splitlines()) == 1
    assert "missing: figures/ner_total.png, tables/standards.csv" in line
    assert "not in the manifest: tables/extra.csv" in line
    assert "changed since the run: appendix.json" in line


@pytest.fixture
def small_fs(tmp_path):
    """A size-limited tmpfs at ``tmp_path / 'fs'`` (8 MiB); skipped where mounting is refused."""
    where = tmp_path / "fs"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield where
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _fill(directory: Path) -> None:
    """Fill the file system of ``directory`` to the last byte."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        for size in (65536, 1):
            try:
                while os.write(fd, bytes(size)):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)


def test_report_on_a_full_disk_is_one_line_and_leaves_nothing(json_run, small_fs):
    copy = _copy_out(json_run, small_fs / "run")
    for name in ("appendix.pdf", "posterior.nc", "summary.nc"):
        (copy / name).unlink()
    before = sorted(p.name for p in copy.iterdir())
    _fill(small_fs)
    result = reddsim("report", copy)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0], result.stderr
    assert sorted(p.name for p in copy.iterdir()) == before  # no partial PDF
    (small_fs / "filler").unlink()
    assert reddsim("report", copy).returncode == 0


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        ("dangling-symlink", "a symlink; --out must name the run directory itself"),
        ("symlink-to-empty-dir", "a symlink; --out must name the run directory itself"),
        ("under-a-file", "is not a directory"),
        ("name-300-chars", "at most 200"),
        ("read-only-fs", "cannot write in"),
        ("nul-byte", "NUL byte"),
    ],
)
def test_unusable_out_is_refused_before_sampling(tmp_path, kind, fragment):
    out = tmp_path / "out"
    if kind == "dangling-symlink":
        out.symlink_to(tmp_path / "nowhere")
    elif kind == "symlink-to-empty-dir":
        (tmp_path / "empty").mkdir()
        out.symlink_to(tmp_path / "empty")
    elif kind == "under-a-file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "out"
    elif kind == "name-300-chars":
        out = tmp_path / ("x" * 300)
    elif kind == "nul-byte":
        out = Path(str(tmp_path / "out") + "\0x")
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], capture_output=True
        )
        if mounted.returncode != 0:
            pytest.skip("cannot mount a read-only tmpfs here")
        out = ro / "out"
    try:
        before = sorted(p.name for p in tmp_path.iterdir())
        result = (
            subprocess.run(
                [*REDDSIM, "run", str(LOS_AMIGOS), "--out", os.fsencode(str(out))],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if kind != "nul-byte"
            else None
        )
        if result is None:  # a NUL cannot pass through argv: checked in-process
            from simulator.errors import OutputError
            from simulator.orchestration.pipeline import check_output_dir

            with pytest.raises(OutputError, match=fragment):
                check_output_dir(out)
            return
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], result.stderr
        assert "sampling" not in result.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == before
    finally:
        if kind == "read-only-fs":
            subprocess.run(["umount", "-l", str(tmp_path / "ro")], capture_output=True)


@pytest.mark.slow
def test_a_run_that_fills_the_disk_leaves_nothing_and_resumes(small_run, small_fs):
    """A real ENOSPC (a 2 MiB tmpfs, smaller than a run's outputs), then --resume."""
    if subprocess.run(["mount", "-o", "remount,size=2m", str(small_fs)]).returncode != 0:
        pytest.skip("cannot shrink the tmpfs")
    out = small_fs / "run"
    full = reddsim("run", small_run, "--out", out, "--resume", "-q")
    assert full.returncode == 2, full.stderr
    lines = full.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0], full.stderr
    assert "Traceback" not in full.stderr
    left = sorted(p.name for p in small_fs.iterdir())
    assert not out.exists() and not any(n.startswith(".incomplete-") for n in left), left
    grown = subprocess.run(["mount", "-o", "remount,size=64m", str(small_fs)], capture_output=True)
    if grown.returncode != 0:
        pytest.skip("cannot grow the tmpfs")
    again = reddsim("run", small_run, "--out", out, "--resume", "-q", "--json")
    assert again.returncode == 0, again.stderr
    assert (out / "manifest.json").is_file() and not (small_fs / ".chunks").exists()


def test_verify_takes_the_recorded_config_path_only_if_it_is_a_run_configuration(
    json_run, tmp_path
):
    import hashlib

    from simulator.config import validate_config

    secret_dir = tmp_path / "elsewhere"
    secret_dir.mkdir()
    (secret_dir / "notes.txt").write_text("not a run configuration\n")
    secret = secret_dir / "secret.csv"
    secret.write_text("year,avoided_ha\nSECRET-ROW,1\n")
    lone = _copy_out(json_run, tmp_path / "lone" / "out" / "run")  # no project beside it
    manifest = json.loads((lone / "manifest.json").read_text())
    manifest["config_path"] = str(secret_dir / "notes.txt")
    manifest["config"]["data"]["leakage_belt"] = "secret.csv"
    manifest["data_sha256"]["leakage_belt"] = hashlib.sha256(secret.read_bytes()).hexdigest()
    manifest["config_sha256"] = validate_config(manifest["config"], Path("x")).digest()
    (lone / "manifest.json").write_text(json.dumps(manifest))
    result = reddsim("verify", lone, "-q")
    assert result.returncode == 2 and "no run configuration" in result.stderr, result.stderr
    assert "SECRET" not in result.stderr + result.stdout
