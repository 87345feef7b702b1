"""Posteriors reused across runs whose models see the same inputs: a content-addressed cache.

Sampling the three models (and the inventory's tree-level Monte Carlo that the
biomass model is fitted to) is most of a run's time, and it depends on far less
than the whole configuration: runs that differ only in their simulation,
accounting, crediting, sensitivity or report settings fit the same models to the
same data with the same seeds and get bit-identical posteriors. The cache keeps
them under a key that is the SHA-256 of a canonical JSON (:func:`key_content`) of
everything the posteriors depend on:

* the strata names the models see (``[project] strata``, names only);
* the model sections as validated: ``[biomass]`` (the priors, and the settings of
  the tree Monte Carlo: ``n_monte_carlo``, wood-density and height errors, the H-D
  model, the site bias), ``[deforestation]`` (but ``compare_noise``, a report stage),
  ``[leakage]``, and the ``[sampler]``
  settings that change draws (``chains``, ``draws``, ``tune``, ``target_accept``;
  not ``allow_failed_diagnostics``, which only decides what the gate does);
* the SHA-256 of every ``[data]`` file by name (each feeds a model: the inventory or
  the carbon stocks the biomass model, the loss series or the map and its accuracy
  sample and the project's monitoring the rate model, the belt the leakage model);
* the run seed (the tree Monte Carlo's) and each model's sampler seed
  (:func:`simulator.inference.fit.model_seed`);
* the versions of reddsim, PyMC, PyTensor, nutpie and NumPy, the SHA-256 of the
  code that builds the posteriors (:data:`CODE_PACKAGES`: the models, the data
  readers, this layer), and :data:`CACHE_FORMAT`.

An entry is a directory ``<root>/posteriors/<key>/`` holding one NetCDF file per
model's posterior DataTree, the tree Monte Carlo's draws (``plots.npz``, for an
inventory run) and ``entry.json`` recording the key, the key's content and the
SHA-256 of each file; it is written beside its final name and renamed into place
(:func:`simulator.files.install_directory`). A hit is verified before it is used:
an entry whose recorded key is not its directory's (stale) or a file whose SHA-256
is not the recorded one (corrupt or edited) is refused with a warning, and the
caller samples afresh and replaces the entry. A cache directory that cannot be
created or written never fails a run: the run warns and goes on without it.

An entry may hold one part alone, under the key of its content with ``"part"``
added: the noise comparison's fit of the rate model with the other noise form
(:func:`simulator.inference.fit.fit_rate_variant`, :meth:`PosteriorCache.load_trees`;
the content of the run with that form, ``"part": "deforestation"``) and the biomass
error budget computed from the run's posteriors
(:func:`simulator.inference.fit.cached_error_budget`,
:meth:`PosteriorCache.load_arrays`; ``"part": "error_budget"``), and the posterior
predictive replicates of the biomass and leakage checks
(:func:`simulator.inference.fit.cached_replicates`; ``"part": "replicates"``), and
the prior-sensitivity table, whose content adds the whole configuration and the code
that simulates and accounts it
(:func:`simulator.analysis.prior_sensitivity.cached_prior_sensitivity`).

Where: ``REDDSIM_CACHE`` (a directory), else ``$XDG_CACHE_HOME/reddsim``, else
``~/.cache/reddsim``; ``REDDSIM_CACHE=off`` disables it (:func:`cache_root`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import xarray as xr

from simulator.config import RunSpec
from simulator.data import RunData
from simulator.files import install_directory, write_bytes, write_text

__all__ = [
    "CACHE_FORMAT",
    "CACHE_ENV",
    "CODE_PACKAGES",
    "KEY_PACKAGES",
    "CacheRecord",
    "CachedFit",
    "PosteriorCache",
    "cache_root",
    "code_sha256",
    "key_content",
    "posterior_key",
]

log = logging.getLogger(__name__)

#: Version of the entry layout; part of every key, so a new layout never reads an old entry.
CACHE_FORMAT = 1
#: The environment variable naming the cache directory (``off``: no cache).
CACHE_ENV = "REDDSIM_CACHE"
#: Packages whose versions are part of the key (they draw or shape the posteriors).
KEY_PACKAGES = ("reddsim", "pymc", "pytensor", "nutpie", "numpy")
#: Source trees whose content is part of the key: the models, the data readers and the
#: inference layer (a changed model or reader invalidates every entry, released or not).
CODE_PACKAGES = ("models", "simulator/data", "simulator/inference")
ENTRY_NAME = "entry.json"
PLOTS_NAME = "plots.npz"
#: The arrays of :class:`~simulator.inference.inventory.PlotBiomass` that are kept
#: (the inventory and the height models are rebuilt: cheap and deterministic).
PLOT_ARRAYS = ("draws", "independent", "shared")


def cache_root(environ: Mapping[str, str] | None = None) -> Path | None:
    """The cache directory: ``REDDSIM_CACHE``, ``$XDG_CACHE_HOME/reddsim`` or ``~/.cache/reddsim``.

    ``None`` when ``REDDSIM_CACHE`` is ``off`` (any case).
    """
    environ = os.environ if environ is None else environ
    value = environ.get(CACHE_ENV, "").strip()
    if value.lower() == "off":
        return None
    if value:
        return Path(value).expanduser()
    base = environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "reddsim"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


@functools.cache
def code_sha256(packages: tuple[str, ...] = CODE_PACKAGES) -> str:
    """SHA-256 over the files of ``packages`` (relative path and bytes, sorted).

    By default :data:`CODE_PACKAGES`, the code that builds the posteriors; a part
    computed by more code (:func:`simulator.analysis.prior_sensitivity.cached_prior_sensitivity`)
    adds the hash of its own packages to its content.
    """
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for package in packages:
        for path in sorted((root / package).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            h.update(path.relative_to(root).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def key_content(spec: RunSpec, data: RunData) -> dict:
    """Everything the posteriors of a run depend on (see the module docstring), as JSON data."""
    from simulator.inference.fit import MODELS, model_seed

    cfg = spec.config
    seed = cfg.simulation.seed
    return {
        "format": CACHE_FORMAT,
        "strata": [s.name for s in cfg.project.strata],
        "biomass": cfg.biomass.model_dump(mode="json"),
        # compare_noise only adds a report stage (the run's fit keeps `noise`)
        "deforestation": cfg.deforestation.model_dump(mode="json", exclude={"compare_noise"}),
        "leakage": cfg.leakage.model_dump(mode="json"),
        "sampler": cfg.sampler.model_dump(mode="json", exclude={"allow_failed_diagnostics"}),
        # the provenance file documents the run; the models never read it
        "data_sha256": {k: v for k, v in sorted(data.sha256.items()) if k != "provenance"},
        "seed": seed,
        "model_seeds": {m: model_seed(seed, m) for m in MODELS},
        "versions": {name: _version(name) for name in KEY_PACKAGES},
        "code_sha256": code_sha256(),
    }


def _canonical(content: dict) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def posterior_key(spec: RunSpec, data: RunData) -> str:
    """The cache key of a run's posteriors: SHA-256 of the canonical JSON of :func:`key_content`."""
    return content_key(key_content(spec, data))


def content_key(content: dict) -> str:
    """The cache key of an entry's content: the SHA-256 of its canonical JSON."""
    return hashlib.sha256(_canonical(content)).hexdigest()


@dataclass(frozen=True)
class CacheRecord:
    """What the manifest records of the posterior cache (``posterior_cache``).

    ``sha256`` is the SHA-256 of each file of the entry the posteriors were read from
    (a hit) or written to (a miss); empty when nothing was stored (no cache, or the
    cache could not be written).
    """

    key: str
    hit: bool
    enabled: bool
    sha256: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"key": self.key, "hit": self.hit, "enabled": self.enabled, "sha256": self.sha256}


@dataclass(frozen=True)
class CachedFit:
    """An entry read back: each model's posterior DataTree and the tree Monte Carlo's arrays."""

    trees: dict[str, xr.DataTree]
    plot_arrays: dict[str, np.ndarray] | None
    sha256: dict[str, str]


def _models() -> tuple[str, ...]:
    from simulator.inference.fit import MODELS  # fit imports this module

    return MODELS


def _refused(where: Path, why: str) -> None:
    log.warning("posterior cache: %s %s; sampling afresh (the entry is replaced)", where, why)


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _tree_bytes(tree: xr.DataTree) -> bytes:
    with tempfile.TemporaryDirectory(prefix="reddsim-posterior-") as tmp:
        path = Path(tmp) / "tree.nc"
        tree.to_netcdf(path, engine="h5netcdf")
        return path.read_bytes()


def _read_tree(content: bytes) -> xr.DataTree:
    with xr.open_datatree(io.BytesIO(content), engine="h5netcdf") as tree:
        return tree.load().copy()


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _read_npz(content: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(content), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


class PosteriorCache:
    """Entries of posteriors under ``root/posteriors/<key>/`` (see the module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.entries = self.root / "posteriors"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> PosteriorCache | None:
        """The cache at :func:`cache_root`, or ``None`` when disabled."""
        root = cache_root(environ)
        return None if root is None else cls(root)

    def _files(self, with_plots: bool) -> set[str]:
        return {f"{m}.nc" for m in _models()} | ({PLOTS_NAME} if with_plots else set())

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold an exclusive lock on ``key`` (processes on one machine sample a key once).

        Without a writable cache or file locks (``fcntl``), the block runs unlocked.
        """
        try:
            import fcntl

            self.entries.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.entries / f".{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except (ImportError, OSError):
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def load(self, key: str, with_plots: bool) -> CachedFit | None:
        """The verified entry of ``key``; ``None`` for a miss or a refused entry (warned)."""
        arrays = (PLOTS_NAME, PLOT_ARRAYS) if with_plots else None
        return self._load(key, self._files(with_plots), arrays)

    def load_trees(self, key: str, models: tuple[str, ...]) -> CachedFit | None:
        """The verified entry of ``key`` holding only the posteriors of ``models``.

        Such an entry (:meth:`store` with those trees and no arrays) holds a fit of
        some models alone, e.g. the rate model with the other noise form.
        """
        return self._load(key, {f"{m}.nc" for m in models}, None)

    def load_arrays(self, key: str, name: str, keys: tuple[str, ...]) -> CachedFit | None:
        """The verified entry of ``key`` holding only the arrays ``keys`` in file ``name``.

        Such an entry (:meth:`store` with no trees and ``arrays_name=name``) holds a
        result computed from a run's posteriors, e.g. its biomass error budget; they
        are in ``plot_arrays`` of the result.
        """
        return self._load(key, {name}, (name, keys))

    def _load(self, key: str, files: set[str], arrays) -> CachedFit | None:
        where = self.entries / key
        try:
            raw = (where / ENTRY_NAME).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            return _refused(where, f"cannot be read ({err.strerror or type(err).__name__})")
        try:
            entry = json.loads(raw)
            recorded_key, hashes = entry["key"], entry["sha256"]
        except (ValueError, TypeError, KeyError):
            return _refused(where / ENTRY_NAME, "not a posterior cache entry")
        if recorded_key != key:
            return _refused(where, f"records key {str(recorded_key)[:16]}…, a stale entry")
        if not isinstance(hashes, dict) or set(hashes) != files:
            return _refused(where, "does not list the files of an entry")
        contents = {}
        for name, expected in sorted(hashes.items()):
            try:
                contents[name] = (where / name).read_bytes()
            except OSError as err:
                return _refused(where / name, f"cannot be read ({err.strerror})")
            if _sha256(contents[name]) != expected:
                return _refused(
                    where / name, "does not match its recorded SHA-256 (corrupt or edited)"
                )
        try:
            trees = {m: _read_tree(contents[f"{m}.nc"]) for m in _models() if f"{m}.nc" in files}
            plots = _read_npz(contents[arrays[0]]) if arrays is not None else None
        except (OSError, ValueError) as err:
            return _refused(where, f"cannot be parsed ({type(err).__name__})")
        if plots is not None and set(plots) != set(arrays[1]):
            return _refused(where / arrays[0], "lacks the arrays of an entry")
        log.info("posterior cache: reusing %s", where)
        return CachedFit(trees, plots, dict(hashes))

    def store(
        self,
        key: str,
        content: dict,
        trees: dict[str, xr.DataTree],
        plot_arrays: dict[str, np.ndarray] | None,
        arrays_name: str = PLOTS_NAME,
    ) -> dict[str, str]:
        """Write the entry of ``key`` (replacing any), atomically; the SHA-256 of its files.

        Call it holding :meth:`lock` of ``key``: a half-written entry of the key that a
        killed process left is removed first.

        ``plot_arrays`` go to the file ``arrays_name`` (by default the tree Monte
        Carlo's ``plots.npz``). A cache that cannot be written is warned about and
        skipped: ``{}``.
        """
        files = {f"{name}.nc": _tree_bytes(tree) for name, tree in trees.items()}
        if plot_arrays is not None:
            files[arrays_name] = _npz_bytes(plot_arrays)
        hashes = {name: _sha256(b) for name, b in sorted(files.items())}
        entry = {
            "format": CACHE_FORMAT,
            "key": key,
            "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "sha256": hashes,
            "content": content,
        }
        tmp = None
        prefix = f".incomplete-{key[:16]}-"
        try:
            self.entries.mkdir(parents=True, exist_ok=True)
            # what a killed writer of this key left (the caller holds the key's lock)
            for left in self.entries.glob(prefix + "*"):
                shutil.rmtree(left, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=self.entries))
            for name, b in files.items():
                write_bytes(tmp / name, b)
            write_text(tmp / ENTRY_NAME, json.dumps(entry, indent=2, sort_keys=True) + "\n")
            install_directory(tmp, self.entries / key, replace=True)
        except OSError as err:
            log.warning(
                "posterior cache: cannot write %s (%s); the run goes on without it",
                self.entries,
                err.strerror or type(err).__name__,
            )
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            return {}
        log.info("posterior cache: stored %s", self.entries / key)
        return hashes
