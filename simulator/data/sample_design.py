"""Accuracy-assessment samples of a loss map: their design and their interpreted points.

The map areas of :mod:`simulator.data.maps` are corrected for the map's errors by a
stratified random sample of reference observations (Olofsson et al. 2014, "Good practices
for estimating area and assessing accuracy of land change", Remote Sens. Environ. 148,
42-57; §5.1 sampling design, §5.2 response design). This module

* sizes the sample (:func:`olofsson_sample_size`, their Eq. 13; :func:`user_accuracy_size`,
  their Eq. 6 solved for the sample size of one stratum);
* allocates it to the strata (:func:`allocate`: a minimum in every stratum, the rest in
  proportion to the strata's areas, as §5.1.1 recommends for rare change classes);
* draws it, seeded, from each year's map strata (:func:`draw_sample`), and writes the points
  for interpretation (:func:`design_sample`: ``points.csv``, ``points.gpkg``, ``design.json``);
* reads the interpreted points back (:func:`import_sample`) into the run's
  ``accuracy_sample.csv`` (``year,stratum,reference_class,count``), after checking that every
  point lies in the stratum it was drawn from on the same map.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator.data.maps import (
    MAP_STRATA,
    boundary_mask,
    file_sha256,
    read_boundary,
    read_loss_map,
    stratum_codes,
    year_strata,
)
from simulator.errors import DataError

__all__ = [
    "REFERENCE_CLASSES",
    "olofsson_sample_size",
    "user_accuracy_size",
    "allocate",
    "draw_sample",
    "SampleDesign",
    "design_sample",
    "import_sample",
]

#: Reference classes an interpreter may give a point (accuracy_sample.csv's reference_class).
REFERENCE_CLASSES = ("loss", "forest")

#: Columns of points.csv, in order; interpreters fill ``reference_class``.
_POINT_COLUMNS = ("point_id", "year", "stratum", "x", "y", "reference_class")


def olofsson_sample_size(weights: np.ndarray, user_accuracies: np.ndarray, target_se: float) -> int:
    """Total sample size for a target standard error of overall accuracy.

    Olofsson et al. 2014, §5.1.1, Eq. 13 (after Cochran 1977, Eq. 5.25):
    ``n = (sum_i W_i S_i / S(O))^2`` with ``S_i = sqrt(U_i (1 - U_i))`` the standard
    deviation of stratum ``i`` for its anticipated user's accuracy ``U_i``, ``W_i`` the
    stratum's share of the mapped area and ``S(O)`` the target standard error. Rounded up.
    """
    w = np.asarray(weights, dtype=float)
    u = np.asarray(user_accuracies, dtype=float)
    if w.shape != u.shape or w.ndim != 1 or w.size == 0:
        raise DataError("weights and user accuracies: need one of each per stratum")
    if np.any(w < 0) or not math.isclose(w.sum(), 1.0, rel_tol=1e-9):
        raise DataError(f"stratum weights {w.tolist()}: must be >= 0 and sum to 1")
    if np.any((u <= 0) | (u >= 1)):
        raise DataError(f"anticipated user's accuracies {u.tolist()}: must lie in (0, 1)")
    if not 0 < target_se < 1:
        raise DataError(f"target standard error {target_se}: must lie in (0, 1)")
    s = np.sqrt(u * (1.0 - u))
    return math.ceil((float(np.sum(w * s)) / target_se) ** 2 - 1e-9)


def user_accuracy_size(user_accuracy: float, target_se: float) -> int:
    """Points in one stratum for a target standard error of its user's accuracy.

    Olofsson et al. 2014, Eq. 6: ``V(U_i) = U_i (1 - U_i) / (n_i - 1)``, solved for
    ``n_i = U_i (1 - U_i) / SE^2 + 1``, rounded up.
    """
    if not 0 < user_accuracy < 1:
        raise DataError(f"anticipated user's accuracy {user_accuracy}: must lie in (0, 1)")
    if not 0 < target_se < 1:
        raise DataError(f"target standard error {target_se}: must lie in (0, 1)")
    return math.ceil(user_accuracy * (1.0 - user_accuracy) / target_se**2 + 1 - 1e-9)


def allocate(n_total: int, weights: np.ndarray, minimum: int) -> np.ndarray:
    """Points per stratum: ``minimum`` in each, the rest in proportion to ``weights``.

    Olofsson et al. 2014, §5.1.1, recommend allocating a minimum to each (rare) change
    stratum and the remainder proportionally. Rounding by largest remainder (ties to the
    earlier stratum), so the sizes sum to ``max(n_total, minimum * strata)``.
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or w.size == 0 or np.any(w < 0) or not w.sum() > 0:
        raise DataError(f"stratum weights {w.tolist()}: need one or more, >= 0, not all 0")
    if minimum < 0 or n_total < 0:
        raise DataError(f"sample sizes: total {n_total}, minimum {minimum} must be >= 0")
    k = w.size
    rest = max(n_total - minimum * k, 0)
    exact = rest * w / w.sum()
    sizes = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - sizes), kind="stable")
    sizes[order[: rest - int(sizes.sum())]] += 1
    return sizes + minimum


def draw_sample(codes: np.ndarray, sizes: dict[int, int], seed: int, year: int):
    """Flat pixel indices of a stratified random sample without replacement.

    ``codes`` holds each pixel's stratum code (:func:`~simulator.data.maps.year_strata`,
    0 outside the sampled area); ``sizes`` the points wanted per code. Each year's sample is
    drawn from its own stream, ``numpy.random.default_rng([seed, year])``, so one year's
    points do not depend on the others'. Returns ``{code: sorted indices}``.
    """
    rng = np.random.default_rng([seed, year])
    flat = codes.ravel()
    picks = {}
    for code in sorted(sizes):
        where = np.flatnonzero(flat == code)
        n = sizes[code]
        if n > where.size:
            raise DataError(
                f"year {year}: {n} points wanted in stratum {MAP_STRATA[code - 1]} "
                f"but it has {where.size} pixels"
            )
        picks[code] = np.sort(rng.choice(where, size=n, replace=False))
    return picks


@dataclass(frozen=True)
class SampleDesign:
    """What :func:`design_sample` wrote."""

    out_dir: Path
    years: tuple[int, ...]
    sizes: dict[str, int]  # per year and stratum
    n_points: int


def design_sample(
    loss: Path,
    reference_region: Path,
    out_dir: Path,
    sizes: dict[str, int],
    seed: int,
    year_base: int = 0,
    years: tuple[int, int] | None = None,
    buffer_pixels: int = 2,
) -> SampleDesign:
    """Draw each year's stratified sample inside the reference region and write its points.

    ``sizes`` gives the points per map stratum and year (from :func:`allocate` or chosen).
    Writes, in ``out_dir`` (whole or not at all): ``points.csv`` (columns
    ``point_id,year,stratum,x,y,reference_class``, the last empty for the interpreter; x, y
    the pixel centre in the raster's CRS), ``points.gpkg`` (the same points) and
    ``design.json`` (inputs' SHA-256, seed, sizes, each stratum's pixels, buffer width).
    """
    import geopandas as gpd

    from simulator.files import install_directory

    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise FileExistsError(f"{out_dir}: exists and is not empty")
    unknown = sorted(set(sizes) - set(MAP_STRATA))
    if unknown:
        raise DataError(f"sample sizes: unknown stratum {unknown[0]!r}")
    loss_map = read_loss_map(loss, year_base, years)
    inside = boundary_mask(
        read_boundary(reference_region, loss_map.crs, "reference region"), loss_map
    )
    code_of = stratum_codes()
    want = {code_of[s]: n for s, n in sizes.items()}
    rows, stratum_pixels = [], {}
    transform = loss_map.transform
    for year in loss_map.years:
        codes = np.where(inside, year_strata(loss_map, year, buffer_pixels), 0)
        for name, code in code_of.items():
            stratum_pixels[f"{year}/{name}"] = int(np.count_nonzero(codes == code))
        for code, idx in draw_sample(codes, want, seed, year).items():
            r, c = np.unravel_index(idx, loss_map.shape)
            xs = transform.c + (c + 0.5) * transform.a + (r + 0.5) * transform.b
            ys = transform.f + (c + 0.5) * transform.d + (r + 0.5) * transform.e
            for x, y in zip(xs, ys, strict=True):
                rows.append((year, MAP_STRATA[code - 1], float(x), float(y)))
    record = {
        "method": "stratified random sample of each year's map strata "
        "(Olofsson et al. 2014, §5.1), without replacement, numpy default_rng([seed, year])",
        "seed": seed,
        "loss_raster": {"path": str(loss), "sha256": file_sha256(loss), "year_base": year_base},
        "reference_region": {
            "path": str(reference_region),
            "sha256": file_sha256(reference_region),
        },
        "years": [loss_map.years[0], loss_map.years[-1]],
        "buffer_pixels": buffer_pixels,
        "sizes_per_year": dict(sizes),
        "stratum_pixels": stratum_pixels,
    }
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        with open(tmp / "points.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(_POINT_COLUMNS)
            for i, (year, stratum, x, y) in enumerate(rows, start=1):
                w.writerow((i, year, stratum, repr(x), repr(y), ""))
        frame = gpd.GeoDataFrame(
            {
                "point_id": np.arange(1, len(rows) + 1),
                "year": [r[0] for r in rows],
                "stratum": [r[1] for r in rows],
                "reference_class": [""] * len(rows),
            },
            geometry=gpd.points_from_xy([r[2] for r in rows], [r[3] for r in rows]),
            crs=loss_map.crs,
        )
        frame.to_file(tmp / "points.gpkg", driver="GPKG", engine="pyogrio")
        (tmp / "design.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        install_directory(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SampleDesign(out_dir, loss_map.years, dict(sizes), len(rows))


def _read_points(path: Path) -> list[dict]:
    """Interpreted points from a CSV (points.csv's columns) or a GeoPackage of points."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in _POINT_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}: no column {missing[0]!r}")
            return [dict(r, _line=i) for i, r in enumerate(reader, start=2)]
    import geopandas as gpd

    try:
        frame = gpd.read_file(path, engine="pyogrio")
    except Exception as e:  # pyogrio's errors name the file and the reason
        raise DataError(f"{path}: not a readable vector file ({e})") from None
    for c in _POINT_COLUMNS[:3] + ("reference_class",):
        if c not in frame.columns:
            raise DataError(f"{path}: no column {c!r}")
    bad = frame.geometry.geom_type != "Point"
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{path}: feature {i + 1} is a {frame.geometry.iloc[i].geom_type}, not a Point"
        )
    return [
        {
            "point_id": str(r.point_id),
            "year": str(r.year),
            "stratum": str(r.stratum),
            "x": str(r.geometry.x),
            "y": str(r.geometry.y),
            "reference_class": "" if r.reference_class is None else str(r.reference_class),
            "_line": f"feature {i + 1}",
        }
        for i, r in enumerate(frame.itertuples())
    ]


def import_sample(
    points: Path,
    loss: Path,
    reference_region: Path,
    out_csv: Path,
    year_base: int = 0,
    years: tuple[int, int] | None = None,
    buffer_pixels: int = 2,
) -> dict[tuple[int, str, str], int]:
    """Count interpreted points into ``accuracy_sample.csv`` after checking each one.

    Every point must carry a year of the map, a map stratum, a reference class of
    :data:`REFERENCE_CLASSES`, and lie inside the reference region in a pixel of that
    stratum in that year (recomputed from ``loss`` with the same buffer width). Writes
    ``year,stratum,reference_class,count`` for every year, stratum and class (zeros
    included), atomically. Returns the counts.
    """
    from simulator.files import write_text

    loss_map = read_loss_map(loss, year_base, years)
    inside = boundary_mask(
        read_boundary(reference_region, loss_map.crs, "reference region"), loss_map
    )
    code_of = stratum_codes()
    inverse = ~loss_map.transform
    cache: dict[int, np.ndarray] = {}
    seen: set[str] = set()
    counts = {(y, s, c): 0 for y in loss_map.years for s in MAP_STRATA for c in REFERENCE_CLASSES}
    rows = _read_points(points)
    if not rows:
        raise DataError(f"{points}: no points")
    for r in rows:
        where = f"{points}: {'line ' if isinstance(r['_line'], int) else ''}{r['_line']}"
        try:
            year = int(r["year"])
            x, y = float(r["x"]), float(r["y"])
            if not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError
        except (TypeError, ValueError):  # an empty, missing or non-finite cell
            raise DataError(
                f"{where}: year {r['year']!r}, x {r['x']!r}, y {r['y']!r} must be numbers"
            ) from None
        if r["point_id"] in seen:
            raise DataError(f"{where}: point_id {r['point_id']!r} appears twice")
        seen.add(r["point_id"])
        if year not in loss_map.years:
            raise DataError(f"{where}: year {year} is not a year of the map")
        if r["stratum"] not in code_of:
            raise DataError(
                f"{where}: stratum {r['stratum']!r} is not one of {', '.join(MAP_STRATA)}"
            )
        ref = (r["reference_class"] or "").strip()
        if ref not in REFERENCE_CLASSES:
            raise DataError(
                f"{where}: reference_class {ref!r} is not one of {', '.join(REFERENCE_CLASSES)}"
            )
        col = math.floor(inverse.a * x + inverse.b * y + inverse.c)
        row = math.floor(inverse.d * x + inverse.e * y + inverse.f)
        if (
            not (0 <= row < loss_map.shape[0] and 0 <= col < loss_map.shape[1])
            or not inside[row, col]
        ):
            raise DataError(f"{where}: point ({x}, {y}) lies outside the reference region")
        if year not in cache:
            cache[year] = year_strata(loss_map, year, buffer_pixels)
        actual = int(cache[year][row, col])
        if actual != code_of[r["stratum"]]:
            found = MAP_STRATA[actual - 1] if actual else "no forest"
            raise DataError(
                f"{where}: point ({x}, {y}) is in {found} in {year}, not in stratum {r['stratum']}"
            )
        counts[(year, r["stratum"], ref)] += 1
    lines = ["year,stratum,reference_class,count"] + [
        f"{y},{s},{c},{n}" for (y, s, c), n in counts.items()
    ]
    write_text(Path(out_csv), "\n".join(lines) + "\n")
    return counts
