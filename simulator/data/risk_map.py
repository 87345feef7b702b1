"""An allocated baseline: a jurisdiction's projected deforestation spread over a risk map.

VM0048 projects a project's baseline deforestation from the jurisdiction's: the
jurisdiction's expected annual loss ``J`` (ha/yr) is spread over its forest in proportion
to a map of deforestation risk, and the project's baseline is what lands inside it,
``J x s`` with ``s`` the project's risk share. Verra's tool VT0007 (UDef-A) sets out the
allocation and Clark Labs' UDef-ARP implements it; the steps below follow UDef-ARP's
source (Clark Labs, UDef-ARP, https://github.com/ClarkCGA/UDef-ARP, commit 14acdaf,
``allocation_tool.py`` and its user guides ``doc/AppFitAM.pdf``, ``doc/AppPreAM.pdf``). The
body text of VM0048 and VT0007 was not available to check against; nothing here quotes them.
``J`` is annual, as UDef-ARP's validity-period dialog asks for it (``UDef-ARP.py``: "expected
annual jurisdictional deforestation rate (ha/year)"); its older guide ``AppPreAM.pdf`` asks
for the total over the validity period and its length instead, which divides to the same.

1. Relative frequency of each risk class (Clark Labs, UDef-ARP,
   ``allocation_tool.py:AllocationTool.create_relative_frequency_table``): the pixels of
   the class deforested during the historical reference period over the class's forest
   pixels at its start. UDef-ARP tabulates classes crossed with administrative divisions
   (bin ``class x 1000 + division``); reddsim takes the jurisdiction as one division.
2. Density (``create_fit_density_map``, ``calculate_prediction_density_arr``): the
   relative frequency times the pixel's area (ha/pixel). reddsim divides it by the
   period's length to make it a density per year; the adjustment ratio of step 3 absorbs
   any common scale, so this changes no allocated hectare (nor the cap's iterations).
3. Adjustment ratio (``calculate_adjustment_ratio``): ``AR = J / MD``, ``MD`` the sum of
   the density over the jurisdiction's forest pixels at the start of the validity period.
4. The cap (``adjusted_prediction_density_array`` and the loop of
   ``execute_workflow_vp``): the density times ``AR``, every pixel capped at its own area;
   while ``AR > 1.00001`` the capped map becomes the density and ``AR`` is recomputed; the
   final map is ``min(AR x density, pixel area)`` (``adjusted_prediction_density_map``).
   UDef-ARP stops at a user-set maximum of iterations (its guide suggests 5); reddsim
   iterates to the same tolerance and refuses a map that has not converged after
   :data:`MAX_ITERATIONS`.
5. The project's allocated loss: the sum of the adjusted map over the project's forest
   pixels. UDef-ARP writes the map and stops; this sum and ``s`` are reddsim's.

Because a pixel's density is its class's probability times its area, the cap binds a whole
class at once (probability times ``AR`` reaching 1). The arithmetic is therefore done per
class, on the class's probability and its forest area, which is the pixel sum exactly; in
a geographic CRS each pixel keeps its own (row's) area, where UDef-ARP assumes one area
for every pixel of an equal-area grid.

UDef-ARP's map carries no uncertainty. reddsim's own assumption: each class's count of
deforested pixels is binomial, so its probability is drawn from the Jeffreys posterior
``Beta(lost + 1/2, forest - lost + 1/2)`` (seeded ``numpy.random.default_rng``), the cap
and ``s`` recomputed per draw with ``J`` at its mean (``J``'s own uncertainty is the
run's ``jurisdiction_loss_ha`` prior, independent of ``s``), and the draws of ``s``
summarised by the Beta with their mean and variance (the method of moments) -- the
``risk_share`` prior of ``[deforestation.allocation]``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator.data.maps import (
    area_method,
    boundary_mask,
    file_sha256,
    format_ha,
    pixel_areas_ha,
    read_boundary,
    read_class_raster,
    read_loss_map,
)
from simulator.errors import DataError

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_DRAWS",
    "TOLERANCE",
    "MAX_ITERATIONS",
    "ClassCounts",
    "count_classes",
    "adjust_density",
    "AllocatedMap",
    "allocate_map",
    "share_draws",
    "beta_moments",
    "RiskAllocation",
    "allocate",
]

#: Seed of the share's draws unless one is given.
DEFAULT_SEED = 20_240_601

#: Draws of the classes' probabilities (and of the share).
DEFAULT_DRAWS = 4000

#: UDef-ARP iterates the cap while the adjustment ratio exceeds 1.00001.
TOLERANCE = 1e-5

#: Iterations of the cap before a map is refused as not converging.
MAX_ITERATIONS = 10_000


@dataclass(frozen=True)
class ClassCounts:
    """Forest and loss of each risk class, in the jurisdiction and the project.

    Arrays are per class, in the order of ``classes``. The historical counts are pixels
    (the binomial counts of the relative frequency); the allocation areas are hectares of
    forest at the start of the year after the period (where the loss is allocated).
    """

    classes: np.ndarray  # int (K,): class values, ascending
    forest_px: np.ndarray  # jurisdiction forest pixels at the start of the period
    lost_px: np.ndarray  # of which mapped lost during the period
    forest_start_ha: np.ndarray
    lost_ha: np.ndarray
    jurisdiction_px: np.ndarray  # jurisdiction forest pixels after the period
    jurisdiction_ha: np.ndarray
    project_px: np.ndarray  # project forest pixels after the period
    project_ha: np.ndarray
    years: tuple[int, int]

    @property
    def n_years(self) -> int:
        return self.years[1] - self.years[0] + 1

    @property
    def relative_frequency(self) -> np.ndarray:
        """Deforested over forest pixels of each class during the period (UDef-ARP's step 1)."""
        return self.lost_px / self.forest_px

    @property
    def annual_probability(self) -> np.ndarray:
        """The relative frequency per year: a pixel's density is this times its area."""
        return self.relative_frequency / self.n_years


def count_classes(
    loss_map,
    risk_valid: np.ndarray,
    risk_values: np.ndarray,
    jurisdiction: np.ndarray,
    project: np.ndarray,
    years: tuple[int, int],
    *,
    risk_path: Path | str = "risk raster",
    jurisdiction_path: Path | str = "jurisdiction",
    project_path: Path | str = "project",
) -> ClassCounts:
    """Count each risk class's forest and loss in the jurisdiction and the project.

    Parameters
    ----------
    loss_map
        A :class:`simulator.data.maps.LossMap`.
    risk_valid, risk_values
        The risk raster on the loss map's grid (:func:`simulator.data.maps.read_class_raster`).
    jurisdiction, project
        Boolean masks (pixel centres inside) of the two boundaries.
    years
        First and last year of the historical reference period.

    Raises
    ------
    DataError
        Years outside the loss map's, a class below 1, jurisdiction forest without a
        class, a class of the jurisdiction with no forest, no loss in the period, project
        pixels outside the jurisdiction, or a project with no forest after the period.
    """
    first, last = years
    mapped = loss_map.years
    if first > last or first < mapped[0] or last > mapped[-1]:
        raise DataError(
            f"--years {first}-{last}: outside the years {mapped[0]}-{mapped[-1]} of the loss "
            f"raster {loss_map.path}"
        )
    if np.any(risk_valid & (risk_values < 1)):
        bad = int(risk_values[risk_valid & (risk_values < 1)].min())
        raise DataError(f"{risk_path}: class {bad}; risk classes are integers 1, 2, ..., K")
    outside = int(np.count_nonzero(project & ~jurisdiction))
    if outside:
        raise DataError(
            f"{project_path}: {outside:,} pixels of the project lie outside the jurisdiction "
            f"{jurisdiction_path}"
        )
    ly = loss_map.loss_year
    forest_first = jurisdiction & loss_map.forest & ((ly == 0) | (ly >= first))
    lost = forest_first & (ly >= first) & (ly <= last)
    forest_after = jurisdiction & loss_map.forest & ((ly == 0) | (ly > last))
    missing = int(np.count_nonzero(forest_first & ~risk_valid))
    if missing:
        raise DataError(
            f"{risk_path}: {missing:,} forest pixels of the jurisdiction at the start of "
            f"{first} have no risk class (nodata); the risk map must cover that forest"
        )
    classes = np.unique(risk_values[jurisdiction & risk_valid])
    index = np.searchsorted(classes, risk_values).clip(0, max(classes.size - 1, 0))
    area = np.broadcast_to(pixel_areas_ha(loss_map)[:, None], loss_map.shape)

    def tally(mask):
        k = index[mask]
        px = np.bincount(k, minlength=classes.size)
        ha = np.bincount(k, weights=area[mask], minlength=classes.size)
        return px.astype(np.int64), ha

    forest_px, forest_ha = tally(forest_first)
    empty = classes[forest_px == 0]
    if empty.size:
        raise DataError(
            f"{risk_path}: class {int(empty[0])} has no forest in the jurisdiction at the "
            f"start of {first}; its relative frequency is undefined"
        )
    lost_px, lost_ha = tally(lost)
    if not lost_px.any():
        raise DataError(
            f"{loss_map.path}: no forest pixel of the jurisdiction is mapped lost in "
            f"{first}-{last}; there is no history to calibrate the risk classes on"
        )
    jur_px, jur_ha = tally(forest_after)
    proj_px, proj_ha = tally(forest_after & project)
    if not proj_px.any():
        raise DataError(f"{project_path}: the project has no forest at the start of {last + 1}")
    return ClassCounts(
        classes=classes,
        forest_px=forest_px,
        lost_px=lost_px,
        forest_start_ha=forest_ha,
        lost_ha=lost_ha,
        jurisdiction_px=jur_px,
        jurisdiction_ha=jur_ha,
        project_px=proj_px,
        project_ha=proj_ha,
        years=(first, last),
    )


def adjust_density(
    probability: np.ndarray,
    area_ha: np.ndarray,
    expected_ha: float,
    tolerance: float = TOLERANCE,
    max_iterations: int = MAX_ITERATIONS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale class probabilities so the map sums to ``expected_ha``, capping pixels at their area.

    Clark Labs, UDef-ARP, ``allocation_tool.py``: ``calculate_adjustment_ratio`` (``AR =
    expected / sum of the density``), ``adjusted_prediction_density_array`` (``AR x
    density``, capped at the pixel area) and the loop of ``execute_workflow_vp`` (repeat
    while ``AR > 1 + tolerance``, the capped map replacing the density; then the final
    ``min(AR x density, pixel area)``). Per class: a pixel's density is ``p x`` its area
    and the cap ``p <= 1``.

    Parameters
    ----------
    probability
        ``(..., K)``: each class's annual probability of loss (density per ha of pixel).
    area_ha
        ``(K,)``: forest area of each class in the jurisdiction (ha).
    expected_ha
        The jurisdiction's expected annual loss (ha/yr); less than ``area_ha.sum()``.

    Returns
    -------
    adjusted
        ``(..., K)``: adjusted probabilities (the adjusted density per ha of pixel, <= 1).
    ratio
        ``(...)``: the first adjustment ratio, ``expected / MD`` (the last is <= 1 +
        tolerance).
    iterations
        ``(...)``: passes of UDef-ARP's loop: 0 when the first ratio is <= 1 + tolerance,
        1 when it is larger and no pixel reaches its area, more when the cap binds.

    Raises
    ------
    DataError
        The expected loss is not below the forest area, the density sums to zero, or the
        cap has not converged after ``max_iterations``.
    """
    p = np.asarray(probability, dtype=float)
    area = np.asarray(area_ha, dtype=float)
    shape = p.shape[:-1]
    p = p.reshape(-1, area.size).copy()
    if not expected_ha < float(area.sum()):
        raise DataError(
            f"--jurisdiction-loss mean {expected_ha:g} ha/yr: not less than the jurisdiction's "
            f"forest, {float(area.sum()):,.1f} ha, where it is allocated"
        )
    reachable = (p > 0) @ area
    if np.any(expected_ha >= reachable):
        raise DataError(
            f"--jurisdiction-loss mean {expected_ha:g} ha/yr: not less than the forest of "
            f"the risk classes with historical loss, {float(reachable.min()):,.1f} ha, the "
            "most the map can allocate"
        )
    total = p @ area
    if np.any(total <= 0):
        raise DataError(
            "no forest remains in the risk classes with historical loss; the density map "
            "sums to zero"
        )
    ratio = expected_ha / total
    first = ratio.copy()
    iterations = np.zeros(ratio.shape, dtype=np.int64)
    active = ratio > 1.0 + tolerance
    while active.any():
        if iterations.max() >= max_iterations:
            raise DataError(
                f"the cap at the pixel area has not converged after {max_iterations} "
                f"iterations (adjustment ratio {float(ratio[active].max()):.6f}); the "
                f"jurisdiction's loss {expected_ha:g} ha/yr is close to all the forest its risk "
                "classes can take"
            )
        p[active] = np.minimum(ratio[active, None] * p[active], 1.0)
        ratio[active] = expected_ha / (p[active] @ area)
        iterations[active] += 1
        active = ratio > 1.0 + tolerance
    adjusted = np.minimum(ratio[:, None] * p, 1.0)
    return (
        adjusted.reshape(*shape, area.size),
        first.reshape(shape),
        iterations.reshape(shape),
    )


@dataclass(frozen=True)
class AllocatedMap:
    """The adjusted density map summed per class, in the jurisdiction and the project."""

    probability: np.ndarray  # (K,) annual probability before adjustment
    adjusted: np.ndarray  # (K,) adjusted probability (adjusted density / pixel area)
    jurisdiction_ha_yr: np.ndarray  # (K,) allocated to the class's jurisdiction forest
    project_ha_yr: np.ndarray  # (K,) of which inside the project
    ratio: float  # the first adjustment ratio, J / MD
    iterations: int  # passes of the cap's loop

    @property
    def share(self) -> float:
        """The project's share of the allocated map, ``s``."""
        return float(self.project_ha_yr.sum() / self.jurisdiction_ha_yr.sum())


def allocate_map(
    counts: ClassCounts,
    expected_ha: float,
    tolerance: float = TOLERANCE,
    max_iterations: int = MAX_ITERATIONS,
) -> AllocatedMap:
    """UDef-ARP's allocation of ``expected_ha`` (ha/yr) from the classes' relative frequencies.

    The map sums to ``expected_ha`` over the jurisdiction (to ``tolerance`` of the capped
    part); the project's part is the sum over its forest pixels (see the module's steps).
    """
    p = counts.annual_probability
    adjusted, ratio, iterations = adjust_density(
        p, counts.jurisdiction_ha, expected_ha, tolerance, max_iterations
    )
    return AllocatedMap(
        probability=p,
        adjusted=adjusted,
        jurisdiction_ha_yr=adjusted * counts.jurisdiction_ha,
        project_ha_yr=adjusted * counts.project_ha,
        ratio=float(ratio),
        iterations=int(iterations),
    )


def share_draws(
    counts: ClassCounts,
    expected_ha: float,
    draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
    tolerance: float = TOLERANCE,
    max_iterations: int = MAX_ITERATIONS,
) -> tuple[np.ndarray, np.ndarray]:
    """Draws of the project's share ``s`` from the classes' Jeffreys posteriors.

    Each class's probability of loss over the period is drawn from
    ``Beta(lost + 1/2, forest - lost + 1/2)`` (the Jeffreys prior of a binomial
    probability, updated by the class's pixel counts), divided by the period's length and
    allocated with the cap (:func:`adjust_density`) at ``expected_ha``. reddsim's
    assumption, not UDef-ARP's: see the module's docstring.

    Returns
    -------
    shares
        ``(draws,)``: ``s`` of each draw.
    iterations
        ``(draws,)``: iterations of the cap of each draw.
    """
    if draws < 2:
        raise DataError(f"--draws {draws}: at least 2 are needed to summarise the share")
    rng = np.random.default_rng(seed)
    a = counts.lost_px + 0.5
    b = counts.forest_px - counts.lost_px + 0.5
    q = rng.beta(a, b, size=(draws, counts.classes.size)) / counts.n_years
    adjusted, _, iterations = adjust_density(
        q, counts.jurisdiction_ha, expected_ha, tolerance, max_iterations
    )
    shares = (adjusted @ counts.project_ha) / (adjusted @ counts.jurisdiction_ha)
    return shares, iterations


def beta_moments(draws: np.ndarray) -> tuple[float, float]:
    """``(alpha, beta)`` of the Beta with the draws' mean and variance (method of moments).

    ``alpha + beta = m (1 - m) / v - 1``, ``alpha = m (alpha + beta)``.

    Raises
    ------
    DataError
        Draws outside (0, 1) or without spread: no Beta has their moments.
    """
    x = np.asarray(draws, dtype=float)
    m, v = float(x.mean()), float(x.var())
    # a variance at rounding level (identical draws) is no spread
    if not (0 < m < 1) or not (1e-14 * m * (1 - m) < v < m * (1 - m)):
        raise DataError(
            f"the risk share's draws (mean {m:.6g}, variance {v:.3g}) have no Beta of the "
            "same moments (a project with all or none of the jurisdiction's forest?)"
        )
    total = m * (1 - m) / v - 1
    return m * total, (1 - m) * total


@dataclass(frozen=True)
class RiskAllocation:
    """What :func:`allocate` wrote, and the share it found."""

    out_dir: Path
    files: tuple[str, ...]
    years: tuple[int, int]
    classes: int
    share: float  # of UDef-ARP's map (no uncertainty)
    share_mean: float
    share_sd: float
    share_interval: tuple[float, float]  # 5th and 95th percentiles of the draws
    alpha: float
    beta: float
    project_ha_yr: float  # J's mean x the map's share
    record: dict


def allocate(
    risk: Path,
    loss: Path,
    jurisdiction: Path,
    project: Path,
    out_dir: Path,
    years: tuple[int, int],
    jurisdiction_loss: tuple[float, float],
    year_base: int = 0,
    seed: int = DEFAULT_SEED,
    draws: int = DEFAULT_DRAWS,
) -> RiskAllocation:
    """Allocate a jurisdiction's projected loss over a risk map; write the project's share.

    Parameters
    ----------
    risk
        Raster of integer risk classes 1..K with a nodata value, on the loss raster's grid
        and CRS (e.g. from forestatrisk, riskmapjnr or UDef-ARP).
    loss
        Loss-year raster, as :func:`simulator.data.maps.read_loss_map` reads it.
    jurisdiction, project
        Polygons in the rasters' CRS; the project inside the jurisdiction.
    years
        First and last year of the historical reference period, whose loss calibrates each
        class's relative frequency.
    jurisdiction_loss
        Mean and SD of the jurisdiction's projected annual loss (ha/yr).

    Writes, in ``out_dir`` (created whole or not at all):

    * ``allocation.csv`` -- per class: forest and loss in the period, relative frequency,
      jurisdiction and project forest after it, adjusted density and allocated ha/yr;
    * ``allocation.toml`` -- a ``[deforestation.allocation]`` table
      (:class:`models.settings.Allocation`): ``jurisdiction_loss_ha`` as given and
      ``risk_share`` the Beta of the share's draws, with their summary in comments;
    * ``allocation.json`` -- inputs' SHA-256, classes, pixel counts, iterations of the cap,
      seed and draws.

    Raises
    ------
    DataError
        Any bad input (see :func:`count_classes`, :func:`adjust_density` and
        :mod:`simulator.data.maps`'s readers).
    FileExistsError
        If ``out_dir`` exists and is not empty.
    """
    from simulator.files import install_directory

    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise FileExistsError(f"{out_dir}: exists and is not empty")
    mean, sd = (float(v) for v in jurisdiction_loss)
    if not (np.isfinite(mean) and np.isfinite(sd) and mean > 0 and sd > 0):
        raise DataError(f"--jurisdiction-loss {mean:g},{sd:g}: the mean and SD must be > 0")
    loss_map = read_loss_map(loss, year_base)
    valid, values = read_class_raster(risk, loss_map, "risk", require_nodata=True)
    jur_boundary = read_boundary(jurisdiction, loss_map.crs, "jurisdiction")
    proj_boundary = read_boundary(project, loss_map.crs, "project")
    counts = count_classes(
        loss_map,
        valid,
        values,
        boundary_mask(jur_boundary, loss_map),
        boundary_mask(proj_boundary, loss_map),
        years,
        risk_path=risk,
        jurisdiction_path=jurisdiction,
        project_path=project,
    )
    if counts.project_px.sum() == counts.jurisdiction_px.sum():
        raise DataError(
            f"{project}: the project holds all the jurisdiction's forest; its share is 1"
        )
    point = allocate_map(counts, mean)
    shares, iterations = share_draws(counts, mean, draws, seed)
    alpha, beta = beta_moments(shares)
    s_mean, s_sd = float(shares.mean()), float(shares.std())
    q05, q95 = (float(v) for v in np.quantile(shares, [0.05, 0.95]))

    first, last = counts.years
    record = {
        "method": "UDef-ARP relative-frequency allocation with the cap at the pixel area; "
        "Jeffreys Beta draws of each class's probability; risk share Beta by moments",
        "inputs": {
            name: {"path": str(Path(p)), "sha256": file_sha256(p)}
            for name, p in (
                ("risk", risk),
                ("loss", loss),
                ("jurisdiction", jurisdiction),
                ("project", project),
            )
        },
        "year_base": year_base,
        "years": [first, last],
        "allocated_from": last + 1,
        "area_method": area_method(loss_map),
        "jurisdiction_loss_ha": {"mean": mean, "sd": sd},
        "classes": [int(c) for c in counts.classes],
        "pixels": {
            "forest_start": counts.forest_px.tolist(),
            "lost": counts.lost_px.tolist(),
            "jurisdiction_forest": counts.jurisdiction_px.tolist(),
            "project_forest": counts.project_px.tolist(),
        },
        "adjustment_ratio": point.ratio,
        "iterations": point.iterations,
        "capped_classes": [int(c) for c in counts.classes[point.adjusted >= 1.0]],
        "tolerance": TOLERANCE,
        "seed": seed,
        "draws": draws,
        "draw_iterations": {"min": int(iterations.min()), "max": int(iterations.max())},
        "share": point.share,
        "risk_share": {
            "mean": s_mean,
            "sd": s_sd,
            "q05": q05,
            "q95": q95,
            "alpha": alpha,
            "beta": beta,
        },
    }
    files = ("allocation.csv", "allocation.toml", "allocation.json")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        (tmp / "allocation.csv").write_text(_csv(counts, point), encoding="utf-8")
        toml = _toml(mean, sd, alpha, beta, point.share, s_mean, s_sd, (q05, q95), draws, seed)
        (tmp / "allocation.toml").write_text(toml, encoding="utf-8")
        (tmp / "allocation.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        install_directory(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RiskAllocation(
        out_dir=out_dir,
        files=files,
        years=counts.years,
        classes=int(counts.classes.size),
        share=point.share,
        share_mean=s_mean,
        share_sd=s_sd,
        share_interval=(q05, q95),
        alpha=alpha,
        beta=beta,
        project_ha_yr=float(point.project_ha_yr.sum()),
        record=record,
    )


def _csv(counts: ClassCounts, point: AllocatedMap) -> str:
    header = (
        "class,forest_start_ha,historical_loss_ha,relative_frequency,jurisdiction_forest_ha,"
        "project_forest_ha,adjusted_density_ha_px_yr,jurisdiction_allocated_ha_yr,"
        "project_allocated_ha_yr"
    )
    lines = [header]
    for k, c in enumerate(counts.classes):
        # a pixel's adjusted density: the class's adjusted probability times its mean area
        px = counts.jurisdiction_px[k] or counts.forest_px[k]
        ha = counts.jurisdiction_ha[k] if counts.jurisdiction_px[k] else counts.forest_start_ha[k]
        density = point.adjusted[k] * ha / px
        lines.append(
            ",".join(
                [
                    str(int(c)),
                    format_ha(counts.forest_start_ha[k]),
                    format_ha(counts.lost_ha[k]),
                    f"{counts.relative_frequency[k]:.10g}",
                    format_ha(counts.jurisdiction_ha[k]),
                    format_ha(counts.project_ha[k]),
                    f"{density:.10g}",
                    f"{point.jurisdiction_ha_yr[k]:.10g}",
                    f"{point.project_ha_yr[k]:.10g}",
                ]
            )
        )
    return "\n".join(lines) + "\n"


def _toml(mean, sd, alpha, beta, share, s_mean, s_sd, interval, draws, seed) -> str:
    return (
        "# reddsim allocate: the jurisdiction's projected loss allocated over the risk map\n"
        '# (UDef-ARP\'s relative frequencies and cap). Use with baseline = "allocated".\n'
        f"# risk share s of UDef-ARP's map: {share:.6g}\n"
        f"# s over {draws} draws (seed {seed}): mean {s_mean:.6g}, sd {s_sd:.3g}, 90% interval "
        f"[{interval[0]:.6g}, {interval[1]:.6g}]; risk_share is the Beta of that mean and sd\n"
        "[deforestation.allocation]\n"
        f"jurisdiction_loss_ha = {{ mean = {mean!r}, sd = {sd!r} }}\n"
        f"risk_share = {{ alpha = {alpha!r}, beta = {beta!r} }}\n"
    )
