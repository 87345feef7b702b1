"""``reddsim allocate``: UDef-ARP's allocation of a jurisdiction's loss, checked by hand.

The known answers below are computed in the comments from the pixel counts of a 6 x 10
raster of 1 ha pixels; the cap, the sums and the share's monotonicity are checked against
an independent exact solution; the share's uncertainty against its draws.
"""

from __future__ import annotations

import csv
import json
import tomllib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString
from typer.testing import CliRunner

from models.settings import Allocation
from simulator.cli import app
from simulator.data import risk_map
from simulator.data.risk_map import (
    ClassCounts,
    adjust_density,
    allocate,
    allocate_map,
    beta_moments,
    share_draws,
)
from simulator.errors import DataError
from tests.simulator.test_maps import NODATA, PX, X0, Y0, cell, write_raster, write_vector

RISK_NODATA = 0


def known_rasters():
    """6 rows x 10 columns of 1 ha pixels; rows 0-4 forest, row 5 no forest.

    Risk classes by column: 1 in columns 0-3, 2 in columns 4-7, 3 in columns 8-9 (row 5
    too, where there is no forest: a class there is ignored). Loss in 2011-2012 (the
    historical period): class 1 one pixel (0, 0); class 2 four, column 6 rows 0-3; class 3
    five, column 8. One pixel (0, 9) of class 3 is lost in 2013, after the period.
    """
    loss = np.zeros((6, 10), dtype=np.uint16)
    loss[5, :] = NODATA
    loss[0, 0] = 2011
    loss[0:4, 6] = [2011, 2011, 2012, 2012]
    loss[0:5, 8] = [2011, 2012, 2011, 2012, 2011]
    loss[0, 9] = 2013
    risk = np.ones((6, 10), dtype=np.uint8)
    risk[:, 4:8] = 2
    risk[:, 8:10] = 3
    return loss, risk


@pytest.fixture
def known(tmp_path):
    loss, risk = known_rasters()
    d = tmp_path / "in"
    d.mkdir()
    return {
        "loss": write_raster(d / "loss.tif", loss),
        "risk": write_raster(d / "risk.tif", risk, nodata=RISK_NODATA, dtype="uint8"),
        "jurisdiction": write_vector(d / "jur.gpkg", [cell(0, 0, 6, 10)]),
        # columns 2-5: ten forest pixels of class 1 (columns 2-3) and ten of class 2 (4-5)
        "project": write_vector(d / "project.gpkg", [cell(0, 2, 5, 6)]),
        "loss_array": loss,
        "risk_array": risk,
        "dir": d,
    }


def run_known(m, out, mean=6.65, sd=0.5, **kw):
    return allocate(
        m["risk"],
        m["loss"],
        m["jurisdiction"],
        m["project"],
        out,
        (2011, 2012),
        (mean, sd),
        draws=kw.pop("draws", 500),
        **kw,
    )


def read_csv(path):
    with open(path, newline="") as fh:
        return {int(r["class"]): r for r in csv.DictReader(fh)}


def test_known_answer_without_the_cap(known, tmp_path):
    """Densities, ratio and share by hand.

    Forest at the start of 2011 (pixels = ha): class 1 20, class 2 20, class 3 10.
    Lost in 2011-2012: 1, 4, 5 -> relative frequencies 0.05, 0.2, 0.5; per year (2 years)
    0.025, 0.1, 0.25 ha/px/yr. Forest at the start of 2013: 19, 16, 5 (the 2013 loss is
    still forest). Density summed over it: 0.025*19 + 0.1*16 + 0.25*5 = 3.325 ha/yr;
    J = 6.65 -> adjustment ratio 2, adjusted densities 0.05, 0.2, 0.5 (none capped).
    Allocated: 0.95 + 3.2 + 2.5 = 6.65. Project: 10 px of class 1 and 10 of class 2,
    0.5 + 2.0 = 2.5 ha/yr; s = 2.5 / 6.65 = 0.37594.
    """
    res = run_known(known, tmp_path / "out")
    rows = read_csv(tmp_path / "out" / "allocation.csv")
    assert [float(rows[c]["forest_start_ha"]) for c in (1, 2, 3)] == [20, 20, 10]
    assert [float(rows[c]["historical_loss_ha"]) for c in (1, 2, 3)] == [1, 4, 5]
    assert [float(rows[c]["relative_frequency"]) for c in (1, 2, 3)] == [0.05, 0.2, 0.5]
    assert [float(rows[c]["jurisdiction_forest_ha"]) for c in (1, 2, 3)] == [19, 16, 5]
    assert [float(rows[c]["project_forest_ha"]) for c in (1, 2, 3)] == [10, 10, 0]
    density = [float(rows[c]["adjusted_density_ha_px_yr"]) for c in (1, 2, 3)]
    assert density == pytest.approx([0.05, 0.2, 0.5], rel=1e-12)
    allocated = [float(rows[c]["jurisdiction_allocated_ha_yr"]) for c in (1, 2, 3)]
    assert allocated == pytest.approx([0.95, 3.2, 2.5], rel=1e-12)
    project = [float(rows[c]["project_allocated_ha_yr"]) for c in (1, 2, 3)]
    assert project == pytest.approx([0.5, 2.0, 0.0], abs=1e-12)
    assert res.share == pytest.approx(2.5 / 6.65, rel=1e-12)
    assert res.project_ha_yr == pytest.approx(2.5, rel=1e-12)
    record = json.loads((tmp_path / "out" / "allocation.json").read_text())
    # UDef-ARP's loop runs once (AR = 2 > 1.00001), finds no pixel above its area, stops
    assert record["adjustment_ratio"] == pytest.approx(2.0) and record["iterations"] == 1
    assert record["capped_classes"] == []
    assert record["pixels"]["forest_start"] == [20, 20, 10]
    assert record["pixels"]["lost"] == [1, 4, 5]
    assert record["pixels"]["project_forest"] == [10, 10, 0]


def test_the_cap_redistributes_and_the_total_stays_j(known, tmp_path):
    """J = 20 ha/yr: class 3 would exceed its pixels' area and is capped.

    First ratio 20 / 3.325 = 6.015: class 3 at 0.25 * 6.015 = 1.5 ha per 1 ha pixel. Capped
    at 1, it takes 5 ha; the other 15 ha go to classes 1 and 2, t (0.025*19 + 0.1*16) =
    2.075 t = 15, t = 7.2289: densities 0.18072, 0.72289 (< 1), 1. Project:
    10 * 0.18072 + 10 * 0.72289 = 9.0361 ha/yr, s = 0.45181.
    """
    res = run_known(known, tmp_path / "out", mean=20.0, sd=2.0)
    rows = read_csv(tmp_path / "out" / "allocation.csv")
    density = np.array([float(rows[c]["adjusted_density_ha_px_yr"]) for c in (1, 2, 3)])
    t = 15 / 2.075
    assert density == pytest.approx([0.025 * t, 0.1 * t, 1.0], rel=2e-5)
    assert density.max() <= 1.0  # no pixel above its 1 ha
    allocated = sum(float(r["jurisdiction_allocated_ha_yr"]) for r in rows.values())
    assert allocated == pytest.approx(20.0, rel=1e-5)
    assert res.share == pytest.approx(10 * 0.125 * t / 20, rel=2e-5)
    record = json.loads((tmp_path / "out" / "allocation.json").read_text())
    assert record["adjustment_ratio"] == pytest.approx(20 / 3.325)
    assert record["iterations"] > 1 and record["capped_classes"] == [3]


def test_a_cap_that_spills_twice():
    """J = 30: class 3 capped (5 ha), then class 2 (16 ha), class 1 takes 9 ha of 19.

    Class 1: 19 p t = 9 with p = 0.025 -> adjusted 9 / 19 = 0.47368.
    """
    adjusted, ratio, iterations = adjust_density(
        np.array([0.025, 0.1, 0.25]), np.array([19.0, 16.0, 5.0]), 30.0
    )
    assert adjusted == pytest.approx([9 / 19, 1.0, 1.0], rel=1e-4)
    assert adjusted @ [19, 16, 5] == pytest.approx(30.0, rel=1e-5)
    assert ratio == pytest.approx(30 / 3.325) and iterations > 1


def test_a_cap_that_does_not_converge_is_refused():
    """Almost all of J capped: each pass of the loop gains little; refused, not truncated."""
    p = np.array([0.5, 0.5, 0.5, 0.5, 0.00195312])
    area = np.array([2.0, 1.0, 50.0, 50.0, 24.0])
    with pytest.raises(DataError, match="has not converged after 100 iterations"):
        adjust_density(p, area, 103.1, max_iterations=100)


def exact_allocation(p, area, expected):
    """Water-filling: the t with sum(min(t p, 1) area) = expected, classes capped in turn."""
    order = np.argsort(-p)
    capped = np.zeros(p.size, bool)
    for k in order:
        free = ~capped
        t = (expected - area[capped].sum()) / (p[free] @ area[free])
        if t * p[k] <= 1:
            break
        capped[k] = True
    return np.where(capped, 1.0, np.minimum(t * p, 1.0))


@st.composite
def maps(draw):
    k = draw(st.integers(2, 5))
    # UDef-ARP's loop converges at the rate (capped loss) / J per pass: probabilities within
    # a factor 30 of each other and J at most 60% of the forest keep that below about 0.98
    p = np.array(draw(st.lists(st.floats(0.01, 0.3), min_size=k, max_size=k)))
    area = np.array(draw(st.lists(st.integers(1, 50), min_size=k, max_size=k)), float)
    project = np.array([draw(st.integers(0, int(a))) for a in area], float)
    fraction = draw(st.floats(0.01, 0.6))
    return p, area, project, fraction * area.sum()


@settings(max_examples=150, deadline=None)
@given(maps())
def test_allocation_sums_to_j_and_the_share_rises_with_risk(case):
    p, area, project, expected = case
    adjusted, _, _ = adjust_density(p, area, expected, tolerance=1e-10)
    assert np.all(adjusted <= 1.0)
    assert adjusted @ area == pytest.approx(expected, rel=1e-8)  # J to rounding
    assert adjusted == pytest.approx(exact_allocation(p, area, expected), rel=1e-6, abs=1e-9)
    share = (adjusted @ project) / (adjusted @ area)
    assert 0.0 <= share <= 1.0
    # move one project pixel (1 ha) from the lowest- to the highest-risk class
    lo, hi = int(np.argmin(p)), int(np.argmax(p))
    if project[lo] >= 1 and p[hi] > p[lo]:
        area2, project2 = area.copy(), project.copy()
        area2[lo] -= 1
        area2[hi] += 1
        project2[lo] -= 1
        project2[hi] += 1
        moved, _, _ = adjust_density(p, area2, expected, tolerance=1e-10)
        assert (moved @ project2) / (moved @ area2) >= share - 1e-9
    # the default tolerance (UDef-ARP's 1.00001) keeps the total within 1e-5 of J
    coarse, ratio, _ = adjust_density(p, area, expected)
    assert coarse @ area == pytest.approx(expected, rel=1e-5)


def counts_of(forest, lost, jur_ha, proj_ha, years=(2011, 2012)):
    forest, lost = np.asarray(forest), np.asarray(lost)
    return ClassCounts(
        classes=np.arange(1, forest.size + 1),
        forest_px=forest,
        lost_px=lost,
        forest_start_ha=forest.astype(float),
        lost_ha=lost.astype(float),
        jurisdiction_px=np.asarray(jur_ha).astype(np.int64),
        jurisdiction_ha=np.asarray(jur_ha, float),
        project_px=np.asarray(proj_ha).astype(np.int64),
        project_ha=np.asarray(proj_ha, float),
        years=years,
    )


def test_the_share_beta_matches_its_draws_and_narrows_with_more_pixels():
    small = counts_of([200, 200, 100], [10, 40, 50], [190, 160, 50], [100, 100, 0])
    shares, _ = share_draws(small, 66.5, draws=4000, seed=3)
    a, b = beta_moments(shares)
    assert a / (a + b) == pytest.approx(shares.mean(), rel=1e-12)
    assert a * b / ((a + b) ** 2 * (a + b + 1)) == pytest.approx(shares.var(), rel=1e-10)
    # the map's share (no uncertainty) is near the draws' centre
    assert allocate_map(small, 66.5).share == pytest.approx(shares.mean(), abs=2 * shares.std())
    big = counts_of([2000, 2000, 1000], [100, 400, 500], [1900, 1600, 500], [1000, 1000, 0])
    wide = shares.std()
    narrow = share_draws(big, 665.0, draws=4000, seed=3)[0].std()
    assert narrow < 0.5 * wide  # ten times the pixels: about 1/sqrt(10) of the SD
    # the same seed gives the same draws
    assert np.array_equal(shares, share_draws(small, 66.5, draws=4000, seed=3)[0])


def test_beta_moments_recovers_a_beta():
    x = np.random.default_rng(1).beta(20.0, 80.0, size=200_000)
    a, b = beta_moments(x)
    assert a == pytest.approx(20.0, rel=0.03) and b == pytest.approx(80.0, rel=0.03)
    with pytest.raises(DataError, match="no Beta"):
        beta_moments(np.full(10, 0.3))


def cli_args(m, out, **change):
    flags = {
        "--risk": m["risk"],
        "--loss": m["loss"],
        "--jurisdiction": m["jurisdiction"],
        "--project": m["project"],
        "--years": "2011-2012",
        "--jurisdiction-loss": "6.65,0.5",
        "--draws": 400,
    } | change
    args = ["allocate"]
    for flag, value in flags.items():
        args += [flag, str(value)]
    return [*args, "--out", str(out)]


def test_cli_writes_an_allocation_a_run_can_read(known, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(app, cli_args(known, out, **{"--seed": 7}))
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(f"allocated: {out} (3 classes, 2011-2012")
    assert "risk share: 0.3759 of the map" in res.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "allocation.csv",
        "allocation.json",
        "allocation.toml",
    ]
    doc = tomllib.loads((out / "allocation.toml").read_text())
    alloc = Allocation.model_validate(doc["deforestation"]["allocation"])
    assert alloc.jurisdiction_loss_ha.mean == 6.65 and alloc.jurisdiction_loss_ha.sd == 0.5
    record = json.loads((out / "allocation.json").read_text())
    assert record["seed"] == 7 and record["draws"] == 400
    assert record["classes"] == [1, 2, 3]
    assert set(record["inputs"]) == {"risk", "loss", "jurisdiction", "project"}
    a, b = alloc.risk_share.alpha, alloc.risk_share.beta
    assert a / (a + b) == pytest.approx(record["risk_share"]["mean"], rel=1e-12)
    assert "# s over 400 draws (seed 7)" in (out / "allocation.toml").read_text()
    # --json prints the record; the same seed reproduces it
    again = CliRunner().invoke(
        app, [*cli_args(known, tmp_path / "again", **{"--seed": 7}), "--json"]
    )
    assert again.exit_code == 0, again.output
    printed = json.loads(again.stdout)
    assert printed["risk_share"] == record["risk_share"]


def _bad_raster(name, array=None, **kw):
    def change(m, d):
        a = m["risk_array"] if array is None else array(m)
        return {"--risk": write_raster(d / name, a, **({"nodata": 0, "dtype": "uint8"} | kw))}

    return change


def no_loss_in_period(m, d):
    """Every loss of rows 0-4 moved to 2013; one 2011 loss in row 5, outside rows_0_to_4."""
    loss = np.where((m["loss_array"] > 0) & (m["loss_array"] != NODATA), 2013, m["loss_array"])
    loss[5, 0] = 2011
    return write_raster(d / "late.tif", loss)


def rows_0_to_4(d):
    return write_vector(d / "rows.gpkg", [cell(0, 0, 5, 10)])


BAD = {
    "risk on another grid": (
        lambda m, d: {
            "--risk": write_raster(d / "r.tif", m["risk_array"][:, :9], nodata=0, dtype="uint8")
        },
        "is not the loss raster's (10x6",
    ),
    "risk shifted by a pixel": (
        lambda m, d: {
            "--risk": write_raster(
                d / "r.tif",
                m["risk_array"],
                nodata=0,
                dtype="uint8",
                transform=__import__("rasterio").transform.from_origin(X0 + PX, Y0, PX, PX),
            )
        },
        "is not the loss raster's",
    ),
    "risk in another CRS": (
        _bad_raster("r.tif", crs="EPSG:32718"),
        "CRS EPSG:32718 is not the loss raster's EPSG:32719",
    ),
    "float classes": (
        _bad_raster("r.tif", dtype="float32", nodata=-1),
        "band 1 is float32; risk classes are integers",
    ),
    "negative class": (
        _bad_raster(
            "r.tif",
            array=lambda m: np.where(m["risk_array"] == 3, -2, m["risk_array"].astype(np.int16)),
            dtype="int16",
            nodata=0,
        ),
        "class -2; risk classes are integers 1, 2, ..., K",
    ),
    "risk without nodata": (_bad_raster("r.tif", nodata=None), "no nodata value"),
    "forest without a class": (
        _bad_raster("r.tif", array=lambda m: np.where(m["loss_array"] == 0, 0, m["risk_array"])),
        "have no risk class (nodata)",
    ),
    "a class with no forest": (
        _bad_raster("r.tif", array=lambda m: np.vstack([m["risk_array"][:5], np.full((1, 10), 4)])),
        "class 4 has no forest in the jurisdiction at the start of 2011",
    ),
    "no overlap": (
        lambda m, d: {"--project": write_vector(d / "far.gpkg", [cell(100, 100, 110, 110)])},
        "does not overlap the loss raster",
    ),
    "boundary of lines": (
        lambda m, d: {
            "--jurisdiction": write_vector(
                d / "line.gpkg", [LineString([(X0, Y0), (X0 + 900, Y0 - 500)])]
            )
        },
        "holds a LineString; a boundary is a polygon",
    ),
    "project outside the jurisdiction": (
        lambda m, d: {"--jurisdiction": write_vector(d / "half.gpkg", [cell(0, 0, 6, 4)])},
        "pixels of the project lie outside the jurisdiction",
    ),
    "no historical loss": (
        lambda m, d: {"--loss": no_loss_in_period(m, d), "--jurisdiction": rows_0_to_4(d)},
        "no forest pixel of the jurisdiction is mapped lost in 2011-2012",
    ),
    "loss only where little forest remains": (
        lambda m, d: {"--years": "2013-2013"},
        "not less than the forest of the risk classes with historical loss, 4.0 ha",
    ),
    "years outside the map": (
        lambda m, d: {"--years": "2011-2015"},
        "--years 2011-2015: outside the years 2011-2013",
    ),
    "sd of zero": (lambda m, d: {"--jurisdiction-loss": "6.65,0"}, "the mean and SD must be > 0"),
    "negative mean": (lambda m, d: {"--jurisdiction-loss": "-5,1"}, "the mean and SD must be > 0"),
    "not a number": (
        lambda m, d: {"--jurisdiction-loss": "lots"},
        "--jurisdiction-loss 'lots': expected MEAN,SD",
    ),
    "more loss than forest": (
        lambda m, d: {"--jurisdiction-loss": "45,1"},
        "not less than the jurisdiction's forest, 40.0 ha",
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_inputs_stop_with_one_line_and_write_nothing(known, tmp_path, case):
    change, expect = BAD[case]
    bad = tmp_path / "bad"
    bad.mkdir()
    out = tmp_path / "out"
    res = CliRunner().invoke(app, cli_args(known, out, **change(known, bad)))
    assert res.exit_code == 2, res.output
    message = res.stderr.strip()
    assert "\n" not in message and "Traceback" not in message, message
    assert expect in message, message
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_an_existing_output_is_not_overwritten(known, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    res = CliRunner().invoke(app, cli_args(known, out))
    assert res.exit_code == 2 and "exists and is not empty" in res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_a_geographic_grid_weighs_each_pixel_by_its_rows_area(tmp_path):
    """In EPSG:4326 a pixel's area is its row's on the ellipsoid; classes sum those areas."""
    import inspect

    from rasterio.transform import from_origin
    from shapely.geometry import box

    from simulator.cli.maps import allocate as command
    from simulator.data.maps import pixel_areas_ha, read_class_raster, read_loss_map

    loss, risk = known_rasters()
    t = from_origin(-70.0, -12.0, 0.01, 0.01)
    kw = {"crs": "EPSG:4326", "transform": t}
    lp = write_raster(tmp_path / "loss.tif", loss, **kw)
    rp = write_raster(tmp_path / "risk.tif", risk, nodata=0, dtype="uint8", **kw)
    jur = write_vector(tmp_path / "j.gpkg", [box(-70.0, -12.06, -69.9, -12.0)], crs="EPSG:4326")
    proj = write_vector(tmp_path / "p.gpkg", [box(-69.98, -12.05, -69.94, -12.0)], crs="EPSG:4326")
    res = allocate(rp, lp, jur, proj, tmp_path / "out", (2011, 2012), (6.65, 0.5), draws=200)
    rows = read_csv(tmp_path / "out" / "allocation.csv")
    lm = read_loss_map(lp)
    area = pixel_areas_ha(lm)  # about 120 ha a pixel, less to the south
    assert area[0] > area[4] > 100
    # class 3 after 2012: column 8 rows 0-4 and column 9 rows 0-4 minus the 2012 losses of
    # column 8 (all five) -> column 9's five pixels, one per row 0-4
    assert float(rows[3]["jurisdiction_forest_ha"]) == pytest.approx(area[:5].sum(), abs=1e-4)
    valid, _ = read_class_raster(rp, lm, "risk", require_nodata=True)
    assert valid.all()
    # no cap: s is the share of sum(p x area) inside the project, by hand from the rows
    p = {1: 0.025, 2: 0.1, 3: 0.25}
    jur_sum = (
        p[1] * (4 * area[:5].sum() - area[0]) + p[2] * (4 * area[:5].sum() - area[:4].sum())
    ) + p[3] * area[:5].sum()
    proj_sum = p[1] * 2 * area[:5].sum() + p[2] * 2 * area[:5].sum()
    assert res.share == pytest.approx(proj_sum / jur_sum, rel=1e-9)
    # the command's defaults are the library's
    params = inspect.signature(command).parameters
    assert params["seed"].default == risk_map.DEFAULT_SEED
    assert params["draws"].default == risk_map.DEFAULT_DRAWS
