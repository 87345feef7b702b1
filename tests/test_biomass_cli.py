"""`reddsim biomass`: output rows, determinism, bad input (one line, exit 2, nothing written)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from simulator.cli import app

GENERA = [
    ("Dipteryx", "micrantha"),
    ("Inga", ""),
    ("Pouteria", "torta"),
    ("", ""),
    ("Iriartea", ""),
]


@pytest.fixture()
def inputs(tmp_path):
    gen = np.random.default_rng(3)
    rows = ["plot_id,tree_id,dbh_cm,height_m,genus,species"]
    for p in ("A", "B"):
        for i in range(150):
            d = 10 + gen.exponential(15)
            h = 46.263 * (1 - np.exp(-0.0876 * d**0.6072)) + gen.normal(0, 3)
            g, s = GENERA[i % len(GENERA)]
            rows.append(f"{p},{p}{i},{d:.1f},{h:.1f}" if i % 3 == 0 else f"{p},{p}{i},{d:.1f},")
            rows[-1] += f",{g},{s}"
    trees = tmp_path / "trees.csv"
    trees.write_text("\n".join(rows) + "\n")
    plots = tmp_path / "plots.csv"
    plots.write_text("plot_id,area_ha\nA,1\nB,0.5\n")
    return trees, plots


def invoke(*args):
    return CliRunner().invoke(app, ["biomass", *map(str, args)])


def test_json_rows_and_total(inputs, tmp_path):
    trees, plots = inputs
    res = invoke(trees, "--plots", plots, "--draws", 100, "--json", "--out", tmp_path / "o")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    rows = {r["plot"]: r for r in doc["rows"]}
    assert list(rows) == ["A", "B", "total"]
    for r in rows.values():
        assert set(r) == {"plot", "mean", "median", "sd", "q2.5", "q97.5"}
        assert r["q2.5"] < r["median"] < r["q97.5"] and r["sd"] > 0
    # total Mg = sum of plot densities x areas (means add)
    assert rows["total"]["mean"] == pytest.approx(rows["A"]["mean"] + 0.5 * rows["B"]["mean"])
    budget = doc["error_budget"]
    assert budget["shared"]["share_pct"] + budget["independent"]["share_pct"] == pytest.approx(100)
    assert {c["hd_model"] for c in doc["hd_candidates"]} == {
        "log1",
        "log2",
        "log3",
        "weibull",
        "michaelis",
    }
    assert doc["wood_density_sources"]["species"] > 0  # Dipteryx micrantha is in the table
    assert doc["wood_density_sources"]["palm"] == 60  # Iriartea: a palm, no wood density
    written = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert written == ["biomass.csv", "biomass.json", "error_budget.csv", "hd_candidates.csv"]
    again = invoke(trees, "--plots", plots, "--draws", 100, "--json")
    assert json.loads(again.stdout)["rows"] == doc["rows"]  # same seed, same numbers


def test_fixed_form_and_weights(inputs):
    trees, plots = inputs
    res = invoke(
        trees,
        "--plots",
        plots,
        "--draws",
        50,
        "--json",
        "--hd-model",
        "log2",
        "--hd-weights",
        "d2h",
    )
    assert res.exit_code == 0, res.output
    assert "log2 weighted by D2H" in json.loads(res.stdout)["height_models"]


@pytest.mark.parametrize(
    "edit,args,expect",
    [
        (("dbh_cm", "-3"), (), "column dbh_cm = '-3'"),
        (None, ("--hd-model", "cubic"), "--hd-model = 'cubic'"),
        (None, ("--hd-weights", "volume"), "--hd-weights"),
        (("plot", "C"), (), "not a plot of"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(inputs, tmp_path, edit, args, expect):
    trees, plots = inputs
    if edit is not None:
        lines = trees.read_text().splitlines()
        cells = lines[5].split(",")
        if edit[0] == "dbh_cm":
            cells[2] = edit[1]
        else:
            cells[0] = edit[1]
        lines[5] = ",".join(cells)
        trees.write_text("\n".join(lines) + "\n")
    out = tmp_path / "never"
    res = invoke(trees, "--plots", plots, "--draws", 50, "--out", out, *args)
    assert res.exit_code == 2
    message = res.stderr.strip() if res.stderr else res.output.strip()
    assert len(message.splitlines()) == 1 and expect in message
    assert not out.exists()
    assert not any(p.name.startswith(".incomplete") for p in tmp_path.iterdir())
