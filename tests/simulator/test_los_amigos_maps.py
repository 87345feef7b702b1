"""Los Amigos as maps: the committed maps import into exactly the run's tables.

``runs/los-amigos/maps/`` holds the loss-year raster, boundaries and interpreted accuracy
sample that ``runs/los-amigos/generate_maps.py`` draws. An analyst's path from them to the
run's inputs is ``reddsim import maps`` and ``reddsim import sample``; these tests take that
path with the CLI and compare with what the run reads, to the pixel and to the point.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.features import geometry_mask
from typer.testing import CliRunner

from simulator.cli import app
from simulator.config import load_config

RUN = Path(__file__).resolve().parents[2] / "runs" / "los-amigos"
MAPS = RUN / "maps"


def cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("import")
    cli(
        "import", "maps",
        "--loss", MAPS / "loss_year.tif",
        "--project", MAPS / "project.gpkg",
        "--reference-region", MAPS / "reference_region.gpkg",
        "--belt", MAPS / "leakage_belt.gpkg",
        "--strata", MAPS / "strata.gpkg",
        "--out", out / "maps",
    )  # fmt: skip
    cli(
        "import", "sample", MAPS / "sample" / "points.csv",
        "--loss", MAPS / "loss_year.tif",
        "--reference-region", MAPS / "reference_region.gpkg",
        "--out", out / "accuracy_sample.csv",
    )  # fmt: skip
    return out


def rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_the_imported_tables_are_the_run_s_inputs(imported):
    """map_areas.csv and accuracy_sample.csv are byte for byte what the import writes."""
    cfg = load_config(RUN / "run.toml").config
    assert cfg.data.map_areas.name == "map_areas.csv"
    assert (imported / "maps" / "map_areas.csv").read_bytes() == (
        RUN / "data" / "map_areas.csv"
    ).read_bytes()
    assert (imported / "accuracy_sample.csv").read_bytes() == (
        RUN / "data" / "accuracy_sample.csv"
    ).read_bytes()


def test_pixel_counts_are_the_areas_and_the_points_are_the_counts(imported):
    """Each area is its pixel count (1 ha pixels); each count is a number of points."""
    record = json.loads((imported / "maps" / "maps.json").read_text())
    assert record["pixel_area_ha"] == {"min": 1.0, "max": 1.0}
    pixels = record["pixels"]["reference_region"]
    for r in rows(RUN / "data" / "map_areas.csv"):
        assert float(r["mapped_area_ha"]) == pixels[f"{r['year']}/{r['stratum']}"]
    # independently of reddsim: the loss stratum is the raster's pixels of that year
    with rasterio.open(MAPS / "loss_year.tif") as src:
        loss = src.read(1)
    for r in rows(RUN / "data" / "map_areas.csv"):
        if r["stratum"] == "loss":
            assert float(r["mapped_area_ha"]) == np.count_nonzero(loss == int(r["year"]))
    points = rows(MAPS / "sample" / "points.csv")
    tally: dict[tuple, int] = {}
    for p in points:
        key = (p["year"], p["stratum"], p["reference_class"])
        tally[key] = tally.get(key, 0) + 1
    for r in rows(RUN / "data" / "accuracy_sample.csv"):
        assert int(r["count"]) == tally.get((r["year"], r["stratum"], r["reference_class"]), 0)
    assert len(points) == 20 * 400  # 100 loss, 100 buffer, 200 stable-forest points a year


def test_the_forest_areas_are_the_run_s_strata_and_series(imported):
    """The project's strata are run.toml's areas; the region's forest is deforestation.csv's."""
    cfg = load_config(RUN / "run.toml").config
    forest = {
        (r["boundary"], r["stratum"], int(r["year"])): float(r["forest_area_ha"])
        for r in rows(imported / "maps" / "forest_areas.csv")
    }
    for stratum in cfg.project.strata:
        assert forest[("project", stratum.name, 2001)] == stratum.area_ha
        assert forest[("project", stratum.name, 2021)] == stratum.area_ha  # no loss inside
    first = rows(RUN / "data" / "deforestation.csv")[0]
    assert forest[("reference_region", "all", 2001)] == float(first["forest_area_ha"])


@pytest.mark.slow
def test_the_generator_redraws_the_committed_maps_and_tables(tmp_path):
    """generate_maps.py is seeded: a fresh draw is bit-identical to what is committed."""
    shutil.copytree(RUN, tmp_path / "run", ignore=shutil.ignore_patterns("out", "maps"))
    for name in ("map_areas.csv", "accuracy_sample.csv"):
        (tmp_path / "run" / "data" / name).unlink()
    subprocess.run(
        [sys.executable, str(RUN / "generate_maps.py"), "--out", str(tmp_path / "run")],
        check=True,
        capture_output=True,
    )
    committed = sorted(p.relative_to(RUN) for p in MAPS.rglob("*") if p.is_file())
    drawn = sorted(
        p.relative_to(tmp_path / "run")
        for p in (tmp_path / "run" / "maps").rglob("*")
        if p.is_file()
    )
    assert drawn == committed
    for rel in committed + [Path("data/map_areas.csv"), Path("data/accuracy_sample.csv")]:
        assert (tmp_path / "run" / rel).read_bytes() == (RUN / rel).read_bytes(), rel


def test_the_allocation_works_on_the_los_amigos_risk_map(tmp_path):
    """reddsim allocate's share is the risk-weighted share computed here from the rasters.

    No class's adjusted probability reaches 1 here, so UDef-ARP's cap does not bind and the
    share is the classes' forest of the project, weighted by their relative frequencies of
    loss in 2011-2020, over the jurisdiction's.
    """
    out = tmp_path / "alloc"
    cli(
        "allocate",
        "--risk", MAPS / "risk_classes.tif",
        "--loss", MAPS / "loss_year.tif",
        "--jurisdiction", MAPS / "reference_region.gpkg",
        "--project", MAPS / "project.gpkg",
        "--years", "2011-2020",
        "--jurisdiction-loss", "20655,1200",
        "--out", out,
    )  # fmt: skip
    with rasterio.open(MAPS / "risk_classes.tif") as src:
        risk = src.read(1)
    with rasterio.open(MAPS / "loss_year.tif") as src:
        loss = src.read(1)
        forest = loss != src.nodata
        transform = src.transform
    at_start = forest & ((loss == 0) | (loss >= 2011))
    lost = at_start & (loss >= 2011) & (loss <= 2020)
    after = forest & ((loss == 0) | (loss > 2020))
    project = geometry_mask(
        gpd.read_file(MAPS / "project.gpkg").geometry,
        out_shape=loss.shape,
        transform=transform,
        invert=True,
    )
    num = den = 0.0
    for c in np.unique(risk[at_start]):
        p = np.count_nonzero(lost & (risk == c)) / np.count_nonzero(at_start & (risk == c))
        num += p * np.count_nonzero(after & project & (risk == c))
        den += p * np.count_nonzero(after & (risk == c))
    record = json.loads((out / "allocation.json").read_text())
    share = num / den
    text = (out / "allocation.toml").read_text()
    assert f"risk share s of UDef-ARP's map: {share:.6g}" in text
    assert 0 < share < 145_700 / after.sum()  # the project lies away from the loss
    assert record["capped_classes"] == []
