"""Shared fixtures: seeded generators, the Los Amigos run and small copies of it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from simulator.engine.kernels import KernelInputs

# No per-example deadline: the first example of a numba property test includes its
# compilation on a cold cache. CI replays the same examples every run (no flaky
# failures); locally hypothesis explores.
settings.register_profile("local", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("local")
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]
LOS_AMIGOS = REPO / "runs" / "los-amigos"


@pytest.fixture(scope="session", autouse=True)
def posterior_cache(tmp_path_factory) -> Path:
    """One posterior cache for the session (``REDDSIM_CACHE``), shared by every run.

    The suite's many end-to-end runs fit the same small models; with one cache they
    sample each key once. Set in ``os.environ`` so that ``reddsim`` subprocesses and
    Dask workers inherit it; tests of the cache itself point it elsewhere or turn it off.
    """
    from simulator.inference.cache import CACHE_ENV

    root = tmp_path_factory.mktemp("posterior-cache")
    saved = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(root)
    yield root
    if saved is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = saved


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)


def copy_run(dest: Path, replace: dict[str, str] | None = None) -> Path:
    """Copy the Los Amigos run (config + data, no outputs) to ``dest``, editing run.toml."""
    shutil.copytree(LOS_AMIGOS, dest, ignore=shutil.ignore_patterns("out", "*.md", "*.py"))
    toml = dest / "run.toml"
    text = toml.read_text()
    for old, new in (replace or {}).items():
        assert old in text, f"{old!r} not in run.toml"
        text = text.replace(old, new)
    toml.write_text(text)
    return dest


#: Short chains for end-to-end tests; the convergence gate is exercised separately.
SMALL_SAMPLER = {
    "draws = 2000": "draws = 300",
    "tune = 1000": "tune = 300\nallow_failed_diagnostics = true",
    "chains = 4": "chains = 2",
    "n_draws = 1000000": "n_draws = 4000",
    "chunk_size = 131072": "chunk_size = 1500",
    "n_monte_carlo = 1000": "n_monte_carlo = 100",
    "compare_noise = true": "compare_noise = false",
}


#: Edit of run.toml that reads the loss series from data/deforestation.csv instead of the map.
SERIES_INPUT = {
    'map_areas = "data/map_areas.csv"\naccuracy_sample = "data/accuracy_sample.csv"': (
        'deforestation = "data/deforestation.csv"'
    )
}


@pytest.fixture
def small_run(tmp_path: Path) -> Path:
    """A copy of the Los Amigos run with short chains and few draws."""
    return copy_run(tmp_path / "small", SMALL_SAMPLER)


@pytest.fixture(scope="session")
def session_small_run(tmp_path_factory) -> Path:
    return copy_run(tmp_path_factory.mktemp("run") / "small", SMALL_SAMPLER)


def make_inputs(
    gen: np.random.Generator, n_post: int = 300, n_years: int = 10, n_strata: int = 4
) -> KernelInputs:
    """Random but plausible kernel inputs (Los Amigos magnitudes)."""
    area = gen.uniform(5_000, 90_000, n_strata)
    risk = gen.uniform(0.3, 1.5, n_strata)
    return KernelInputs(
        carbon_density=gen.normal(700, 60, (n_post + 7, n_strata)),
        log_rate_mean=np.log(0.0025) + gen.normal(0, 0.1, (n_post, n_years)),
        rate_sigma=gen.uniform(0.02, 0.2, n_post),
        effectiveness=gen.uniform(0.5, 0.95, n_post),
        post_carbon=gen.uniform(5, 30, n_post),
        leakage_fraction=gen.uniform(0.0, 0.25, n_post + 3),
        area=area,
        risk=risk * area.sum() / (risk * area).sum(),
    )


@pytest.fixture
def kernel_inputs(rng) -> KernelInputs:
    return make_inputs(rng)


@pytest.fixture(scope="session")
def calibration_study():
    """The calibration study (SBC + whole-chain coverage), run once for every slow test."""
    from benchmarks.calibration import TEST_REPLICATIONS, run_study

    return run_study(TEST_REPLICATIONS)


def fake_manifest(
    run_id: str = "20260101T000000Z-aaaa",
    created: str = "2026-01-01T00:00:00+00:00",
    *,
    sampler_passed: bool = True,
    mc_passed: bool = True,
    override: bool = False,
    config: dict | None = None,
) -> dict:
    """A ``manifest.json`` with every key the pipeline writes (values are stand-ins)."""
    diagnostics = [
        {
            "model": m,
            "max_r_hat": 1.0,
            "min_ess_bulk": 900.0,
            "min_ess_tail": 900.0,
            "divergences": 0,
            "n_samples": 4000,
            "passed": ok,
        }
        for m, ok in (("biomass", True), ("leakage", sampler_passed))
    ]
    return {
        "run_id": run_id,
        "created_utc": created,
        "config_path": "run.toml",
        "config_sha256": "0" * 64,
        "config": config or {"project": {"name": "P"}, "accounting": {"standard": "VM0007-1.6"}},
        "data_sha256": {},
        "seed": 7,
        "n_draws": 4000,
        "rng": "counter",
        "summaries": "streamed",
        "numba_threads": 2,
        "versions": {"reddsim": "0.1.0"},
        "git_commit": None,
        "diagnostics": diagnostics,
        "diagnostics_override": override,
        "gates": {
            "passed": sampler_passed and mc_passed,
            "sampler_passed": sampler_passed,
            "monte_carlo": {
                "n_draws": 4000,
                "mean": 1.0,
                "mcse_low": 1e-4,
                "mcse_high": 1e-4,
                "limit": 0.001,
                "relative_low": 1e-4,
                "relative_high": 1e-4,
                "passed": mc_passed,
                "required_draws": 4000,
            },
            "override": "--allow-unconverged" if override else None,
        },
        "timings_s": {},
    }


def pdf_pages(path: Path) -> list[str]:
    """The text of each page of a PDF, as pypdf extracts it (formulas linearised)."""
    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(path).pages]


#: A number as the appendix prints it: thousands separators, optional decimals and sign.
NUMBER = r"−?[\d,]+(?:\.\d+)?"
