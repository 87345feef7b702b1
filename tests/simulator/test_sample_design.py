"""Sample design and interpreted samples: Olofsson et al. 2014's sizes, seeded points, counts."""

from __future__ import annotations

import csv

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from simulator.cli import app
from simulator.data import maps
from simulator.data.sample_design import allocate, olofsson_sample_size, user_accuracy_size
from tests.simulator import test_maps

small_maps = test_maps.small_maps  # the fixture: 50 x 60 pixels, loss in 2001 and 2002
SIZES = "loss=5,buffer=10,stable_forest=20"


def test_eq13_on_the_papers_worked_example():
    # Olofsson et al. 2014, §5.1.1: strata weights 0.02, 0.015, 0.32, 0.645 and anticipated
    # user's accuracies 0.70, 0.60, 0.90, 0.95 with a target SE of overall accuracy of 0.01
    # give n = 641.
    w = np.array([0.02, 0.015, 0.32, 0.645])
    u = np.array([0.70, 0.60, 0.90, 0.95])
    assert olofsson_sample_size(w, u, 0.01) == 641
    # Halving the target SE quadruples the unrounded n, (sum W S / SE)^2 = 640.54.
    assert olofsson_sample_size(w, u, 0.005) == 2563  # ceil(4 x 640.54)


def test_user_accuracy_size_inverts_eq6():
    n = user_accuracy_size(0.9, 0.03)  # 0.09 / 0.0009 + 1
    assert n == 101
    assert np.sqrt(0.9 * 0.1 / (n - 1)) <= 0.03 + 1e-12


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 5000),
    st.lists(st.floats(0.001, 1.0), min_size=1, max_size=6),
    st.integers(0, 100),
)
def test_allocation_gives_the_minimum_and_the_rest_proportionally(n, w, minimum):
    w = np.array(w)
    sizes = allocate(n, w, minimum)
    assert sizes.sum() == max(n, minimum * w.size)
    assert np.all(sizes >= minimum)
    exact = max(n - minimum * w.size, 0) * w / w.sum()
    assert np.all(np.abs(sizes - minimum - exact) < 1.0)


def design(m, out, *extra):
    return CliRunner().invoke(
        app,
        [
            "sample-design",
            "--loss",
            str(m["loss"]),
            "--reference-region",
            str(m["reference_region"]),
            "--sizes",
            SIZES,
            "--out",
            str(out),
            *extra,
        ],
    )


def import_sample(m, points, out):
    return CliRunner().invoke(
        app,
        [
            "import",
            "sample",
            str(points),
            "--loss",
            str(m["loss"]),
            "--reference-region",
            str(m["reference_region"]),
            "--out",
            str(out),
        ],
    )


def read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def interpret(rows, seed=3):
    """A known interpretation: the map's class, flipped for a seeded fifth of the points."""
    rng = np.random.default_rng(seed)
    for r in rows:
        right = "loss" if r["stratum"] == "loss" else "forest"
        wrong = "forest" if right == "loss" else "loss"
        r["reference_class"] = wrong if rng.random() < 0.2 else right
    return rows


def write(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_points_lie_in_their_strata_and_are_seeded(small_maps, tmp_path):
    res = design(small_maps, tmp_path / "a", "--seed", "7")
    assert res.exit_code == 0, res.output
    rows = read(tmp_path / "a" / "points.csv")
    assert len(rows) == 2 * 35  # two map years, 5 + 10 + 20 points each
    lm = maps.read_loss_map(small_maps["loss"])
    inv = ~lm.transform
    codes = {y: maps.year_strata(lm, y, 2) for y in lm.years}
    seen = set()
    for r in rows:
        x, y = float(r["x"]), float(r["y"])
        col = int(np.floor(inv.a * x + inv.b * y + inv.c))
        row = int(np.floor(inv.d * x + inv.e * y + inv.f))
        assert maps.MAP_STRATA[codes[int(r["year"])][row, col] - 1] == r["stratum"]
        assert (r["year"], row, col) not in seen  # without replacement
        seen.add((r["year"], row, col))
    # Same seed, same bytes; another seed, other points.
    assert design(small_maps, tmp_path / "b", "--seed", "7").exit_code == 0
    assert design(small_maps, tmp_path / "c", "--seed", "8").exit_code == 0
    a = (tmp_path / "a" / "points.csv").read_bytes()
    assert a == (tmp_path / "b" / "points.csv").read_bytes()
    assert a != (tmp_path / "c" / "points.csv").read_bytes()
    gpkg = gpd.read_file(tmp_path / "a" / "points.gpkg")
    assert len(gpkg) == len(rows)
    assert gpkg.crs.to_epsg() == 32719


def test_interpreted_points_round_trip_to_exact_counts(small_maps, tmp_path):
    assert design(small_maps, tmp_path / "d", "--seed", "1").exit_code == 0
    rows = interpret(read(tmp_path / "d" / "points.csv"))
    points = write(tmp_path / "interpreted.csv", rows)
    res = import_sample(small_maps, points, tmp_path / "accuracy_sample.csv")
    assert res.exit_code == 0, res.output
    counted = {
        (int(r["year"]), r["stratum"], r["reference_class"]): int(r["count"])
        for r in read(tmp_path / "accuracy_sample.csv")
    }
    expected = {}
    for r in rows:
        key = (int(r["year"]), r["stratum"], r["reference_class"])
        expected[key] = expected.get(key, 0) + 1
    assert {k: v for k, v in counted.items() if v} == expected
    assert len(counted) == 2 * 3 * 2  # every year, stratum and class, zeros included
    # The same interpretation from the GeoPackage gives the same file.
    frame = gpd.read_file(tmp_path / "d" / "points.gpkg")
    frame["reference_class"] = [r["reference_class"] for r in rows]
    frame.to_file(tmp_path / "interpreted.gpkg")
    res = import_sample(small_maps, tmp_path / "interpreted.gpkg", tmp_path / "from_gpkg.csv")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "from_gpkg.csv").read_bytes() == (
        tmp_path / "accuracy_sample.csv"
    ).read_bytes()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("stratum", "not in stratum"),
        ("outside", "outside the reference region"),
        ("class", "reference_class 'cloud'"),
        ("year", "not a year of the map"),
        ("empty", "must be numbers"),
        ("nan", "must be numbers"),
        ("twice", "appears twice"),
    ],
)
def test_a_bad_point_stops_with_one_line_and_nothing_written(small_maps, tmp_path, change, message):
    assert design(small_maps, tmp_path / "e", "--seed", "2").exit_code == 0
    rows = interpret(read(tmp_path / "e" / "points.csv"))
    bad = rows[0]  # a loss point of the first year
    if change == "stratum":
        bad["stratum"] = "stable_forest"
    elif change == "outside":
        bad["x"] = str(float(bad["x"]) - 1e6)
    elif change == "class":
        bad["reference_class"] = "cloud"
    elif change == "year":
        bad["year"] = "1999"
    elif change == "empty":
        bad["x"] = ""
    elif change == "nan":
        bad["y"] = "nan"
    else:  # the first point again, at the end: the same interpretation counted twice
        rows.append(dict(bad))
        bad = rows[-1]
    res = import_sample(
        small_maps, write(tmp_path / "bad.csv", rows), tmp_path / "accuracy_sample.csv"
    )
    assert res.exit_code == 2
    assert message in res.output
    line = len(rows) + 1 if change == "twice" else 2  # the header is line 1
    assert f"line {line}:" in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "accuracy_sample.csv").exists()


def test_more_points_than_pixels_is_refused(small_maps, tmp_path):
    res = CliRunner().invoke(
        app,
        [
            "sample-design",
            "--loss",
            str(small_maps["loss"]),
            "--reference-region",
            str(small_maps["reference_region"]),
            "--sizes",
            "loss=11",
            "--seed",
            "1",
            "--out",
            str(tmp_path / "f"),
        ],
    )
    assert res.exit_code == 2
    assert "11 points wanted in stratum loss but it has 10 pixels" in res.output
    assert not (tmp_path / "f").exists()
