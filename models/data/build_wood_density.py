"""Derive reddsim's wood-density lookup table from the Global Wood Density Database.

Reads ``gwdd.csv`` (Zanne et al. 2009, Dryad doi:10.5061/dryad.234; Chave et al.
2009) and writes ``gwdd_south_america_tropical.csv`` next to this script: the
records of tropical South America (``regionId == SouthAmericaTrop``), the region
of Madre de Dios, averaged per species (one row per family, genus, species with
the mean wood density over its records and their number), and
``gwdd_world_genera.csv``, every genus of the database (all regions) with its
family (it tells, e.g., which stems are palms, Arecaceae) and the mean of its
species means over all regions (the fallback for a genus or family without a
record in the region). Genus and family means
are computed from this table at run time (:mod:`models.wood_density`), as BIOMASS
<= 2.x ``getWoodDensity`` did: a genus mean is the mean of its species means, a
family mean the mean of its genus means.

Run from the repository root (needs ``../shared/data/wood-density``)::

    .venv/bin/python models/data/build_wood_density.py [path/to/gwdd.csv]
"""

from __future__ import annotations

import csv
import hashlib
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parents[2] / "shared" / "data" / "wood-density" / "gwdd.csv"
REGION = "SouthAmericaTrop"


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    records: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    world: dict[tuple[str, str], list[float]] = defaultdict(list)
    families: dict[str, str] = {}
    with source.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            families.setdefault(row["genus"].strip(), row["family"].strip())
            world[row["genus"].strip(), row["species"].strip()].append(float(row["wd"]))
            if row["regionId"] == REGION:
                key = (row["family"].strip(), row["genus"].strip(), row["species"].strip())
                records[key].append(float(row["wd"]))
    out = HERE / "gwdd_south_america_tropical.csv"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    with out.open("w", newline="", encoding="utf-8") as fh:
        fh.write(
            "# Global Wood Density Database (Zanne et al. 2009; Chave et al. 2009), "
            f"region {REGION}, "
            f"species means; source sha256 {digest}; written by models/data/build_wood_density.py\n"
        )
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["family", "genus", "species", "wood_density", "n_records"])
        for (family, genus, species), vals in sorted(records.items()):
            w.writerow([family, genus, species, f"{sum(vals) / len(vals):.4f}", len(vals)])
    by_genus: dict[str, list[float]] = defaultdict(list)
    for (genus, _), vals in world.items():
        by_genus[genus].append(sum(vals) / len(vals))  # species means
    out_fam = HERE / "gwdd_world_genera.csv"
    with out_fam.open("w", newline="", encoding="utf-8") as fh:
        fh.write(
            "# Every genus of the Global Wood Density Database (all regions): family, mean of "
            f"its species means, number of species; source sha256 {digest}; written by "
            "models/data/build_wood_density.py\n"
        )
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["genus", "family", "wood_density", "n_species"])
        for genus, family in sorted(families.items()):
            v = by_genus[genus]
            w.writerow([genus, family, f"{sum(v) / len(v):.4f}", len(v)])
    print(f"wrote {out_fam}: {len(families)} genera")
    print(f"wrote {out}: {len(records)} species of {REGION} from {source} (sha256 {digest})")


if __name__ == "__main__":
    main()
