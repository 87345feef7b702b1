"""The ``[maps]`` table: drawn in figures/maps.png, not in the cache key."""

from __future__ import annotations

import csv
import re
import shutil
import tomllib

import numpy as np
import pytest
from rasterio.transform import from_origin
from shapely.geometry import box
from typer.testing import CliRunner

from simulator.cli import app
from simulator.config import RunSpec, load_config, validate_config
from simulator.errors import ReddsimError
from simulator.report import appendix
from simulator.report.figures import maps as fig
from simulator.report.writer import write_maps
from tests.conftest import copy_run
from tests.simulator.test_maps import write_raster, write_vector

X0, Y0, PX = 300_000.0, 8_700_000.0, 100.0  # UTM 19S, 100 m pixels
NODATA = 255
ROWS, COLS = 900, 1100  # pooled when drawn: more pixels than the panel has
LONE = (700, 901)  # a single-pixel clearing far from any other loss
STRATA = ("terra_firme", "floodplain", "bamboo", "palm_swamp")


def _raster(path, array, nodata=NODATA):
    """A uint8 raster on this file's grid (test_maps' writer, another origin)."""
    write_raster(path, array, transform=from_origin(X0, Y0, PX, PX), nodata=nodata, dtype="uint8")


def cell(r0, c0, r1, c1):
    return box(X0 + c0 * PX, Y0 - r1 * PX, X0 + c1 * PX, Y0 - r0 * PX)


def _without_maps(text: str) -> str:
    """run.toml without a ``[maps]`` table (should the default run get one)."""
    return re.sub(r"(?ms)^\[maps\]\n.*?(?=^\[|\Z)", "", text)


def _write_maps(d):
    d.mkdir()
    a = np.zeros((ROWS, COLS), dtype=np.uint8)
    a[100:104, 200:260] = 5  # loss in 2005 (year base 2000)
    a[300:306, 500:503] = 12
    a[450, 400:410] = 20
    a[LONE] = 18
    a[0:5, :] = NODATA  # no forest at the start
    _raster(d / "loss.tif", a)
    write_vector(d / "region.gpkg", [cell(0, 0, ROWS, COLS)])
    write_vector(d / "project.gpkg", [cell(250, 300, 550, 700)])
    write_vector(d / "belt.gpkg", [cell(200, 250, 600, 750).difference(cell(250, 300, 550, 700))])
    bands = [cell(250, 300 + 100 * i, 550, 400 + 100 * i) for i in range(4)]
    write_vector(d / "strata.gpkg", bands, stratum=list(STRATA))
    with open(d / "points.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["point_id", "year", "stratum", "x", "y", "reference_class"])
        rows = [(2020, "loss", 450, 405, "loss"), (2020, "loss", 450, 401, "forest")]
        rows += [(2020, "stable_forest", 600 + i, 100 + 5 * i, "forest") for i in range(7)]
        rows += [(2019, "stable_forest", 50, 50, "loss")]  # another year: not drawn
        for i, (year, stratum, r, c, ref) in enumerate(rows, start=1):
            w.writerow([i, year, stratum, X0 + (c + 0.5) * PX, Y0 - (r + 0.5) * PX, ref])
    risk = np.ones((ROWS, COLS), dtype=np.uint8)
    risk[:, 550:] = 2
    risk[400:, 800:] = 3
    risk[0:5, :] = 0
    _raster(d / "risk.tif", risk, nodata=0)


MAPS_TOML = """
[maps]
loss = "mapsfig/loss.tif"
year_base = 2000
project = "mapsfig/project.gpkg"
reference_region = "mapsfig/region.gpkg"
belt = "mapsfig/belt.gpkg"
strata = "mapsfig/strata.gpkg"
sample = "mapsfig/points.csv"
"""


@pytest.fixture(scope="module")
def run_with_maps(tmp_path_factory):
    run = copy_run(tmp_path_factory.mktemp("maps") / "run")
    toml = run / "run.toml"
    toml.write_text(_without_maps(toml.read_text()) + MAPS_TOML)
    _write_maps(run / "mapsfig")
    return run


@pytest.fixture(scope="module")
def run_maps(run_with_maps):
    return fig.read_run_maps(load_config(run_with_maps))


def _with_risk(run):
    raw = tomllib.loads((run / "run.toml").read_text())
    raw["maps"]["risk"] = "mapsfig/risk.tif"
    return RunSpec(validate_config(raw, run / "run.toml"), run / "run.toml")


def test_the_maps_table_is_validated_with_its_defaults(run_with_maps):
    maps = load_config(run_with_maps).config.maps
    assert maps.year_base == 2000 and maps.buffer_pixels == 2 and maps.risk is None
    assert sorted(maps.files()) == sorted(
        ["loss", "project", "reference_region", "belt", "strata", "sample"]
    )


def _check(run):
    return CliRunner().invoke(app, ["check", str(run)])


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (
            ('strata = "mapsfig/strata.gpkg"', 'strata = "mapsfig/nope.gpkg"'),
            "[maps].strata = 'mapsfig/nope.gpkg': file not found",
        ),
        (
            ('loss = "mapsfig/loss.tif"', 'loss = "../loss.tif"'),
            "[maps].loss = '../loss.tif': outside the run directory",
        ),
        (("year_base = 2000", "year_base = -1"), "year_base = -1"),
        (("year_base = 2000", "yearbase = 2000"), "did you mean 'year_base'"),
        (('loss = "mapsfig/loss.tif"\n', ""), "loss"),  # a required field missing
    ],
)
def test_a_bad_maps_table_is_one_line_and_exit_2(run_with_maps, tmp_path, edit, fragment):
    run = copy_run(tmp_path / "run")
    toml = run / "run.toml"
    text = _without_maps(toml.read_text()) + MAPS_TOML
    assert edit[0] in text
    toml.write_text(text.replace(edit[0], edit[1], 1))
    shutil.copytree(run_with_maps / "mapsfig", run / "mapsfig")
    with pytest.raises(ReddsimError) as info:
        load_config(run)
    assert "\n" not in str(info.value) and fragment in str(info.value)
    assert str(toml) in str(info.value)
    res = _check(run)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert fragment in " ".join(res.output.split())


def test_a_bad_map_is_one_line_and_exit_2(run_with_maps, tmp_path):
    run = copy_run(tmp_path / "run")
    (run / "run.toml").write_text(_without_maps((run / "run.toml").read_text()) + MAPS_TOML)
    shutil.copytree(run_with_maps / "mapsfig", run / "mapsfig")
    (run / "mapsfig" / "project.gpkg").write_text("not a geopackage")
    with pytest.raises(ReddsimError) as info:
        fig.read_run_maps(load_config(run))
    assert "\n" not in str(info.value) and "project.gpkg" in str(info.value)


def test_without_maps_the_config_and_its_digest_are_unchanged(run_with_maps):
    from simulator.config.schema import RunConfig

    raw = tomllib.loads(_without_maps((run_with_maps / "run.toml").read_text()))
    cfg = validate_config(raw, run_with_maps / "run.toml")
    dumped = cfg.model_dump(mode="json")
    assert "maps" not in dumped and cfg.maps is None
    # the digest of a config without [maps] is that of the schema before the table existed
    fields = dict(RunConfig.model_fields)
    assert "maps" in fields
    assert validate_config(dumped, run_with_maps / "run.toml").digest() == cfg.digest()
    with_maps = load_config(run_with_maps).config
    assert with_maps.model_dump(mode="json")["maps"]["loss"] == "mapsfig/loss.tif"
    assert with_maps.digest() != cfg.digest()


def test_the_posterior_cache_key_does_not_depend_on_maps(run_with_maps):
    from simulator.data import load_data
    from simulator.inference.cache import key_content, posterior_key

    spec = load_config(run_with_maps)
    raw = tomllib.loads(_without_maps(spec.path.read_text()))
    bare = RunSpec(validate_config(raw, spec.path), spec.path)
    data = load_data(bare)
    assert load_data(spec).sha256 == data.sha256  # the maps are not data files
    assert key_content(spec, data) == key_content(bare, data)
    assert posterior_key(spec, data) == posterior_key(bare, data)
    assert "maps" not in repr(key_content(spec, data))


def _map_axes(figure):
    return [ax for ax in figure.axes if ax.get_title(loc="left")]


def _legend_texts(figure, ax):
    below = figure.axes[figure.axes.index(ax) + 1]  # each map's legend area follows it
    return [t.get_text() for t in below.get_legend().get_texts()]


def test_the_figure_has_three_panels_and_draws_every_loss_pixel(run_with_maps, run_maps):
    import matplotlib.pyplot as plt

    from simulator.report.labels import strata_labels

    labels = strata_labels(load_config(run_with_maps).config)
    figure, info = fig.draw_maps(run_maps, labels)
    try:
        axes = _map_axes(figure)
        titles = [ax.get_title(loc="left") for ax in axes]
        assert titles == [
            "(a) Mapped loss 2005–2020",
            "(b) Project carbon strata",
            "(c) Accuracy sample 2020",
        ]
        f = info["pool"]
        assert f > 1  # the raster is pooled for drawing ...
        loss_layer = axes[0].images[1].get_array()
        lost = run_maps.loss.loss_year > 0
        expected = fig.pool_max(lost, f)
        assert np.array_equal(~np.ma.getmaskarray(loss_layer), expected)
        # ... and a single-pixel clearing keeps its cell and its year
        assert loss_layer[LONE[0] // f, LONE[1] // f] == 2018
        assert int(np.count_nonzero(~np.ma.getmaskarray(loss_layer))) == info["loss_cells"]
        # (b): the four strata filled, labelled with the config's labels and mapped areas
        strata_layer = axes[1].images[1].get_array()
        assert sorted(np.unique(strata_layer.compressed()).tolist()) == [1, 2, 3, 4]
        legend = _legend_texts(figure, axes[1])
        assert legend[0] == "Terra firme: 30,000 ha" and legend[3].startswith("Palm swamp")
        # (c): the last year's points only, counted by reference class
        assert info["sample"] == {"year": 2020, "n": 9, "loss": 1, "forest": 8, "other": 0}
        texts = _legend_texts(figure, axes[2])
        assert "reference loss (n = 1)" in texts and "reference forest (n = 8)" in texts
        points = [line for line in axes[2].lines if line.get_linestyle() == "None"]
        assert sum(len(line.get_xdata()) for line in points) == 9
    finally:
        plt.close(figure)


def test_with_a_risk_raster_the_figure_has_four_panels(run_with_maps, tmp_path):
    maps = fig.read_run_maps(_with_risk(run_with_maps))
    info = fig.fig_maps(tmp_path / "maps.png", maps)
    assert (tmp_path / "maps.png").read_bytes().startswith(b"\x89PNG")
    assert info["panels"] == 4 and info["risk"] == {"classes": ["1", "2", "3"]}
    assert set(maps.sha256) == {*maps.paths} and "risk" in maps.sha256


def test_the_appendix_lists_the_maps_only_when_they_are_given(run_maps, tmp_path):
    from simulator.data.maps import file_sha256

    doc = {"accuracy": None}
    write_maps(doc, tmp_path, None, {})
    assert doc == {"accuracy": None} and not list(tmp_path.iterdir())
    write_maps(doc, tmp_path, run_maps, {})
    assert (tmp_path / "maps.png").is_file()
    section = doc["maps"]
    assert section["figure"] == "figures/maps.png" and section["sample"]["year"] == "2020"
    files = {f["name"]: f for f in section["files"]}
    assert set(files) == {f"maps.{n}" for n in run_maps.paths}
    assert files["maps.loss"]["path"] == "mapsfig/loss.tif"
    assert files["maps.loss"]["sha"] == file_sha256(run_maps.loss.path)
    assert all(f["role"] == appendix.MAP_ROLES[f["name"][5:]] for f in section["files"])


def test_a_risk_raster_off_the_loss_grid_is_one_line(run_with_maps, tmp_path):
    spec = _with_risk(run_with_maps)
    bad = tmp_path / "risk.tif"
    _raster(bad, np.ones((ROWS - 1, COLS), dtype=np.uint8), nodata=0)
    raw = spec.config.model_dump(mode="json")
    raw["maps"]["risk"] = str(bad)
    raw["data"]["allow_outside_run_dir"] = True
    with pytest.raises(ReddsimError) as info:
        fig.read_run_maps(RunSpec(validate_config(raw, spec.path), spec.path))
    assert "\n" not in str(info.value) and "not the loss raster's" in str(info.value)
