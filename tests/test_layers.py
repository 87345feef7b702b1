"""The layers import only downward (docs/architecture.md).

Each layer's modules are imported in a fresh interpreter, and the modules it
loaded are compared with the layers above it: an import that points upward (the
models importing the engine, the schema importing numba, …) fails here.
"""

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import models
import simulator

REPO = Path(__file__).resolve().parents[1]

#: Layers from the bottom up: a module may import its own layer and those before it.
LAYERS = [
    ("foundation", ["simulator.errors", "simulator.files", "models.settings"]),
    ("config", ["simulator.config"]),
    ("formulas", ["models.allometry", "models.map_accuracy"]),
    ("data", ["simulator.data"]),
    ("models", ["models"]),
    ("engine", ["simulator.engine"]),
    ("inference", ["simulator.inference"]),
    ("accounting", ["simulator.accounting"]),
    ("analysis", ["simulator.analysis"]),
    ("report", ["simulator.report"]),
    ("orchestration", ["simulator.orchestration"]),
    ("cli", ["simulator.cli"]),
]

#: Heavy libraries a layer must not load, whatever the layers above it do.
FORBIDDEN = {
    "foundation": ["numpy", "numba", "xarray", "pymc", "pytensor", "scipy", "matplotlib"],
    "config": ["numba", "xarray", "pymc", "pytensor", "scipy", "matplotlib", "typst"],
    "formulas": ["numba", "xarray", "pymc", "pytensor", "matplotlib"],
    "data": ["numba", "xarray", "pymc", "pytensor", "matplotlib", "scipy.stats"],
    "engine": ["xarray", "pymc", "pytensor", "matplotlib"],
}


def _modules(prefix: str) -> list[str]:
    """``prefix`` and every module under it (a package), or just ``prefix`` (a module)."""
    package = {"simulator": simulator, "models": models}[prefix.split(".")[0]]
    names = [prefix]
    root = Path(package.__file__).parent / Path(*prefix.split(".")[1:])
    if root.is_dir():
        sub = prefix if prefix != package.__name__ else package.__name__
        names += [
            f"{sub}.{m.name}"
            for m in pkgutil.walk_packages([str(root)])
            if not m.name.startswith("_") and "templates" not in m.name
        ]
    if prefix == "models":  # the models layer is the PyMC modules; the rest are below
        lower = {n for _, ns in LAYERS[:3] for n in ns}
        names = [n for n in names if n not in lower]
    return names


def _layer_of(module: str) -> int | None:
    if module in ("simulator", "models"):  # the top-level packages are lazy: no layer
        return None
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if module == p or module.startswith(p + "."):
                if best is None or len(p) > best[1]:
                    best = (i, len(p))
    return best[0] if best else None


def _loaded_after_import(names: list[str]) -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for n in {names!r}:\n"
        "    importlib.import_module(n)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("index", "layer"), list(enumerate(name for name, _ in LAYERS)))
def test_a_layer_imports_no_layer_above_it(index, layer):
    names = [m for p in LAYERS[index][1] for m in _modules(p)]
    loaded = _loaded_after_import(names)
    above = sorted(
        m
        for m in loaded
        if (m.startswith("simulator") or m.startswith("models"))
        and (lvl := _layer_of(m)) is not None
        and lvl > index
    )
    assert above == [], f"{layer} imports a higher layer: {above}"
    heavy = [lib for lib in FORBIDDEN.get(layer, []) if lib in loaded]
    assert heavy == [], f"{layer} loads {heavy}"


def test_models_never_import_simulator():
    names = [n for p in ("models",) for n in _modules(p)] + ["models.settings", "models.allometry"]
    loaded = _loaded_after_import(names)
    assert [m for m in loaded if m == "simulator" or m.startswith("simulator.")] == []


def test_every_module_has_a_layer():
    every = [
        m.name
        for pkg in (simulator, models)
        for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")
        if ".templates" not in m.name and not m.name.endswith("__main__")
    ]
    # the benchmark entry point stands beside the layers: it drives the engine from outside
    orphans = [m for m in every if _layer_of(m) is None and m != "simulator.bench"]
    assert orphans == []
