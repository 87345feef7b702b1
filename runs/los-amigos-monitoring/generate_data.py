"""Generate the SYNTHETIC monitoring data of the Los Amigos monitoring example.

Two monitoring periods, 2026-2027 and 2028-2030. For each period and each area (the
four project strata and the leakage belt) the script draws a true loss, a loss map
with omission and commission errors, and a stratified random accuracy sample of
100 points per map stratum (``loss``, ``buffer`` of stable forest around mapped
loss, ``stable_forest``), the design of the ex-ante reference-region maps
(``../los-amigos/README.md``). Every parameter is listed in README.md. Run::

    python runs/los-amigos-monitoring/generate_data.py

It rewrites ``data/monitoring_map_areas.csv`` and ``data/monitoring_accuracy_sample.csv``
byte-identically (fixed seed).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = [2026, 0x4D4F4E]
PERIODS = ((2026, 2027), (2028, 2030))
#: Project strata: forest area (ha) and relative risk, as in ../los-amigos/run.toml.
STRATA = {
    "terra_firme": (87420, 1.0),
    "floodplain": (21855, 1.4),
    "bamboo": (29140, 0.8),
    "palm_swamp": (7285, 0.3),
}
BELT = "leakage_belt"
BELT_FOREST_HA = 300_000  # forest of the ~10 km belt at the crediting start
REGIONAL_RATE = 0.0026  # the reference region's annual loss fraction, 2016-2020 mean, rounded
TRUE_EFFECTIVENESS = 0.6  # the project prevents 60% of the baseline hazard (synthetic truth)
DISPLACEMENT = 0.12  # displaced share of the avoided hectares (ex-ante truth, ../los-amigos)
LOSS_NOISE_SD = 0.2  # log-normal noise of each period's true loss
UA = (440, 60)  # Beta of the user's accuracy of mapped loss (mean 0.88)
OMISSION = 0.10  # share of the true loss the map misses
BUFFER_SHARE = 0.85  # of the omitted loss, the share in the buffer stratum
BUFFER_FACTOR = 3.0  # buffer area = 3 x mapped loss
SAMPLE_PER_STRATUM = 100


def rescaled_risk() -> dict[str, float]:
    area = np.array([a for a, _ in STRATA.values()])
    risk = np.array([r for _, r in STRATA.values()])
    w = risk * area.sum() / (risk * area).sum()
    return dict(zip(STRATA, w, strict=True))


def true_losses(rng: np.random.Generator) -> dict[tuple[int, str], float]:
    """True loss (ha) of each period and area."""
    w = rescaled_risk()
    out = {}
    for p, (a, b) in enumerate(PERIODS):
        years = b - a + 1
        avoided = 0.0
        for name, (area, _) in STRATA.items():
            baseline = area * (1 - (1 - REGIONAL_RATE) ** (w[name] * years))
            loss = baseline * (1 - TRUE_EFFECTIVENESS) * rng.lognormal(0, LOSS_NOISE_SD)
            out[(p, name)] = loss
            avoided += baseline - loss
        belt_baseline = BELT_FOREST_HA * (1 - (1 - REGIONAL_RATE) ** years)
        out[(p, BELT)] = (belt_baseline + DISPLACEMENT * avoided) * rng.lognormal(0, LOSS_NOISE_SD)
    return out


def map_and_sample(rng, forest: float, true_loss: float):
    """Mapped areas of the three strata and the sample counts (loss, forest) of each."""
    ua = rng.beta(*UA)
    mapped = round(true_loss * (1 - OMISSION) / ua, 1)
    buffer = round(BUFFER_FACTOR * mapped, 1)
    stable = round(forest - mapped - buffer, 1)
    omitted = true_loss * OMISSION
    share = {
        "loss": ua,
        "buffer": BUFFER_SHARE * omitted / buffer,
        "stable_forest": (1 - BUFFER_SHARE) * omitted / stable,
    }
    areas = {"loss": mapped, "buffer": buffer, "stable_forest": stable}
    counts = {}
    for stratum, p in share.items():
        k = int(rng.binomial(SAMPLE_PER_STRATUM, min(p, 1.0)))
        counts[stratum] = (k, SAMPLE_PER_STRATUM - k)
    return areas, counts


def main() -> None:
    rng = np.random.default_rng(SEED)
    truth = true_losses(rng)
    map_rows, sample_rows = [], []
    for p, (a, b) in enumerate(PERIODS):
        label = f"{a}-{b}"
        for name in [*STRATA, BELT]:
            forest = BELT_FOREST_HA if name == BELT else STRATA[name][0]
            areas, counts = map_and_sample(rng, forest, truth[(p, name)])
            for stratum in ("loss", "buffer", "stable_forest"):
                map_rows.append((label, name, stratum, f"{areas[stratum]:.1f}"))
                loss_n, forest_n = counts[stratum]
                sample_rows.append((label, name, stratum, "loss", loss_n))
                sample_rows.append((label, name, stratum, "forest", forest_n))
    data = HERE / "data"
    data.mkdir(exist_ok=True)
    for path, header, rows in (
        (
            data / "monitoring_map_areas.csv",
            ("period", "area", "stratum", "mapped_area_ha"),
            map_rows,
        ),
        (
            data / "monitoring_accuracy_sample.csv",
            ("period", "area", "stratum", "reference_class", "count"),
            sample_rows,
        ),
    ):
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
    for (p, name), loss in truth.items():
        print(f"{PERIODS[p][0]}-{PERIODS[p][1]} {name}: true loss {loss:,.1f} ha")


if __name__ == "__main__":
    main()
