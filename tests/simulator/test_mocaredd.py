"""Import of FAO mocaredd workbooks: numbers against the workbook, bad workbooks, end to end."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from models.biomass import stock_carbon_tc
from simulator.config import load_config
from simulator.data import load_data
from simulator.data.mocaredd import _land_use_moments, import_mocaredd
from simulator.errors import DataError
from tests.conftest import LOS_AMIGOS

DATA = Path(__file__).resolve().parents[1] / "data" / "mocaredd"
WORKBOOK = DATA / "example1-4pools.xlsx"
BELT = LOS_AMIGOS / "data" / "leakage_belt.csv"
AREAS = {
    "open": 50_000.0,
    "ev_wet_closed": 20_000.0,
    "ev_moist_closed": 60_000.0,
    "md_moist_closed_se": 40_000.0,
    "md_moist_closed_nw": 45_000.0,
    "ev_upland": 10_000.0,
}

# From the workbook's AD_lu_transitions sheet: the six T1 (REF, 2005-2014) DF rows.
T1_AREA = [4994, 319, 1814, 1131, 1230, 168]
T1_SE = [627.62, 168.82, 422.8, 302, 279.14, 52.42]
# c_stocks rows 26-31: post-deforestation totals (ALL), same order as the T1 rows.
POST_MEAN = [15.02, 15.95, 17.81, 14.52, 18.5, 8.3]
POST_SD = [16.96, 15.34, 8.26, 6.78, 7.28, 8.75]


def _import(tmp_path: Path, workbook: Path = WORKBOOK, **kw):
    args = dict(areas=AREAS, leakage_belt=BELT, buffer_pct=15.0) | kw
    return import_mocaredd(workbook, tmp_path / "run", **args)


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_example_numbers_match_the_workbook(tmp_path):
    result = _import(tmp_path)
    run = result.run_dir
    assert result.strata == list(AREAS)
    stocks = _rows(run / "data" / "carbon_stocks.csv")
    assert len(stocks) == 6 * 4  # AGB, BGB, DW, LI for each forest class
    agb = next(r for r in stocks if r["stratum"] == "ev_moist_closed" and r["pool"] == "AGB")
    assert (float(agb["mean"]), float(agb["sd"]), agb["unit"]) == (212.99, 43.58, "tC/ha")

    series = _rows(run / "data" / "deforestation.csv")
    assert [int(r["year"]) for r in series] == list(range(2005, 2015))
    assert all(float(r["loss_ha"]) == sum(T1_AREA) == 9656 for r in series)
    # each year carries SE x sqrt(10), so the 10-year mean carries the workbook's SE
    se = math.sqrt(sum(s**2 for s in T1_SE))
    assert float(series[0]["loss_se_ha"]) / math.sqrt(10) == pytest.approx(se, rel=1e-6)
    # forest at the start of the last reference year = the areas + that year's loss
    assert float(series[-1]["forest_area_ha"]) == sum(AREAS.values()) + 9656

    mon = _rows(run / "data" / "monitoring.csv")
    assert [(int(r["year"]), float(r["observed_loss_ha"])) for r in mon] == [
        (2019, 2020 + 650),  # T2: open + md_moist_closed_nw
        (2020, 1334 + 672),  # T3
        (2021, 670 + 672 + 3248 + 167),  # T4
    ]

    spec = load_config(run)
    cfg = spec.config
    w = np.array(T1_AREA) / sum(T1_AREA)
    post = cfg.deforestation.post_conversion_tco2e_ha
    assert post.mean == pytest.approx(44 / 12 * w @ POST_MEAN, abs=1e-3)
    assert post.sd == pytest.approx(44 / 12 * w @ POST_SD, abs=1e-3)
    assert cfg.simulation.n_draws == 10_000 and cfg.simulation.seed == 93  # n_iter, ran_seed
    assert cfg.crediting.start_year == 2022  # after the last period (T4, 2021)
    data = load_data(spec)  # what `reddsim check` runs
    assert data.carbon_stocks["pool"].size == 24 and data.plots is None
    # what has no equivalent is reported, not dropped silently
    notes = (run / "IMPORT.md").read_text()
    assert "24 DG transitions" in notes and "DG_ratio of open_deg ignored" in notes


def test_stock_formula_matches_mocaredd():
    # mocaredd R/fct_make_formula.R: (AGB + BGB) * CF + DW + LI + SOC, BGB = AGB * RS
    dm = {"AGB": "tDM/ha", "RS": "ratio", "DW": "tC/ha"}
    assert stock_carbon_tc({"AGB": 200.0, "RS": 0.25, "DW": 10.0}, dm, 0.47) == pytest.approx(
        200 * 1.25 * 0.47 + 10
    )
    c = {"AGB": "tC/ha", "BGB": "tC/ha", "LI": "tC/ha", "SOC": "tC/ha"}
    assert stock_carbon_tc({"AGB": 100.0, "BGB": 20.0, "LI": 3.0, "SOC": 50.0}, c) == 173.0
    with pytest.raises(ValueError, match="carbon fraction"):
        stock_carbon_tc({"AGB": 1.0}, {"AGB": "tDM/ha"})


def test_land_use_moments_match_monte_carlo(rng):
    pools = {"AGB": (150.0, 30.0), "RS": (0.3, 0.05), "DW": (12.0, 4.0)}
    mean, var = _land_use_moments(pools, "DM", (0.47, 0.02))
    n = 2_000_000
    x = {k: rng.normal(m, s, n) for k, (m, s) in pools.items()}
    total = x["AGB"] * (1 + x["RS"]) * rng.normal(0.47, 0.02, n) + x["DW"]
    assert mean == pytest.approx(total.mean(), rel=2e-3)
    assert math.sqrt(var) == pytest.approx(total.std(), rel=3e-3)


def edit_workbook(tmp_path: Path, sheet: str, cell: str, value) -> Path:
    """The example workbook with one cell set (or, for cell ``DELETE-SHEET``, a sheet removed)."""
    wb = openpyxl.load_workbook(WORKBOOK)
    if cell == "DELETE-SHEET":
        del wb[sheet]
    else:
        wb[sheet][cell] = value
    path = tmp_path / "bad.xlsx"
    wb.save(path)
    return path


@pytest.mark.parametrize(
    ("sheet", "cell", "value", "message"),
    [
        ("c_stocks", "DELETE-SHEET", None, "missing sheet 'c_stocks'"),
        ("AD_lu_transitions", "G1", "area", "sheet AD_lu_transitions, row 1: missing column(s) "),
        ("c_stocks", "G4", "lots", "sheet c_stocks, cell G4 (c_value) = 'lots': not a number"),
        ("AD_lu_transitions", "G3", -319, "cell G3 (trans_area) = -319: must not be negative"),
        ("AD_lu_transitions", "E2", "opn", "cell E2 (lu_initial_id) = 'opn': no carbon stock"),
        ("AD_lu_transitions", "C2", "T9", "cell C2 (trans_period) = 'T9': not a period_no"),
        ("c_stocks", "I2", "lognormal", "cell I2 (c_pdf) = 'lognormal': reddsim takes"),
        ("c_stocks", "C2", "T1", "cell C2 (c_period) = 'T1': stocks per time period"),
        ("user_inputs", "D2", "CO2", "cell D2 (c_unit) = 'CO2': must be C or DM"),
    ],
)
def test_bad_workbooks_name_sheet_cell_column_value(tmp_path, sheet, cell, value, message):
    path = edit_workbook(tmp_path, sheet, cell, value)
    with pytest.raises(DataError) as info:
        _import(tmp_path, path)
    text = str(info.value)
    assert message in text and "\n" not in text
    assert str(path) in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.xlsx"]  # nothing half-written


def test_missing_area_and_existing_run_dir(tmp_path):
    with pytest.raises(DataError, match="give --area ev_upland=HA"):
        _import(tmp_path, areas={k: v for k, v in AREAS.items() if k != "ev_upland"})
    (tmp_path / "run").mkdir()
    with pytest.raises(DataError, match="already exists"):
        _import(tmp_path)


def test_dry_matter_units_use_the_carbon_fraction(tmp_path):
    wb = openpyxl.load_workbook(WORKBOOK)
    ws = wb["user_inputs"]
    ws["D2"], ws["E2"], ws["F2"] = "DM", 0.47, 0.01
    path = tmp_path / "dm.xlsx"
    wb.save(path)
    run = _import(tmp_path, path).run_dir
    units = {
        (r["stratum"], r["pool"]): r["unit"] for r in _rows(run / "data" / "carbon_stocks.csv")
    }
    assert units["open", "AGB"] == units["open", "BGB"] == "tDM/ha"
    assert units["open", "DW"] == "tC/ha"
    cf = load_config(run).config.biomass.carbon_fraction
    assert (cf.mean, cf.sd) == (0.47, 0.01)


def test_stock_model_recovers_the_stated_stocks(tmp_path):
    """Stocks far from zero: the truncated normals keep the stated means (known answer)."""
    from models.biomass import fit_stocks
    from simulator.config import Biomass, Sampler

    stocks = {
        "stratum": np.array(["a", "a", "b", "b"]),
        "pool": np.array(["AGB", "RS", "AGB", "DW"]),
        "unit": np.array(["tDM/ha", "ratio", "tC/ha", "tC/ha"]),
        "mean": np.array([300.0, 0.3, 120.0, 10.0]),
        "sd": np.array([15.0, 0.02, 6.0, 1.0]),
    }
    tree = fit_stocks(["a", "b"], stocks, Biomass(), Sampler(chains=2, draws=1000, tune=500), 1)
    carbon = tree.posterior["carbon_tco2e_ha"].mean(("chain", "draw")).values
    expected = 44 / 12 * np.array([300 * 1.3 * 0.47, 130.0])
    # MC error of the mean is < 0.5% here (SD/mean ~ 6%, ESS in the hundreds)
    np.testing.assert_allclose(carbon, expected, rtol=0.01)


def test_cli_import_errors_exit_2_without_output(tmp_path):
    path = edit_workbook(tmp_path, "AD_lu_transitions", "G3", -319)
    args = [sys.executable, "-m", "simulator", "import", "mocaredd", path, "--out"]
    args += [tmp_path / "run", "--leakage-belt", BELT, "--buffer-pct", "15"]
    for k, v in AREAS.items():
        args += ["--area", f"{k}={v}"]
    result = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "trans_area" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_imported_example_checks_and_runs(tmp_path):
    """End to end: import, `reddsim check`, `reddsim run` on small N, `reddsim runs`."""
    run = _import(tmp_path).run_dir
    toml = run / "run.toml"
    text = toml.read_text().replace("n_draws = 10000", "n_draws = 2000")
    toml.write_text(
        text + "\n[sampler]\nchains = 2\ndraws = 300\ntune = 300\nallow_failed_diagnostics = true\n"
    )
    cli = [sys.executable, "-m", "simulator"]
    check = subprocess.run([*cli, "check", str(run)], capture_output=True, text=True)
    assert check.returncode == 0 and "24 carbon stocks" in check.stdout, check.stderr
    result = subprocess.run(
        [*cli, "run", str(run), "--json", "-q"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    import json

    total = json.loads(result.stdout)["periods"][-1]
    assert total["ner_ci_low"] < total["ner_mean"] < total["ner_ci_high"]
    out = Path(json.loads(result.stdout)["out_dir"])
    assert (out / "appendix.pdf").read_bytes().startswith(b"%PDF")
    assert not (out / "tables" / "plot_agb.csv").exists()  # no inventory, no plot table
    listed = subprocess.run([*cli, "runs", str(run), "--json"], capture_output=True, text=True)
    runs = json.loads(listed.stdout)["runs"]
    assert [r["run_id"] for r in runs] == [out.name]
    assert runs[0]["ner_mean"] == total["ner_mean"] and runs[0]["n_draws"] == 2000


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("open,AGB,ratio,28.72,5.62", "row 2, column unit = 'ratio': pool AGB must be in tC/ha"),
        ("open,AGB,tC/ha,-1,5.62", "row 2, column mean = '-1': must be > 0"),
        ("forest,AGB,tC/ha,28.72,5.62", "row 2, column stratum = 'forest': not a stratum"),
        (
            "open,BGB,tC/ha,10.89,1.94",
            "row 3, column pool = 'BGB': stratum open lists it twice (also row 2)",
        ),
    ],
)
def test_carbon_stocks_csv_errors_name_row_column_value(tmp_path, line, message):
    run = _import(tmp_path).run_dir
    path = run / "data" / "carbon_stocks.csv"
    lines = path.read_text().splitlines()
    lines[1] = line  # replaces open,AGB
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="carbon_stocks.csv: ") as info:
        load_data(load_config(run))
    assert message in str(info.value)


# --------------------------------------------------------------------------- hostile workbooks


def _rewrite(tmp_path: Path, member: str, edit) -> Path:
    """A copy of the example with one part of the .xlsx archive edited (or added)."""
    import zipfile

    path = tmp_path / "hostile.xlsx"
    with zipfile.ZipFile(WORKBOOK) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        names = [info.filename for info in src.infolist()]
        for name in names:
            data = src.read(name)
            dst.writestr(name, edit(data) if name == member else data)
        if member not in names:
            dst.writestr(member, edit(b""))
    return path


_BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">'
    + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(8)
    )
    + b"]>"
)


@pytest.mark.parametrize(
    ("member", "edit", "message"),
    [
        (
            "xl/worksheets/sheet1.xml",
            lambda x: _BILLION_LAUGHS + x.replace(b"<t>trunc_pdf</t>", b"<t>&i;</t>"),
            "not a readable .xlsx workbook",
        ),
        (
            "xl/worksheets/sheet1.xml",
            lambda x: x.replace(b'<dimension ref="A1:K2" />', b'<dimension ref="A1:XFD1048576" />'),
            "declares 1,048,576 rows x 16,384 columns",
        ),
        (
            "xl/worksheets/sheet1.xml",
            lambda x: x.replace(b"<t>trunc_pdf</t>", b"<t>" + b"x" * 20_000 + b"</t>"),
            "20,000 characters",
        ),
        ("xl/padding.bin", lambda x: bytes(70 * 2**20), "decompress to"),
    ],
    ids=["entity-expansion", "declared-range", "huge-cell", "decompression-bomb"],
)
def test_hostile_workbooks_are_refused_in_one_line(tmp_path, member, edit, message):
    path = _rewrite(tmp_path, member, edit)
    with pytest.raises(DataError) as info:
        _import(tmp_path, path)
    text = str(info.value)
    assert message in text and "\n" not in text and str(path) in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.xlsx"]


def test_workbook_name_is_written_into_run_toml_as_data(tmp_path):
    import shutil
    import tomllib

    odd = tmp_path / 'a "quoted" \\ name\nerror: x = 1.xlsx'
    shutil.copyfile(WORKBOOK, odd)
    run = _import(tmp_path, odd).run_dir
    doc = tomllib.loads((run / "run.toml").read_text())
    assert doc["project"]["name"] == odd.stem
    assert "error" not in doc  # no line was injected
    load_config(run)


def test_a_failed_import_leaves_nothing_and_the_next_one_works(tmp_path):
    from simulator.errors import ReddsimError

    with pytest.raises(ReddsimError, match="standard"):
        _import(tmp_path, standard="no-such-standard")
    assert not (tmp_path / "run").exists() and not list(tmp_path.iterdir())
    assert _import(tmp_path).run_dir == tmp_path / "run"
