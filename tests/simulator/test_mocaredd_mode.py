"""mocaredd mode: mocaredd's own REF, MON and ER reproduced from an imported workbook.

The reference numbers (tests/data/mocaredd/reference-example1-4pools.csv) were computed by
mocaredd's own R functions (benchmarks/mocaredd_reference.R; its header names the mocaredd
commit, N and seed). reddsim's draws are NumPy's, not R's, so each statistic is compared
within a tolerance derived from both Monte Carlo sample sizes.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.mocaredd_compare import tolerance
from simulator.accounting.mocaredd import (
    carbon_stock,
    degraded_stock,
    draw_input,
    emission_factor,
    emission_reductions,
    emissions,
    period_level,
    results,
    simulate,
    summarise,
)
from simulator.config import load_config, load_run
from simulator.config.mocaredd import MocareddSpec
from simulator.data.mocaredd import (
    MocareddElement,
    MocareddInputs,
    MocareddPeriod,
    MocareddSettings,
    MocareddTransition,
    Pdf,
    import_mocaredd_mode,
    read_mocaredd_inputs,
)
from simulator.errors import ConfigError
from tests.simulator.test_mocaredd import edit_workbook

DATA = Path(__file__).resolve().parents[1] / "data" / "mocaredd"
WORKBOOK = DATA / "example1-4pools.xlsx"
REFERENCE = DATA / "reference-example1-4pools.csv"
#: reddsim's own sample size for the comparison (the reference has its own, in the CSV).
N_REDDSIM = 200_000
SEED_REDDSIM = 20261201
EXISTING_JSON_KEYS = {
    "out_dir",
    "appendix",
    "standard",
    "confidence",
    "n_draws",
    "seed",
    "periods",
    "standards",
}


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "simulator.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


# --------------------------------------------------------------------------- formulas


def test_emission_factor_is_stock_difference_times_44_over_12_rounded():
    assert emission_factor(120.0, 10.0) == pytest.approx(403.333, abs=0)
    assert emission_factor(10.0, 10.0) == 0.0
    assert emission_factor(10.0, 40.0) == pytest.approx(-110.0)  # gains are negative EF
    rng = np.random.default_rng(1)
    ci, cf = rng.uniform(0, 300, 1000), rng.uniform(0, 300, 1000)
    ef = emission_factor(ci, cf)
    assert np.all(np.abs(ef - (ci - cf) * 44 / 12) <= 0.0005 + 1e-9)
    assert np.all(np.abs(ef * 1000 - np.round(ef * 1000)) < 1e-6)  # 3 decimals
    assert emissions(50.0, 403.333) == pytest.approx(20166.65)


def test_carbon_stock_follows_mocaredds_formula():
    p = {
        "AGB": np.array([100.0]),
        "BGB": np.array([20.0]),
        "DW": np.array([5.0]),
        "LI": np.array([2.0]),
        "SOC": np.array([50.0]),
    }
    order = list(p)
    assert carbon_stock(p, order, "C")[0] == 177.0
    # dry matter: (AGB + BGB) * CF + DW + LI + SOC
    assert carbon_stock(p, order, "DM", np.array([0.5]))[0] == pytest.approx(60 + 57)
    rs = {"AGB": np.array([100.0]), "RS": np.array([0.25])}
    assert carbon_stock(rs, ["AGB", "RS"], "C")[0] == 125.0  # BGB = AGB * RS
    assert carbon_stock({"AGB": np.array([80.0])}, ["AGB"], "DM", np.array([0.47]))[0] == (
        pytest.approx(37.6)
    )
    assert carbon_stock({"ALL": np.array([15.0])}, ["ALL"], "C")[0] == 15.0
    with pytest.raises(ValueError, match="AGB"):
        carbon_stock({"DW": np.array([1.0])}, ["DW"], "C")


def test_degraded_stock_both_forms():
    assert degraded_stock(0.7, 200.0) == pytest.approx(140.0)
    # dg_pool not ALL: the pools that do not degrade stay whole
    assert degraded_stock(0.7, 200.0, 10.0) == pytest.approx(0.7 * 200 + 0.3 * 10)
    assert degraded_stock(1.0, 200.0, 10.0) == 200.0


def test_period_level_is_the_historical_average_rounded():
    a, b = np.array([1000.4, 2000.0]), np.array([3000.0, 10.0])
    # annual areas: each period's annual E weighted by its years, over the type's years
    np.testing.assert_array_equal(
        period_level({"T3": a, "T4": b}, {"T3": 1, "T4": 1}, True), [2000.0, 1005.0]
    )
    np.testing.assert_array_equal(
        period_level({"T1": a, "T2": b}, {"T1": 3, "T2": 1}, True),
        np.round((3 * a + b) / 4),
    )
    # period totals: summed, over the type's years
    np.testing.assert_array_equal(period_level({"T1": a}, {"T1": 10}, False), np.round(a / 10))
    one = period_level({"T1": a}, {"T1": 10}, True)  # annual: 10 years of E over 10 years
    np.testing.assert_array_equal(one, np.round(a))


def test_er_is_computed_draw_by_draw():
    rng = np.random.default_rng(3)
    ref = rng.normal(100, 10, 10_000)
    mon = ref * 0.5 + rng.normal(0, 1, 10_000)  # correlated with the reference
    er = emission_reductions(ref, mon)
    np.testing.assert_array_equal(er, ref - mon)
    # draw by draw, not quantile by quantile: the median of ER is not median(ref) - median(mon)
    assert np.std(er) < np.std(ref)  # the shared part cancels


def test_draw_input_truncates_rounds_and_draws_beta():
    rng = np.random.default_rng(5)
    x = draw_input(rng, 10_000, Pdf("normal", 0.5, 1.0), trunc=True)
    assert x.min() == 0.0 and (x == 0).mean() > 0.25
    assert np.all(np.abs(x * 1000 - np.round(x * 1000)) < 1e-6)
    y = draw_input(rng, 10_000, Pdf("normal", 0.5, 1.0), trunc=False)
    assert y.min() < 0
    # mean and SE rounded to 3 decimals before drawing (fct_make_mcs)
    z = draw_input(np.random.default_rng(7), 5, Pdf("normal", 1.23456, 0.0), trunc=False)
    np.testing.assert_array_equal(z, 1.235)
    b = draw_input(rng, 50_000, Pdf("beta", a=157.46, b=55.32), trunc=False)
    assert 0 < b.min() and b.max() < 1
    assert b.mean() == pytest.approx(157.46 / (157.46 + 55.32), abs=0.001)


def test_summarise_is_fct_calc_res_with_r_type_7_quantiles():
    x = np.arange(1.0, 11.0)
    s = summarise(x, 0.9)
    # R: quantile(1:10, c(0.05, 0.95)) = 1.45, 9.55; median 5.5
    assert (s["ci_low"], s["median"], s["ci_high"]) == pytest.approx((1.45, 5.5, 9.55))
    assert (s["E"], s["E_cilower"], s["E_ciupper"]) == (6.0, 1.0, 10.0)  # R rounds half even
    assert s["E_ME"] == round((10 - 1) / 2) and s["E_U"] == round(s["E_ME"] / 6 * 100)
    assert s["mean"] == 5.5


def _tiny(sd_area=0.0, sd_stock=0.0) -> MocareddInputs:
    settings = MocareddSettings(
        n_iter=100,
        seed=1,
        trunc_pdf=False,
        c_unit="C",
        c_fraction=None,
        dg_ext=None,
        dg_pool=None,
        ad_annual=True,
        conf_level=0.9,
    )
    periods = (
        MocareddPeriod("T1", 2001, 2002, "REF"),
        MocareddPeriod("T2", 2003, 2003, "MON1"),
    )
    transitions = (
        MocareddTransition("a", "T1", "forest", "crop", "DF", Pdf("normal", 50.0, sd_area)),
        MocareddTransition("b", "T2", "forest", "crop", "DF", Pdf("normal", 20.0, sd_area)),
    )
    elements = (
        MocareddElement("forest", "AGB", Pdf("normal", 100.0, sd_stock)),
        MocareddElement("forest", "BGB", Pdf("normal", 20.0, sd_stock)),
        MocareddElement("crop", "ALL", Pdf("normal", 10.0, sd_stock)),
    )
    return MocareddInputs(settings, periods, transitions, elements)


def test_known_answer_without_uncertainty():
    d = simulate(_tiny(), 1000, 1)
    # EF = (120 - 10) * 44 / 12 = 403.333; E_REF = round(50 * 403.333 * 2 / 2) = 20167
    np.testing.assert_array_equal(d.ref, 20167.0)
    np.testing.assert_array_equal(d.mon["MON1"], 8067.0)  # round(20 * 403.333)
    np.testing.assert_array_equal(d.er["MON1"], 12100.0)
    rows = {(r["quantity"], r["period"]): r for r in results(d)}
    assert rows["ER", "MON1"]["E"] == 12100.0 and rows["ER", "MON1"]["E_ME"] == 0.0


def test_draws_depend_on_seed_and_n_only():
    inputs = _tiny(0.5, 20.0)  # stock uncertainty dominates: REF and MON share it
    a, b = simulate(inputs, 70_000, 11), simulate(inputs, 70_000, 11)
    np.testing.assert_array_equal(a.er["MON1"], b.er["MON1"])
    c = simulate(inputs, 70_000, 12)
    assert not np.array_equal(a.ref, c.ref)
    # the reference and monitoring share the same stock draws, so ER is a joint draw
    assert np.corrcoef(a.ref, a.mon["MON1"])[0, 1] > 0.5


# --------------------------------------------------------------------------- reproduction


def _reference() -> list[dict]:
    with REFERENCE.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_reference_csv_carries_its_provenance():
    rows = _reference()
    assert {(r["quantity"], r["period"]) for r in rows} == {
        ("REF", "REF"),
        ("MON", "MON1"),
        ("MON", "MON2"),
        ("ER", "MON1"),
        ("ER", "MON2"),
    }
    for r in rows:
        assert len(r["mocaredd_commit"]) == 40 and int(r["n"]) >= 100_000
        assert r["workbook"] == WORKBOOK.name and r["seed"] and r["r_version"]
        assert float(r["conf_level"]) == 0.9


@pytest.fixture(scope="module")
def imported_run(tmp_path_factory):
    """``reddsim import mocaredd WORKBOOK --out DIR`` alone, then ``reddsim run DIR --json``."""
    root = tmp_path_factory.mktemp("moc")
    run_dir = root / "run"
    imp = _cli("import", "mocaredd", WORKBOOK, "--out", run_dir)
    assert imp.returncode == 0, imp.stderr
    res = _cli("run", run_dir, "--json", "--draws", N_REDDSIM, "--seed", SEED_REDDSIM, "-q")
    assert res.returncode == 0, res.stderr
    return run_dir, json.loads(res.stdout)


def test_imported_workbook_reproduces_mocaredd_within_mc_error(imported_run):
    run_dir, totals = imported_run
    assert EXISTING_JSON_KEYS <= set(totals) and totals["mode"] == "mocaredd"
    assert totals["n_draws"] == N_REDDSIM and totals["seed"] == SEED_REDDSIM
    assert totals["confidence"] == 0.9  # user_inputs.conf_level
    got = {(r["quantity"], r["period"]): r for r in totals["mocaredd"]}
    # the same draws in process, for the density that sets each quantile's tolerance
    draws = simulate(read_mocaredd_inputs(WORKBOOK), N_REDDSIM, SEED_REDDSIM)
    series = {("REF", "REF"): draws.ref}
    series |= {("MON", t): x for t, x in draws.mon.items()}
    series |= {("ER", t): x for t, x in draws.er.items()}
    alpha = 1 - 0.9
    failures, checked = [], 0
    for ref in _reference():
        key = (ref["quantity"], ref["period"])
        x, n_ref, sd_ref = series[key], int(ref["n"]), float(ref["sd"])
        assert got[key]["n"] == N_REDDSIM
        for stat, q in (
            ("mean", None),
            ("median", 0.5),
            ("ci_low", alpha / 2),
            ("ci_high", 1 - alpha / 2),
        ):
            tol = tolerance(x, stat, q, n_ref, sd_ref)
            diff = got[key][stat] - float(ref[stat])
            checked += 1
            assert tol < 0.05 * abs(float(ref["mean"])) + 1, (key, stat, tol)  # informative
            if abs(diff) > tol:
                failures.append(
                    f"{key} {stat}: reddsim {got[key][stat]:,.0f} vs mocaredd "
                    f"{float(ref[stat]):,.0f} (|diff| {abs(diff):,.0f} > {tol:,.0f})"
                )
        # mocaredd's rounded E is its median: the same comparison on its own printout
        tol = tolerance(x, "median", 0.5, n_ref, sd_ref)
        assert abs(got[key]["E"] - float(ref["E"])) <= tol + 1
    assert checked == 20
    assert not failures, "\n".join(failures)


def test_run_writes_results_and_text_table(imported_run, tmp_path):
    run_dir, totals = imported_run
    out = Path(totals["out_dir"])
    saved = json.loads((out / "mocaredd.json").read_text())
    assert saved["estimates"] == totals["mocaredd"]
    assert saved["workbook_sha256"] == read_mocaredd_inputs(WORKBOOK).sha256
    with (out / "mocaredd.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 5
    res = _cli("run", run_dir, "--draws", 1000, "--out", tmp_path / "o", "-q")
    assert res.returncode == 0, res.stderr
    assert "ER" in res.stdout and "MON2" in res.stdout
    again = _cli("run", run_dir, "--draws", 1000, "--out", tmp_path / "o", "-q")
    assert again.returncode == 2 and "--force" in again.stderr
    assert (
        _cli("run", run_dir, "--draws", 1000, "--out", tmp_path / "o", "--force", "-q").returncode
        == 0
    )
    chk = _cli("check", run_dir)
    assert chk.returncode == 0 and "mocaredd mode" in chk.stdout
    # --out is checked as a run's: not a directory of other files, not a symlink
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    (tmp_path / "link").symlink_to(tmp_path / "o")
    for target, fragment in (("other", "no mocaredd.json"), ("link", "a symlink")):
        refused = _cli("run", run_dir, "--draws", 1000, "--out", tmp_path / target, "--force")
        assert refused.returncode == 2 and fragment in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep me"


# --------------------------------------------------------------------------- import, config


def test_import_writes_workbook_copy_and_mode(tmp_path):
    result = import_mocaredd_mode(WORKBOOK, tmp_path / "r")
    spec = load_run(result.run_dir)
    assert isinstance(spec, MocareddSpec)
    assert spec.config.simulation.n_draws == 10_000 and spec.config.simulation.seed == 93
    assert spec.data_path("workbook").read_bytes() == WORKBOOK.read_bytes()
    with pytest.raises(ConfigError, match="mode = 'mocaredd'"):
        load_config(result.run_dir)  # the commands of simulation runs say what it is
    assert import_mocaredd_mode(WORKBOOK, tmp_path / "s", seed=7).notes[0].endswith("--seed 7.")
    with pytest.raises(ConfigError, match="mc-tolerance"):
        spec.with_overrides(mc_tolerance=0.01)


def test_mode_config_refuses_unknown_keys_and_paths_outside(tmp_path):
    run = import_mocaredd_mode(WORKBOOK, tmp_path / "r").run_dir
    toml = (run / "run.toml").read_text()
    (run / "run.toml").write_text(toml + "\n[crediting]\nstart_year = 2022\nyears = 10\n")
    with pytest.raises(ConfigError, match="crediting"):
        load_run(run)
    (run / "run.toml").write_text(toml.replace('"data/workbook.xlsx"', '"../x.xlsx"'))
    with pytest.raises(ConfigError, match="outside the run directory"):
        load_run(run)


def test_cli_partial_reddsim_options_are_refused(tmp_path):
    res = _cli("import", "mocaredd", WORKBOOK, "--out", tmp_path / "r", "--area", "open=5")
    assert res.returncode == 2 and "--leakage-belt" in res.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("sheet", "cell", "value", "message"),
    [
        ("c_stocks", "G4", "NA", "cell G4 (c_value) = 'NA': NA: mocaredd's stock formula"),
        ("c_stocks", "C2", "T1", "cell C2 (c_period) = 'T1': mocaredd computes stocks for"),
        ("c_stocks", "I2", "lognormal", "cell I2 (c_pdf) = 'lognormal': mocaredd draws normal"),
        ("c_stocks", "J32", 0, "cell J32 (c_pdf_a) = 0: a beta shape must be > 0"),
        ("AD_lu_transitions", "G3", -319, "cell G3 (trans_area) = -319: must not be negative"),
        ("AD_lu_transitions", "C2", "T9", "cell C2 (trans_period) = 'T9': not a period_no"),
        ("AD_lu_transitions", "E2", "opn", "cell E2 (lu_initial_id) = 'opn': no carbon stock"),
        ("time_periods", "D3", "REF2", "2 reference types"),
        ("user_inputs", "C2", "NA", "ran_seed = NA: reddsim runs are reproducible"),
    ],
)
def test_bad_workbooks_are_refused_in_one_line_and_nothing_written(
    tmp_path, sheet, cell, value, message
):
    from simulator.errors import DataError

    path = edit_workbook(tmp_path, sheet, cell, value)
    with pytest.raises(DataError) as info:
        import_mocaredd_mode(path, tmp_path / "run")
    text = str(info.value)
    assert message in text and "\n" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.xlsx"]
