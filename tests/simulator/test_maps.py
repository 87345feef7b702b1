"""``reddsim import maps``: map strata counted to the pixel, areas exact, bad maps refused."""

from __future__ import annotations

import csv
import math

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from rasterio.transform import from_origin
from shapely.geometry import LineString, Point, box
from typer.testing import CliRunner

from simulator.cli import app
from simulator.data import maps

X0, Y0, PX = 400_000.0, 8_600_000.0, 100.0  # UTM 19S, 100 m pixels (1 ha)
NODATA = 65535


def write_raster(path, array, crs="EPSG:32719", transform=None, nodata=NODATA, dtype="uint16"):
    transform = transform or from_origin(X0, Y0, PX, PX)
    array = np.asarray(array)
    bands = array[None] if array.ndim == 2 else array
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=bands.shape[1],
        width=bands.shape[2],
        count=bands.shape[0],
        dtype=dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(bands.astype(dtype))
    return path


def write_vector(path, geoms, crs="EPSG:32719", **columns):
    gpd.GeoDataFrame(columns, geometry=list(geoms), crs=crs).to_file(path)
    return path


def cell(row0, col0, row1, col1):
    """Polygon of the pixel block rows row0..row1-1, columns col0..col1-1."""
    return box(X0 + col0 * PX, Y0 - row1 * PX, X0 + col1 * PX, Y0 - row0 * PX)


@pytest.fixture
def small_maps(tmp_path):
    """50 x 60 pixels: a 1x10 clearing in 2001, a 2x3 one in 2002, three rows of no forest.

    With a buffer of 2 pixels (king's moves) a 1 x n clearing away from other loss has
    (n + 4) x 5 - n buffer pixels: 60 for n = 10 (six times its area); a 2 x 3 one
    7 x 6 - 6 = 36.
    """
    a = np.zeros((50, 60), dtype=np.uint16)
    a[10, 10:20] = 2001
    a[30:32, 40:43] = 2002
    a[0:3, :] = NODATA
    d = tmp_path / "maps"
    d.mkdir()
    return {
        "loss": write_raster(d / "loss.tif", a),
        "reference_region": write_vector(d / "ref.gpkg", [cell(0, 0, 50, 60)]),
        "project": write_vector(d / "project.gpkg", [cell(8, 5, 28, 35)]),
        "belt": write_vector(d / "belt.gpkg", [cell(25, 35, 45, 55)]),
        "strata": write_vector(
            d / "strata.gpkg",
            [cell(8, 5, 18, 35), cell(18, 5, 28, 35)],
            stratum=["upland", "swamp"],
        ),
        "array": a,
    }


def invoke(*args):
    return CliRunner().invoke(app, ["import", "maps", *map(str, args)])


def args_of(m, out, **skip):
    flags = {
        "--loss": m["loss"],
        "--project": m["project"],
        "--reference-region": m["reference_region"],
        "--belt": m["belt"],
        "--strata": m["strata"],
    }
    out_args = []
    for flag, value in flags.items():
        if flag not in skip.get("without", ()):
            out_args += [flag, value]
    return [*out_args, "--out", out]


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_strata_are_counted_to_the_pixel(small_maps, tmp_path):
    res = invoke(*args_of(small_maps, tmp_path / "out"))
    assert res.exit_code == 0, res.output
    rows = {
        (int(r["year"]), r["stratum"]): r["mapped_area_ha"]
        for r in read_csv(tmp_path / "out" / "map_areas.csv")
    }
    assert rows == {
        (2001, "buffer"): "60.0",
        (2001, "loss"): "10.0",
        (2001, "stable_forest"): "2750.0",  # 2820 forest pixels - 70
        (2002, "buffer"): "36.0",
        (2002, "loss"): "6.0",
        (2002, "stable_forest"): "2768.0",  # 2810 (the 2001 clearing gone) - 42
    }
    forest = {
        (r["boundary"], r["stratum"], int(r["year"])): float(r["forest_area_ha"])
        for r in read_csv(tmp_path / "out" / "forest_areas.csv")
    }
    # the project (rows 8-27, columns 5-34: 600 pixels) holds the whole 2001 clearing
    assert forest[("project", "all", 2001)] == 600 and forest[("project", "all", 2003)] == 590
    assert forest[("project", "upland", 2003)] == 290 and forest[("project", "swamp", 2003)] == 300
    assert forest[("reference_region", "all", 2003)] == 2820 - 16
    belt = read_csv(tmp_path / "out" / "belt_map_areas.csv")
    assert {(r["year"], r["stratum"]): r["mapped_area_ha"] for r in belt}[("2002", "loss")] == "6.0"


def test_the_run_reads_the_imported_map_areas(small_maps, tmp_path):
    """The three strata of each year sum to its forest, which falls by the mapped loss."""
    assert invoke(*args_of(small_maps, tmp_path / "out")).exit_code == 0
    rows = read_csv(tmp_path / "out" / "map_areas.csv")
    by_year = {}
    for r in rows:
        by_year.setdefault(int(r["year"]), {})[r["stratum"]] = float(r["mapped_area_ha"])
    forest = [sum(v.values()) for _, v in sorted(by_year.items())]
    assert forest[0] - forest[1] == by_year[2001]["loss"]


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(5, 40),
    cols=st.integers(5, 40),
    seed=st.integers(0, 2**32 - 1),
    buffer=st.integers(0, 3),
)
def test_strata_partition_the_forest_of_every_year(rows, cols, seed, buffer):
    """Every forest pixel of a year is in exactly one stratum; loss pixels are that year's."""
    rng = np.random.default_rng(seed)
    values = rng.choice([0, 0, 0, 2001, 2002, 2003], size=(rows, cols)).astype(np.int32)
    forest = rng.random((rows, cols)) > 0.1
    lm = maps.LossMap(
        path=None,
        loss_year=np.where(forest, values, 0),
        forest=forest,
        transform=from_origin(X0, Y0, PX, PX),
        crs="EPSG:32719",
        years=(2001, 2002, 2003),
    )
    for year in lm.years:
        codes = maps.year_strata(lm, year, buffer)
        alive = forest & ((lm.loss_year == 0) | (lm.loss_year >= year))
        assert np.array_equal(codes > 0, alive)
        assert np.array_equal(codes == 1, alive & (lm.loss_year == year))
        if buffer == 0:
            assert not np.any(codes == 2)


def test_geographic_pixels_have_their_ellipsoidal_area(tmp_path):
    """Cells of 0.001 degree at Los Amigos' latitude, against pyproj's geodesic polygons."""
    a = np.zeros((20, 30), dtype=np.uint16)
    a[5, 5] = 2001
    t = from_origin(-70.10, -12.50, 0.001, 0.001)
    lm = maps.read_loss_map(write_raster(tmp_path / "g.tif", a, crs="EPSG:4326", transform=t))
    areas = maps.pixel_areas_ha(lm)
    geod = Geod(ellps="WGS84")
    for r in (0, 19):
        lat0, lat1 = -12.50 - 0.001 * r, -12.50 - 0.001 * (r + 1)
        ref, _ = geod.polygon_area_perimeter(
            [-70.1, -70.099, -70.099, -70.1], [lat0, lat0, lat1, lat1]
        )
        assert areas[r] == pytest.approx(abs(ref) / 1e4, rel=1e-9)
    assert np.all(np.diff(areas) < 0)  # southwards, cells shrink
    # whole ellipsoid: 4 pi-steradian total of WGS84, 510,065,621.7 km2 (NIMA TR8350.2)
    whole = 2 * maps.ellipsoid_cell_area_m2(0.0, 90.0, 360.0, 6378137.0, 6356752.314245179)
    assert whole / 1e6 == pytest.approx(510_065_621.7, rel=1e-9)
    sphere = maps.ellipsoid_cell_area_m2(0.0, 90.0, 360.0, 1.0, 1.0)
    assert sphere == pytest.approx(2 * math.pi)


def _bad(small_maps, tmp_path, change):
    m = dict(small_maps)
    d = tmp_path / "maps"
    change(m, d)
    return m


BAD = {
    "boundary in another CRS": (
        lambda m, d: m.update(
            reference_region=write_vector(
                d / "ref4326.gpkg", [box(-70.2, -12.6, -70.0, -12.4)], crs="EPSG:4326"
            )
        ),
        "is in EPSG:4326, the loss raster in EPSG:32719",
    ),
    "no overlap": (
        lambda m, d: m.update(project=write_vector(d / "far.gpkg", [cell(100, 100, 110, 110)])),
        "does not overlap the loss raster",
    ),
    "boundary of points": (
        lambda m, d: m.update(project=write_vector(d / "pts.gpkg", [Point(X0 + 500, Y0 - 500)])),
        "holds a Point; a boundary is a polygon",
    ),
    "boundary of lines": (
        lambda m, d: m.update(
            belt=write_vector(d / "line.gpkg", [LineString([(X0, Y0), (X0 + 900, Y0 - 900)])])
        ),
        "holds a LineString",
    ),
    "raster without nodata": (
        lambda m, d: m.update(loss=write_raster(d / "nonodata.tif", m["array"], nodata=None)),
        "no nodata value",
    ),
    "two bands": (
        lambda m, d: m.update(loss=write_raster(d / "two.tif", np.stack([m["array"]] * 2))),
        "2 bands; a loss-year raster has one",
    ),
    "float raster": (
        lambda m, d: m.update(
            loss=write_raster(d / "f.tif", m["array"], dtype="float32", nodata=-1)
        ),
        "band 1 is float32",
    ),
    "not a raster": (
        lambda m, d: (d / "junk.tif").write_text("not a tiff") and m.update(loss=d / "junk.tif"),
        "not a raster GDAL can read",
    ),
    "strata overlap": (
        lambda m, d: m.update(
            strata=write_vector(
                d / "over.gpkg", [cell(8, 5, 20, 35), cell(18, 5, 28, 35)], stratum=["a", "b"]
            )
        ),
        "strata overlap",
    ),
    "project pixels in no stratum": (
        lambda m, d: m.update(
            strata=write_vector(d / "part.gpkg", [cell(8, 5, 18, 35)], stratum=["a"])
        ),
        "forest pixels of the project lie in no stratum",
    ),
    "strata without a name column": (
        lambda m, d: m.update(strata=write_vector(d / "noname.gpkg", [cell(8, 5, 28, 35)])),
        "no column 'stratum'",
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_maps_stop_with_one_line_and_write_nothing(small_maps, tmp_path, case):
    change, expect = BAD[case]
    m = _bad(small_maps, tmp_path, change)
    out = tmp_path / "out"
    res = invoke(*args_of(m, out))
    assert res.exit_code == 2, res.output
    message = res.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert expect in message, message
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_loss_outside_the_years_given_and_an_existing_output(small_maps, tmp_path):
    res = invoke(*args_of(small_maps, tmp_path / "o1"), "--years", "2002-2005")
    assert res.exit_code == 2 and "loss year 2001" in res.stderr
    (tmp_path / "o2").mkdir()
    (tmp_path / "o2" / "keep.txt").write_text("mine")
    res = invoke(*args_of(small_maps, tmp_path / "o2"))
    assert res.exit_code == 2 and "exists and is not empty" in res.stderr
    assert sorted(p.name for p in (tmp_path / "o2").iterdir()) == ["keep.txt"]


def test_hansen_year_base_and_the_record_of_inputs(small_maps, tmp_path):
    a = np.where(small_maps["array"] == NODATA, NODATA, small_maps["array"] % 100)
    hansen = write_raster(tmp_path / "maps" / "lossyear.tif", a.astype(np.uint16))
    m = dict(small_maps, loss=hansen)
    res = invoke(*args_of(m, tmp_path / "h"), "--year-base", 2000)
    assert res.exit_code == 0, res.output
    base = invoke(*args_of(small_maps, tmp_path / "c"))
    assert base.exit_code == 0
    same = (tmp_path / "h" / "map_areas.csv").read_bytes() == (
        tmp_path / "c" / "map_areas.csv"
    ).read_bytes()
    assert same
    import json

    record = json.loads((tmp_path / "h" / "maps.json").read_text())
    assert record["loss_raster"]["sha256"] == maps.file_sha256(hansen)
    assert record["loss_raster"]["year_base"] == 2000 and record["buffer_pixels"] == 2
    assert record["pixels"]["reference_region"]["2001/buffer"] == 60
    assert record["area_method"].startswith("planar, EPSG:32719")
