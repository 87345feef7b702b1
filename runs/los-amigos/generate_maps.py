"""Los Amigos as maps: the synthetic loss map, boundaries and interpreted accuracy sample.

An analyst's activity data are maps; this script makes the Los Amigos run's as maps and then
derives the run's tables from them with reddsim's own import, as an analyst would:

1. ``maps/``: a loss-year raster of the reference region (EPSG:32719, 100 m pixels of 1 ha,
   values 2001-2020, 0 forest never mapped lost, 65535 nodata outside the region), the
   project, its four carbon strata, the 10 km leakage belt and the reference region as
   GeoPackages, and the TRUE loss-year raster the map was made from (what an interpreter
   sees in the reference imagery; ``maps/truth/``, used only to interpret the sample).
2. ``maps/sample/``: the accuracy sample drawn by ``reddsim sample-design`` (seeded; 100 loss,
   100 buffer and 200 stable-forest points a year), each point interpreted from the true
   raster (reference class ``loss`` where the truth lost forest that year, else ``forest``).
3. ``data/map_areas.csv`` (``reddsim import maps``) and ``data/accuracy_sample.csv``
   (``reddsim import sample``), and ``maps/maps.json``, the import's record of the inputs.

The true loss of each year is generate_data.py's (the same main stream, so deforestation.csv
and the maps tell one story): T_t = F_t r_t, rounded to whole pixels. The map's errors follow
the accuracy stream's draws of generate_data.py's earlier, area-only version (user's accuracy
UA ~ Beta(440, 60), omission ~ Beta(150, 850) per year); the places are this script's
(stream ``default_rng([SEED, MAPS_KEY])``):

* true clearings are rectangles of log-normal size whose centres lie mostly near the
  Interoceanic highway and the rivers, never inside the project (a conservation concession
  since 2001, whose carbon strata are its forest at the start of crediting);
* of the true loss, a share ``omission`` is missed by the map: 85% of it at the edges of
  mapped clearings (so in the buffer stratum), 15% as small clearings missed whole, anywhere;
* the mapped loss is the rest of the true loss plus commission, M = T (1 - omission) / UA
  pixels: two thirds forest pixels bordering true clearings, one third small false patches.

The script stops if the stratified estimate of the 2001-2016 loss from the imported tables is
not within 5% of the published 162,573 ha (generate_data.EST_TOTAL_TOL), and checks that its
own count of each stratum (scipy.ndimage.maximum_filter for the buffer) equals the import's.
Run from the repository root: ``python runs/los-amigos/generate_maps.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generate_data as gd  # noqa: E402  (the same directory: one story, one set of seeds)

# --------------------------------------------------------------------------- #
# Grid and boundaries
# --------------------------------------------------------------------------- #
CRS = "EPSG:32719"  # WGS 84 / UTM zone 19S (Madre de Dios)
PIXEL_M = 100.0  # 1 ha pixels
NODATA = 65535
# Reference region: 2650 x 3000 pixels = 7,950,000 ha, all forest at the start of 2001
# (generate_data.FOREST_AREA_2001_HA); the raster adds a margin of nodata around it.
REGION_ROWS, REGION_COLS = 2650, 3000
MARGIN = 20
X0, Y0 = 220_000.0, 8_870_000.0  # upper-left corner of the raster (UTM 19S, m)
# The project, 620 x 235 pixels = 145,700 ha, its carbon strata in bands from north to south
# with the areas of run.toml (372, 93, 124 and 31 rows of 235 pixels).
PROJECT_ROW, PROJECT_COL = 700, 900  # upper-left pixel, in the region's rows and columns
PROJECT_COLS = 235
STRATA_ROWS = {"terra_firme": 372, "floodplain": 93, "bamboo": 124, "palm_swamp": 31}
BELT_PIXELS = 100  # leakage belt: 10 km around the project
# The Interoceanic highway (region's row, column) and two rivers, as polylines; clearings
# concentrate near them (weights below).
HIGHWAY = [(2650, 700), (2000, 1300), (1450, 1750), (1100, 2300), (600, 2700), (0, 2950)]
RIVERS = [
    [(0, 300), (800, 700), (1300, 1250), (1450, 1750), (1900, 2600), (2300, 3000)],
    [(2650, 2100), (2200, 1900), (1450, 1750)],
]
HIGHWAY_SCALE_PX, RIVER_SCALE_PX = 60.0, 30.0  # e-folding distances of the weights (6, 3 km)
HIGHWAY_WEIGHT, RIVER_WEIGHT, BACKGROUND_WEIGHT = 1.0, 0.4, 0.02

# --------------------------------------------------------------------------- #
# Clearings and map errors
# --------------------------------------------------------------------------- #
MAPS_KEY = 0x3A95  # spatial stream: default_rng([gd.SEED, MAPS_KEY])
CLEARING_LOG_MEAN, CLEARING_LOG_SD = np.log(6.0), 1.0  # pixels; median 6 ha, mean ~10 ha
CLEARING_MAX_PX = 400
MISSED_CLEARING_PX = (1, 3)  # clearings the map misses whole: 1-3 pixels
FALSE_PATCH_PX = (1, 4)  # commission patches away from true loss: 1-4 pixels
COMMISSION_BORDER_SHARE = 2.0 / 3.0  # of commission: forest pixels bordering true clearings
SAMPLE_SEED = 2026  # reddsim sample-design --seed
# Deforestation-risk classes for an allocated baseline (reddsim allocate): distance to the
# loss mapped in the first decade, 2001-2010, in classes bounded at these distances (km);
# class 1 lies beyond the last bound, class 10 within the first (the highest risk). The
# second decade, 2011-2020, is the period whose loss calibrates each class. A distance-to-
# deforestation benchmark map of this shape is the kind UDef-ARP makes (assumption: the
# bounds, doubling from 0.2 km, are this run's).
RISK_BOUNDS_KM = (0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2)
RISK_FIT_YEARS = (2001, 2010)
RISK_NODATA = 0
BUFFER_PIXELS = 2  # reddsim's default buffer width
GPKG_DATE = "2026-01-01T00:00:00.000Z"  # the GeoPackages' last_change


def _polyline_mask(lines, shape) -> np.ndarray:
    """Pixels on straight segments between the given (row, column) vertices."""
    mask = np.zeros(shape, dtype=bool)
    for line in lines:
        for (r0, c0), (r1, c1) in zip(line[:-1], line[1:], strict=True):
            n = int(max(abs(r1 - r0), abs(c1 - c0))) + 1
            rr = np.clip(np.round(np.linspace(r0, r1, n)).astype(int), 0, shape[0] - 1)
            cc = np.clip(np.round(np.linspace(c0, c1, n)).astype(int), 0, shape[1] - 1)
            mask[rr, cc] = True
    return mask


def clearing_weights(shape) -> np.ndarray:
    """Relative chance of a clearing centre per pixel: near the highway and rivers."""
    from scipy.ndimage import distance_transform_edt

    d_hwy = distance_transform_edt(~_polyline_mask([HIGHWAY], shape))
    d_riv = distance_transform_edt(~_polyline_mask(RIVERS, shape))
    return (
        HIGHWAY_WEIGHT * np.exp(-d_hwy / HIGHWAY_SCALE_PX)
        + RIVER_WEIGHT * np.exp(-d_riv / RIVER_SCALE_PX)
        + BACKGROUND_WEIGHT
    )


def project_window() -> tuple[slice, slice]:
    rows = sum(STRATA_ROWS.values())
    return (
        slice(PROJECT_ROW, PROJECT_ROW + rows),
        slice(PROJECT_COL, PROJECT_COL + PROJECT_COLS),
    )


def _draw_patches(rng, free, weights_flat, n_px, sizes, shape):
    """Rectangular patches on ``free`` pixels until exactly ``n_px`` are taken.

    Centres are drawn in proportion to ``weights_flat`` (zero where not free); each patch is a
    near-square rectangle of the drawn size clipped to free pixels; the last is trimmed so the
    total is exact. Returns the flat indices taken (and clears them in ``free``).
    """
    taken = []
    total = 0
    w = weights_flat * free.ravel()
    batch = 256
    while total < n_px:
        centres = rng.choice(w.size, size=batch, p=w / w.sum())
        areas = sizes(batch)
        aspect = rng.uniform(0.5, 2.0, size=batch)
        for centre, area, asp in zip(centres, areas, aspect, strict=True):
            r, c = divmod(int(centre), shape[1])
            h = max(1, int(round(np.sqrt(area * asp))))
            wd = max(1, int(round(area / h)))
            r0, c0 = max(0, r - h // 2), max(0, c - wd // 2)
            win = free[r0 : r0 + h, c0 : c0 + wd]
            rr, cc = np.nonzero(win)
            if rr.size == 0:
                continue
            idx = (rr + r0) * shape[1] + (cc + c0)
            idx = idx[: n_px - total]
            free.ravel()[idx] = False
            w[idx] = 0.0
            taken.append(idx)
            total += idx.size
            if total == n_px:
                break
    return np.concatenate(taken) if taken else np.zeros(0, dtype=np.int64)


def draw_maps(truth_ha: dict[int, float], ua: np.ndarray, om: np.ndarray):
    """The mapped and the true loss-year rasters of the region (uint16, 0 = never lost)."""
    from scipy.ndimage import binary_dilation, binary_erosion

    rng = np.random.default_rng([gd.SEED, MAPS_KEY])
    shape = (REGION_ROWS, REGION_COLS)
    weights = clearing_weights(shape).ravel()
    rows, cols = project_window()
    outside_project = np.ones(shape, dtype=bool)
    outside_project[rows, cols] = False
    mapped = np.zeros(shape, dtype=np.uint16)
    true = np.zeros(shape, dtype=np.uint16)

    def lognormal(n):
        return np.minimum(
            np.maximum(1.0, rng.lognormal(CLEARING_LOG_MEAN, CLEARING_LOG_SD, size=n)),
            CLEARING_MAX_PX,
        )

    def uniform_int(lo, hi):
        return lambda n: rng.integers(lo, hi + 1, size=n).astype(float)

    for i, year in enumerate(sorted(truth_ha)):
        t_px = int(round(truth_ha[year]))
        hit = int(round(t_px * (1.0 - om[i])))
        omitted = t_px - hit
        edge_omitted = int(round(gd.BUFFER_OMISSION_SHARE * omitted))
        missed_whole = omitted - edge_omitted
        m_px = int(round(hit / ua[i]))
        commission = m_px - hit
        border = int(round(COMMISSION_BORDER_SHARE * commission))
        false_patches = commission - border

        # Forest in both the truth and the map at the start of the year, outside the project.
        free = (true == 0) & (mapped == 0) & outside_project
        cleared = np.zeros(shape, dtype=bool)
        cleared.ravel()[_draw_patches(rng, free, weights, hit + edge_omitted, lognormal, shape)] = (
            True
        )
        # Omitted at the edges: pixels of the clearings with a neighbour outside them.
        edge = np.flatnonzero((cleared & ~binary_erosion(cleared)).ravel())
        if edge.size < edge_omitted:
            raise SystemExit(f"{year}: {edge.size} edge pixels, {edge_omitted} to omit")
        omit = rng.choice(edge, size=edge_omitted, replace=False)
        seen = cleared.copy()
        seen.ravel()[omit] = False
        missed = _draw_patches(
            rng, free, weights, missed_whole, uniform_int(*MISSED_CLEARING_PX), shape
        )
        # Commission: forest bordering the true clearings, and small false patches.
        ring = binary_dilation(cleared) & free
        ring_idx = np.flatnonzero(ring.ravel())
        if ring_idx.size < border:
            raise SystemExit(f"{year}: {ring_idx.size} border pixels, {border} to commit")
        wrong = rng.choice(ring_idx, size=border, replace=False)
        free.ravel()[wrong] = False
        patches = _draw_patches(
            rng, free, np.ones_like(weights), false_patches, uniform_int(*FALSE_PATCH_PX), shape
        )
        true[cleared] = year
        true.ravel()[missed] = year
        mapped[seen] = year
        mapped.ravel()[wrong] = year
        mapped.ravel()[patches] = year
        assert np.count_nonzero(true == year) == t_px
        assert np.count_nonzero(mapped == year) == m_px
    return mapped, true


def risk_classes(mapped: np.ndarray) -> np.ndarray:
    """Risk class 1-10 of every pixel: the distance to loss mapped in RISK_FIT_YEARS."""
    from scipy.ndimage import distance_transform_edt

    first, last = RISK_FIT_YEARS
    lost = (mapped >= first) & (mapped <= last)
    d_km = distance_transform_edt(~lost) * PIXEL_M / 1000.0
    beyond = np.searchsorted(np.asarray(RISK_BOUNDS_KM), d_km, side="left")
    return (len(RISK_BOUNDS_KM) + 1 - beyond).astype(np.uint16)


def _with_margin(region: np.ndarray, fill: int = NODATA) -> np.ndarray:
    full = np.full((REGION_ROWS + 2 * MARGIN, REGION_COLS + 2 * MARGIN), fill, np.uint16)
    full[MARGIN:-MARGIN, MARGIN:-MARGIN] = region
    return full


def _box(row0, col0, row1, col1):
    """Polygon of the region's pixel block rows row0..row1-1, columns col0..col1-1."""
    from shapely.geometry import box

    x = lambda c: X0 + (c + MARGIN) * PIXEL_M  # noqa: E731
    y = lambda r: Y0 - (r + MARGIN) * PIXEL_M  # noqa: E731
    return box(x(col0), y(row1), x(col1), y(row0))


def write_maps(out: Path, mapped: np.ndarray, true: np.ndarray) -> dict[str, Path]:
    import geopandas as gpd
    import pyogrio
    import rasterio
    from rasterio.transform import from_origin

    # A GeoPackage records when it was written; a fixed date keeps the files bit-identical.
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": GPKG_DATE})
    out.mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(exist_ok=True)
    profile = dict(
        driver="GTiff",
        height=REGION_ROWS + 2 * MARGIN,
        width=REGION_COLS + 2 * MARGIN,
        count=1,
        dtype="uint16",
        crs=CRS,
        transform=from_origin(X0, Y0, PIXEL_M, PIXEL_M),
        nodata=NODATA,
        compress="deflate",
        predictor=2,
        tiled=True,
    )
    paths = {"loss": out / "loss_year.tif", "truth": out / "truth" / "true_loss_year.tif"}
    for key, array in (("loss", mapped), ("truth", true)):
        with rasterio.open(paths[key], "w", **profile) as dst:
            dst.write(_with_margin(array)[None])
    paths["risk"] = out / "risk_classes.tif"
    with rasterio.open(
        paths["risk"], "w", **(profile | {"dtype": "uint8", "nodata": RISK_NODATA})
    ) as dst:
        dst.write(_with_margin(risk_classes(mapped), RISK_NODATA).astype(np.uint8)[None])
    rows, cols = project_window()
    r0, r1, c0, c1 = rows.start, rows.stop, cols.start, cols.stop
    frames = {
        "reference_region": ([_box(0, 0, REGION_ROWS, REGION_COLS)], {}),
        "project": ([_box(r0, c0, r1, c1)], {"name": ["Los Amigos Conservation Concession"]}),
        "leakage_belt": (
            [
                _box(
                    r0 - BELT_PIXELS, c0 - BELT_PIXELS, r1 + BELT_PIXELS, c1 + BELT_PIXELS
                ).difference(_box(r0, c0, r1, c1))
            ],
            {"name": ["leakage belt (10 km)"]},
        ),
    }
    strata, top = [], r0
    for name, n in STRATA_ROWS.items():
        strata.append((name, _box(top, c0, top + n, c1)))
        top += n
    frames["strata"] = ([g for _, g in strata], {"stratum": [s for s, _ in strata]})
    for name, (geoms, columns) in frames.items():
        paths[name] = out / f"{name}.gpkg"
        if paths[name].exists():
            paths[name].unlink()
        gpd.GeoDataFrame(columns, geometry=geoms, crs=CRS).to_file(
            paths[name], driver="GPKG", engine="pyogrio"
        )
    return paths


def interpret(points_csv: Path, truth_tif: Path, out_csv: Path) -> dict[tuple, int]:
    """Give each point its reference class from the true raster; returns the counts."""
    import rasterio

    with rasterio.open(truth_tif) as src:
        truth = src.read(1)
        inverse = ~src.transform
    counts: dict[tuple, int] = {}
    with open(points_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        x, y = float(r["x"]), float(r["y"])
        col, row = (int(v) for v in np.floor(inverse * (x, y)))
        ref = "loss" if int(truth[row, col]) == int(r["year"]) else "forest"
        r["reference_class"] = ref
        key = (int(r["year"]), r["stratum"], ref)
        counts[key] = counts.get(key, 0) + 1
    with open(out_csv, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return counts


def own_areas(mapped: np.ndarray) -> dict[tuple[int, str], int]:
    """Pixels of each year's strata counted independently of reddsim (maximum filter)."""
    from scipy.ndimage import maximum_filter

    areas = {}
    for year in range(gd.DEFOR_YEARS[0], gd.DEFOR_YEARS[-1] + 1):
        forest = (mapped == 0) | (mapped >= year)
        lost = mapped == year
        near = maximum_filter(lost.astype(np.uint8), size=2 * BUFFER_PIXELS + 1).astype(bool)
        areas[(year, "loss")] = int(np.count_nonzero(lost))
        areas[(year, "buffer")] = int(np.count_nonzero(near & forest & ~lost))
        areas[(year, "stable_forest")] = int(np.count_nonzero(forest & ~near))
    return areas


def main(argv=None) -> None:
    from simulator.data.maps import import_maps
    from simulator.data.sample_design import design_sample, import_sample

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="run directory (default: this)")
    args = parser.parse_args(argv)
    run_dir = args.out.resolve()

    rng = np.random.default_rng(gd.SEED)
    gd.draw_legacy_plot_numbers(rng)
    _, truth = gd.draw_deforestation(rng)
    acc = np.random.default_rng([gd.SEED, gd.ACCURACY_KEY])
    ua = acc.beta(*gd.UA_LOSS_BETA, size=len(truth))
    om = acc.beta(*gd.OMISSION_BETA, size=len(truth))
    mapped, true = draw_maps(truth, ua, om)

    maps_dir = run_dir / "maps"
    paths = write_maps(maps_dir, mapped, true)
    data_dir = run_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".maps-", dir=run_dir))
    try:
        imported = import_maps(
            paths["loss"],
            paths["project"],
            paths["reference_region"],
            work / "import",
            belt=paths["leakage_belt"],
            strata=paths["strata"],
            buffer_pixels=BUFFER_PIXELS,
        )
        sizes = dict(gd.SAMPLE_SIZE)
        design_sample(
            paths["loss"],
            paths["reference_region"],
            work / "design",
            sizes,
            SAMPLE_SEED,
            buffer_pixels=BUFFER_PIXELS,
        )
        sample_dir = maps_dir / "sample"
        if sample_dir.exists():
            shutil.rmtree(sample_dir)
        sample_dir.mkdir()
        design = json.loads((work / "design" / "design.json").read_text())
        design["loss_raster"]["path"] = str(paths["loss"].relative_to(run_dir))
        design["reference_region"]["path"] = str(paths["reference_region"].relative_to(run_dir))
        (sample_dir / "design.json").write_text(json.dumps(design, indent=2) + "\n")
        own_counts = interpret(
            work / "design" / "points.csv", paths["truth"], sample_dir / "points.csv"
        )
        counts = import_sample(
            sample_dir / "points.csv",
            paths["loss"],
            paths["reference_region"],
            data_dir / "accuracy_sample.csv",
            buffer_pixels=BUFFER_PIXELS,
        )
        shutil.copy(work / "import" / "map_areas.csv", data_dir / "map_areas.csv")
        record = json.loads((work / "import" / "maps.json").read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # Paths in the record relative to the run directory (the record travels with the run).
    record["loss_raster"]["path"] = str(paths["loss"].relative_to(run_dir))
    for entry in record["boundaries"].values():
        entry["path"] = str(Path(entry["path"]).relative_to(run_dir))
    record["strata"]["path"] = str(paths["strata"].relative_to(run_dir))
    (maps_dir / "maps.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

    # Independent checks: the import's counts are this script's own.
    own = own_areas(mapped)
    theirs = {tuple(k.split("/")): n for k, n in record["pixels"]["reference_region"].items()}
    theirs = {(int(y), s): n for (y, s), n in theirs.items()}
    if own != theirs:
        raise SystemExit("the import's stratum pixels differ from this script's own count")
    nonzero = {k: v for k, v in counts.items() if v}
    if nonzero != own_counts:
        raise SystemExit("the imported sample counts differ from the interpreted points")
    forest = imported.forest_start_ha
    if forest != gd.FOREST_AREA_2001_HA:
        raise SystemExit(f"forest at the start {forest} ha, not {gd.FOREST_AREA_2001_HA}")

    area_rows = [(y, s, float(own[(y, s)])) for (y, s) in sorted(own)]
    sample_rows = [(y, s, c, n) for (y, s, c), n in counts.items()]
    est = gd.stratified_loss_estimate(area_rows, sample_rows)
    est_total = sum(e for y, (e, _) in est.items() if 2001 <= y <= 2016)
    if abs(est_total / gd.PUB_LOSS_2001_2016_HA - 1.0) > gd.EST_TOTAL_TOL:
        raise SystemExit(
            f"estimated 2001-2016 loss {est_total:,.1f} ha is not within "
            f"{gd.EST_TOTAL_TOL:.0%} of the published total"
        )
    print(
        "year  mapped  buffer  true loss  estimate  SE (SE %)  error %  "
        "loss points buffer/loss/stable  UA  omission"
    )
    abs_err = []
    for i, year in enumerate(sorted(est)):
        e, se = est[year]
        t = float(np.count_nonzero(true == year))
        abs_err.append(abs(e / t - 1.0))
        pts = "/".join(str(counts[(year, h, "loss")]) for h in ("buffer", "loss", "stable_forest"))
        print(
            f"{year}  {own[(year, 'loss')]:6,d}  {own[(year, 'buffer')]:6,d}  {t:9,.0f}  "
            f"{e:9,.1f}  {se:8,.1f} ({100 * se / e:4.1f}%)  {100 * (e / t - 1.0):+6.1f}%  "
            f"{pts}  {ua[i]:.3f}  {om[i]:.3f}"
        )
    true_total = sum(np.count_nonzero(true == y) for y in range(2001, 2017))
    se_total = float(np.sqrt(sum(se * se for y, (_, se) in est.items() if 2001 <= y <= 2016)))
    print(
        f"mean |error| {100 * np.mean(abs_err):.1f}%; estimated loss 2001-2016 "
        f"{est_total:,.1f} +- {se_total:,.1f} ha "
        f"({100 * (est_total / gd.PUB_LOSS_2001_2016_HA - 1):+.1f}% vs published "
        f"{gd.PUB_LOSS_2001_2016_HA:,.0f}; true {true_total:,})"
    )
    print(f"wrote {maps_dir} and {data_dir}/map_areas.csv, accuracy_sample.csv")


if __name__ == "__main__":
    main()
