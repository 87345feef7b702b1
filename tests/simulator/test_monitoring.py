"""Monitoring runs: the validated baseline against each period's monitored maps."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from simulator.accounting.monitoring import belt_baseline_loss, monitored_period_draws
from simulator.config import load_config
from simulator.engine.kernels import PICKED, simulate
from simulator.inference.monitoring import area_draws
from simulator.report.arithmetic import reproduces, value
from tests.conftest import NUMBER, REPO, SMALL_SAMPLER, copy_run, make_inputs, pdf_pages
from tests.test_cli import reddsim

EXAMPLE = REPO / "runs" / "los-amigos-monitoring"


def monitoring_copy(dest: Path, baseline_run: Path, replace: dict | None = None) -> Path:
    """The example's monitoring run, pointing at ``baseline_run`` (a small ex-ante run)."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("out", "*.md", "*.py"))
    toml = dest / "run.toml"
    text = toml.read_text()
    start = text.index("[baseline]")
    end = text.index("[monitoring]")
    baseline = (
        "[baseline]\n"
        f'config = "{baseline_run.parent.parent / "run.toml"}"\n'
        f'run = "{baseline_run}"\n'
        "allow_unconverged = true\n\n"
    )
    text = text[:start] + baseline + text[end:]
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    toml.write_text(text)
    return dest


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    """A small ex-ante run (the baseline a monitoring run keeps)."""
    from simulator.orchestration.pipeline import run

    base = tmp_path_factory.mktemp("exante")
    run_dir = copy_run(base / "los-amigos", SMALL_SAMPLER)
    with open(run_dir / "run.toml", "a") as fh:
        fh.write("\n[sensitivity]\nenabled = false\n")
    out = run_dir / "out" / "validated"
    run(load_config(run_dir), out_dir=out, allow_unconverged=True)
    return out


@pytest.fixture(scope="module")
def monitored(validated, tmp_path_factory):
    """The example's monitoring run on the small baseline, through the CLI, with --json."""
    base = tmp_path_factory.mktemp("monitoring")
    run_dir = monitoring_copy(base / "run", validated, {"n_draws = 262144": "n_draws = 20000"})
    result = reddsim("run", run_dir, "--out", base / "out", "--json")
    assert result.returncode == 0, result.stderr
    return run_dir, base / "out", json.loads(result.stdout)


def test_a_monitoring_run_gives_credits_per_period_under_every_standard(monitored):
    _, out, totals = monitored
    assert totals["run_kind"] == "monitoring"
    assert totals["periods"] == ["2026-2027", "2028-2030"]
    assert totals["buffer_pct"] == 15.0  # from the risk scores 6 + 4 + 5
    for key in ("VM0007-1.8", "VCS-MR-4.4", "ART-TREES-2.0"):
        rows = totals["monitoring_periods"][key]["periods"]
        assert [r["period"] for r in rows] == ["2026-2027", "2028-2030", "sum"]
        for field in ("credits", "buffer", "uncertainty_deduction"):
            assert rows[2][field] == pytest.approx(rows[0][field] + rows[1][field])
        vint = totals["monitoring_periods"][key]["vintages"]
        assert sorted(vint) == [str(y) for y in range(2026, 2031)]
        assert vint["2026"] + vint["2027"] == pytest.approx(rows[0]["credits"])
        assert sum(vint[str(y)] for y in (2028, 2029, 2030)) == pytest.approx(rows[1]["credits"])
    # MR v4.4 §2.4 per period: credits = NER x (1 - U/1.6449 x 0.4307) - buffer
    for r in totals["monitoring_periods"]["VCS-MR-4.4"]["periods"][:2]:
        factor = r["uncertainty_pct"] / 100 / 1.6449 * 0.4307
        assert r["deduction_fraction"] == pytest.approx(factor, rel=1e-9)
        assert r["credits"] == pytest.approx(r["ner_mean"] * (1 - factor) - r["buffer"])
    for name in ("monitoring.json", "appendix.pdf", "tables/monitoring_periods.csv"):
        assert (out / name).is_file(), name
    # the baseline is the validated run, identified by its hashes
    assert len(totals["baseline"]["posterior_sha256"]) == 64
    assert totals["baseline"]["run_id"]


def test_reddsim_runs_lists_a_monitoring_run_beside_an_ex_ante_run(monitored, validated):
    """Its NER and credits are the sums over its periods; an interval and U are per period."""
    from simulator.orchestration.runs import list_runs

    _, out, totals = monitored
    root = out.parent / "listing"
    root.mkdir(exist_ok=True)
    for name, src in (("monitoring", out), ("ex-ante", validated)):
        if not (root / name).exists():
            (root / name).symlink_to(src)
    listing = list_runs(root)
    assert listing.skipped == 0
    kinds = {r.run_kind: r for r in listing.runs}
    assert set(kinds) == {"monitoring", "ex-ante"}
    record = kinds["monitoring"]
    key = totals["standard"]
    total = totals["monitoring_periods"][key]["periods"][-1]
    assert (record.standard, record.n_draws, record.seed) == (key, 20000, totals["seed"])
    assert record.ner_mean == total["ner_mean"] and record.credits == total["credits"]
    assert np.isnan([record.ner_ci_low, record.ner_ci_high, record.uncertainty_pct]).all()
    passed = json.loads((validated / "manifest.json").read_text())["gates"]["passed"]
    assert record.gate == ("baseline pass" if passed else "baseline FAIL (allowed)")
    shown = reddsim("runs", root)
    assert shown.returncode == 0, shown.stderr
    line = next(x for x in shown.stdout.splitlines() if "│ monitoring │" in x)
    assert "per period" in line and f"{total['credits']:,.0f}" in line
    doc = json.loads(reddsim("runs", root, "--json").stdout)
    listed = next(r for r in doc["runs"] if r["run_kind"] == "monitoring")
    assert listed["ner_ci_low"] is None and listed["credits"] == total["credits"]


def test_an_unreadable_monitoring_record_is_skipped_with_its_reason(monitored, tmp_path):
    from simulator.orchestration.runs import list_runs

    _, out, _ = monitored
    reasons = {
        "nested": ("[" * 100_000 + "]" * 100_000, "nested too deep"),
        "other": (json.dumps({"run_kind": "ex-ante"}), "not a reddsim monitoring record"),
    }
    for name, (text, _) in reasons.items():
        bad = tmp_path / "runs" / "p" / "out" / name
        shutil.copytree(out, bad)
        (bad / "monitoring.json").write_text(text)
    listing = list_runs(tmp_path / "runs")
    assert listing.runs == [] and len(listing.unreadable) == 2
    for name, (_, reason) in reasons.items():
        assert reason in listing.unreadable[str(tmp_path / "runs" / "p" / "out" / name)]


def test_the_monitored_project_loss_replaces_the_effectiveness_prior(monitored):
    _, _, totals = monitored
    areas = {(r["period"], r["area"]): r for r in totals["monitored_areas"]}
    assert len(areas) == 2 * 5  # two periods x (four strata + the belt)
    for c in totals["components"]:
        # project emissions are the monitored loss x carbon lost per ha: positive, and far
        # below the baseline (the project prevents most of the loss in the synthetic data)
        assert 0 < c["project"] < c["baseline"]
        assert c["ner"] == pytest.approx(c["baseline"] - c["project"] - c["leakage"], rel=1e-9)


def test_the_monitoring_appendix_says_it_is_a_monitoring_run(monitored):
    """Read as text: the header of every page, the contents, and the worked lines'
    arithmetic re-done from the printed numbers."""
    _, out, totals = monitored
    pages = pdf_pages(out / "appendix.pdf")
    heads = [p.splitlines()[0] for p in pages]
    assert all("monitoring run" in h and "synthetic data" in h for h in heads), heads
    text = "\n".join(pages)
    sections = ("Validated baseline", "Scope and design", "Models, priors and checks")
    sections += ("Monitored inputs", "Credits per period", "Fixed at validation, monitored")
    for phrase in (*sections, "Glossary of symbols"):
        assert phrase in text[text.index("Contents") :]
    # the validated run's provenance and this run's risk scores are on the page
    assert "Winrock International (2006)" in text and "not stated" not in text
    assert "internal 6, external 4, natural 5: rating 15%" in text
    assert "Synthetic data: these numbers demonstrate the method" in text
    n = NUMBER
    worked = re.findall(
        rf"= \(({n}) − ({n})\) / \(2 × ({n})\) = ({n})%; .*?buffer ({n}) × [a-zA-Z \n]+({n}) =\s*"
        rf"({n}); credits = ({n}) − ({n}) = ({n})",
        text,
        flags=re.S,
    )
    standard = json.loads((out / "monitoring.json").read_text())["standard"]
    rows = totals["monitoring_periods"][standard]["periods"][:-1]
    assert len(worked) == len(rows) == 2
    for w, r in zip(worked, rows, strict=True):
        high, low, centre, u, f, base, buffer, a, b, credits = (value(x) for x in w)
        assert reproduces((high - low) / (2 * abs(centre)), f"{u}%")
        assert reproduces(f * base, str(buffer)) and reproduces(a - b, str(credits))
        assert reproduces(Decimal(r["credits"]), str(credits))  # the run's number


def test_a_monitoring_run_is_bit_identical_on_rerun(monitored, tmp_path):
    run_dir, out, _ = monitored
    result = reddsim("run", run_dir, "--out", tmp_path / "again", "--json")
    assert result.returncode == 0, result.stderr
    for name in ("monitoring_periods.csv", "vintages.csv", "period_emissions.csv"):
        assert (out / "tables" / name).read_bytes() == (
            tmp_path / "again" / "tables" / name
        ).read_bytes()


def test_check_accepts_a_monitoring_run(monitored):
    run_dir, _, _ = monitored
    result = reddsim("check", run_dir)
    assert result.returncode == 0, result.stderr
    assert "monitoring run" in result.stdout


def _fails(run_dir, tmp_path, expect: str):
    """The run is refused with a one-line error and writes nothing."""
    from simulator.config import load_run
    from simulator.errors import ReddsimError
    from simulator.orchestration.monitoring import run_monitoring

    with pytest.raises(ReddsimError) as info:
        run_monitoring(load_run(run_dir), out_dir=tmp_path / "out", pdf=False)
    assert expect in str(info.value) and "\n" not in str(info.value), str(info.value)
    assert not (tmp_path / "out").exists()


def test_a_refused_monitoring_run_exits_2_with_one_line(validated, tmp_path):
    run_dir = monitoring_copy(tmp_path / "run", validated.parent / "absent")
    result = reddsim("run", run_dir, "--out", tmp_path / "out")
    assert result.returncode == 2, result.stderr
    assert "run the ex-ante configuration first: reddsim run" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_tampered_posterior_is_refused(validated, tmp_path):
    copy = tmp_path / "exante" / "out" / "validated"
    shutil.copytree(validated.parent.parent, tmp_path / "exante", ignore=shutil.ignore_patterns())
    data = bytearray((copy / "posterior.nc").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte of the stored draws
    (copy / "posterior.nc").write_bytes(bytes(data))
    run_dir = monitoring_copy(tmp_path / "run", copy)
    _fails(run_dir, tmp_path, "is not the one its manifest recorded")


def test_a_baseline_made_from_another_config_than_the_pinned_one_is_refused(validated, tmp_path):
    run_dir = monitoring_copy(
        tmp_path / "run", validated, {"allow_unconverged = true": f'config_sha256 = "{"0" * 64}"'}
    )
    _fails(run_dir, tmp_path, "not the one validated")


def test_unconverged_baseline_is_refused_unless_allowed(validated, tmp_path):
    run_dir = monitoring_copy(
        tmp_path / "run", validated, {"allow_unconverged = true": "allow_unconverged = false"}
    )
    _fails(run_dir, tmp_path, "a validated baseline needs both to pass")


def test_changed_baseline_data_are_refused(validated, tmp_path):
    shutil.copytree(validated.parent.parent, tmp_path / "exante")
    belt = tmp_path / "exante" / "data" / "leakage_belt.csv"
    belt.write_text(belt.read_text().replace("551.8", "551.9"))
    run_dir = monitoring_copy(tmp_path / "run", tmp_path / "exante" / "out" / "validated")
    _fails(run_dir, tmp_path, "changed since the baseline was validated")


@pytest.mark.parametrize(
    ("file", "old", "new", "expect"),
    [
        (
            "monitoring_map_areas.csv",
            "2026-2027,terra_firme,loss,",
            "2026-2028,terra_firme,loss,",
            "column period = '2026-2028': not one of the periods",
        ),
        (
            "monitoring_accuracy_sample.csv",
            "2026-2027,bamboo,loss,loss,",
            "2026-2027,mangrove,loss,loss,",
            "column area = 'mangrove': not one of the baseline's strata",
        ),
        (
            "monitoring_accuracy_sample.csv",
            "2028-2030,palm_swamp,loss,loss,",
            "2028-2030,palm_swamp,lost,loss,",
            "period 2028-2030, area palm_swamp, column stratum = 'lost': not a stratum",
        ),
    ],
)
def test_bad_monitoring_data_fail_with_one_line(validated, tmp_path, file, old, new, expect):
    run_dir = monitoring_copy(tmp_path / "run", validated)
    path = run_dir / "data" / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    _fails(run_dir, tmp_path, expect)


def test_periods_must_start_at_the_validated_crediting_start(validated, tmp_path):
    run_dir = monitoring_copy(
        tmp_path / "run", validated, {'periods = ["2026-2027", "2028-2030"]': 'periods = ["2027"]'}
    )
    _fails(run_dir, tmp_path, "must run from the validated crediting start 2026")


# -- the formulas, on known answers -------------------------------------------------------


def test_the_belt_baseline_is_the_baseline_loss_for_a_belt_like_the_project(rng):
    """Same forest and risk 1: the belt loses what the project's baseline loses, year by year."""
    inputs = make_inputs(rng)
    sim = simulate(inputs, 500, 11)
    belt = belt_baseline_loss(sim.baseline_loss_ha, inputs.area, inputs.area.sum(), 1.0)
    np.testing.assert_allclose(belt, sim.baseline_loss_ha, rtol=1e-10)
    # twice the hazard loses more, but less than twice (the forest shrinks)
    double = belt_baseline_loss(sim.baseline_loss_ha, inputs.area, inputs.area.sum(), 2.0)
    assert np.all(double > belt) and np.all(double[:, 0] < 2 * belt[:, 0])


def test_period_draws_add_up_the_monitored_loss_times_the_carbon_lost(rng):
    inputs = make_inputs(rng)
    n = 400
    sim = simulate(inputs, n, 3)
    periods = [(2026, 2027), (2028, 2030)]
    s = inputs.area.size
    project = rng.uniform(0, 50, (n, 2, s))
    belt_base = belt_baseline_loss(sim.baseline_loss_ha, inputs.area, 1e5, 1.0)
    belt_expected = np.stack([belt_base[:, :2].sum(1), belt_base[:, 2:5].sum(1)], 1)
    belt = belt_expected + np.array([-100.0, 100.0])  # less than the baseline, then more
    d = monitored_period_draws(inputs, sim, 2026, periods, project, belt, 1e5, 1.0)
    j = sim.picks[:, PICKED.index("carbon_density")]
    k = sim.picks[:, PICKED.index("post_carbon")]
    dc = inputs.carbon_density[j] - inputs.post_carbon[k][:, None]
    np.testing.assert_allclose(d.project, np.einsum("nps,ns->np", project, dc))
    np.testing.assert_allclose(d.baseline[:, 1], sim.baseline[:, 2:5].sum(1))
    assert np.all(d.leakage[:, 0] == 0)  # VMD0010: negative leakage is 0
    belt_dc = dc @ (inputs.area / inputs.area.sum())
    np.testing.assert_allclose(d.leakage[:, 1], 100.0 * belt_dc)
    np.testing.assert_allclose(d.ner, d.baseline - d.project - d.leakage)


def test_area_draws_have_the_estimate_s_mean_and_standard_error():
    gen = np.random.default_rng(1)
    x = area_draws(150.0, 9.0, 400_000, gen)
    assert x.min() > 0
    assert x.mean() == pytest.approx(150.0, abs=4 * 9.0 / np.sqrt(x.size))
    assert x.std() == pytest.approx(9.0, rel=0.01)
    assert np.all(area_draws(0.0, 0.0, 10, gen) == 0)
    with pytest.raises(ValueError, match="has no gamma"):
        area_draws(0.0, 1.0, 10, gen)


# -- the committed example ---------------------------------------------------------------------


def test_the_example_pins_the_current_ex_ante_configuration():
    from simulator.config import load_run

    spec = load_run(EXAMPLE)
    assert (
        spec.config.baseline.config_sha256
        == load_config(spec.baseline_path("config")).config.digest()
    )


def test_the_example_s_data_regenerate_byte_identically(tmp_path):
    shutil.copytree(EXAMPLE, tmp_path / "ex", ignore=shutil.ignore_patterns("out"))
    for f in (tmp_path / "ex" / "data").iterdir():
        f.unlink()
    subprocess.run(
        [sys.executable, str(tmp_path / "ex" / "generate_data.py")], check=True, capture_output=True
    )
    for name in ("monitoring_map_areas.csv", "monitoring_accuracy_sample.csv"):
        assert (tmp_path / "ex" / "data" / name).read_bytes() == (
            EXAMPLE / "data" / name
        ).read_bytes()


def test_the_appendix_shows_the_run_s_standard_with_its_numbers(monitored):
    """Each worked line's arithmetic holds with the numbers the accounting computed."""
    _, out, totals = monitored
    doc = json.loads((out / "monitoring.json").read_text())
    rows = totals["monitoring_periods"][doc["standard"]]["periods"]
    assert [w["period"] for w in doc["worked"]] == [r["period"] for r in rows[:-1]]
    for w, r in zip(doc["worked"], rows, strict=False):
        u = (w["high"] - w["low"]) / 2 / abs(w["centre"])
        assert 100 * u == pytest.approx(w["u_pct"], rel=1e-9) == pytest.approx(r["uncertainty_pct"])
        assert (
            w["credits"]
            == pytest.approx(w["adjusted"] - w["buffer"])
            == pytest.approx(r["credits"])
        )
        assert w["buffer"] == pytest.approx(doc["buffer_pct"] / 100 * w["buffer_base"])
        # as printed: each equation re-done from its printed numbers gives its printed result
        t = w["text"]
        hw = (value(t["u"]["high"]) - value(t["u"]["low"])) / (2 * abs(value(t["u"]["centre"])))
        assert reproduces(hw, t["u"]["u_pct"])
        assert reproduces(
            value(t["buffer"]["factor"]) * value(t["buffer"]["base"]), t["buffer"]["result"]
        )
        assert reproduces(
            value(t["credits"]["a"]) - value(t["credits"]["b"]), t["credits"]["result"]
        )
        assert reproduces(Decimal(w["credits"]), t["credits"]["result"])  # the run's number


def test_verify_reproduces_a_monitoring_run_and_catches_changes(monitored, tmp_path):
    from simulator.errors import ReddsimError
    from simulator.orchestration.verify import verify

    run_dir, out, _ = monitored
    result = reddsim("verify", out, "-q")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("identical: 4 tables")
    # an edited table is found
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    table = copy / "tables" / "vintages.csv"
    table.write_text(table.read_text().replace("2026,", "2026,1", 1))
    assert verify(copy).differing == ["tables/vintages.csv"]
    # an edited record is refused
    doc = json.loads((copy / "monitoring.json").read_text())
    edited = {**doc, "config": {**doc["config"], "simulation": {"n_draws": 30000, "seed": 1}}}
    (copy / "monitoring.json").write_text(json.dumps(edited))
    with pytest.raises(ReddsimError, match="config_sha256 does not match"):
        verify(copy)
    # changed data are refused, naming the file
    project = tmp_path / "project"
    shutil.copytree(run_dir, project, ignore=shutil.ignore_patterns("out"))
    (copy / "monitoring.json").write_text(
        json.dumps({**doc, "config_path": str(project / "run.toml")})
    )
    areas = sorted((project / "data").glob("*map_areas*.csv"))[0]
    areas.write_text(areas.read_text() + "\n")
    with pytest.raises(ReddsimError, match=f"data file {areas.name} changed since the run"):
        verify(copy)
