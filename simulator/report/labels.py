"""Display names: what the appendix calls each stratum and each model parameter.

Code names (``mu_stratum[terra_firme]``) stay in the tables under ``tables/`` and in
the appendix's reproducibility annex (:func:`code_names`); everything a reader sees
elsewhere goes through :func:`parameter_label` and :func:`stratum_label`.
"""

from __future__ import annotations

import re

__all__ = [
    "PARAMETERS",
    "humanise",
    "stratum_label",
    "strata_labels",
    "label_of",
    "parameter_label",
    "relabel",
    "code_names",
]

#: Each model parameter's display name: its symbol (the appendix's glossary), what it is
#: and its unit.
PARAMETERS = {
    "mu_0": "μ₀, mean of the stratum log-means (log Mg/ha)",
    "sigma_stratum": "σ_stratum, SD between strata (log)",
    "mu_stratum": "μ_s, log-mean AGB (log Mg/ha)",
    "tau": "τ_s, SD between plots (log)",
    "carbon_fraction": "CF, carbon fraction",
    "root_shoot": "R, root:shoot ratio",
    "carbon_tco2e_ha": "C_s, carbon density (tCO₂e/ha)",
    "agb_mg_ha": "AGB_s, above-ground biomass (Mg/ha)",
    "a": "a, log-hazard intercept",
    "b": "b, trend of the log hazard (per year)",
    "c": "c, highway-paving effect (log hazard)",
    "sigma": "σ, process-noise SD (log hazard)",
    "phi": "φ, AR(1) coefficient of the process noise",
    "effectiveness": "e, project effectiveness",
    "post_conversion_tco2e_ha": "C_post, carbon after conversion (tCO₂e/ha)",
    "jurisdiction_loss_ha": "J, jurisdiction loss (ha/yr)",
    "risk_share": "s, project risk share",
    "displacement": "λ, leakage displacement",
    "belt_baseline_z": "z_κ, belt counterfactual error (log κ in its prior SDs)",
}


def humanise(code: str) -> str:
    """``stable_forest`` → ``Stable forest``: a code name with no display name of its own."""
    text = code.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def stratum_label(stratum) -> str:
    """A project stratum's display name: its ``label``, else its name humanised."""
    return stratum.label or humanise(stratum.name)


def strata_labels(cfg) -> dict[str, str]:
    """Code name → display name of each project stratum of a run's configuration."""
    return {s.name: stratum_label(s) for s in cfg.project.strata}


def label_of(code: str, strata: dict[str, str] | None) -> str:
    """A stratum's display name from :func:`strata_labels`, or its code name humanised."""
    return (strata or {}).get(code, humanise(code))


def parameter_label(name: str, strata: dict[str, str] | None = None) -> str:
    """Display name of a parameter as ArviZ names it (``tau[bamboo]``, ``a``).

    ``strata`` maps a stratum's code name to its display name (:func:`stratum_label`);
    an index that is not a stratum is humanised. A parameter without a display name
    keeps its code name, so nothing is hidden.
    """
    base, _, index = name.partition("[")
    label = PARAMETERS.get(base, name if not index else base)
    if index:
        key = index.rstrip("]")
        label += ", " + label_of(key, strata)
    return label


def relabel(text: str, strata: dict[str, str]) -> str:
    """``text`` with each stratum's code name (a whole token) replaced by its display name.

    For sentences built below the report (a height model's description, a sensitivity
    group's label): ``agb_<code>`` is that stratum's biomass density.
    """
    for code in sorted(strata, key=len, reverse=True):  # longest first: no partial overlap
        label = strata[code]
        text = re.sub(
            rf"(?<![A-Za-z0-9_])agb_{re.escape(code)}(?![A-Za-z0-9_])",
            f"biomass density of {label}",
            text,
        )
        text = re.sub(rf"(?<![A-Za-z0-9_]){re.escape(code)}(?![A-Za-z0-9_])", label, text)
    return text


def code_names(names: list[str], strata: dict[str, str] | None = None) -> list[dict]:
    """``{"label", "code"}`` for each name: the reproducibility annex's key to the tables."""
    return [{"label": parameter_label(n, strata), "code": n} for n in names]
