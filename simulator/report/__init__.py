"""The run's report: tables, figures and the uncertainty appendix (typst PDF).

* :mod:`simulator.report.tables` — CSV and NetCDF outputs, and the datasets behind them;
* :mod:`simulator.report.figures` — the figures, one module per topic;
* :mod:`simulator.report.format` — how each kind of number is printed;
* :mod:`simulator.report.appendix` — the appendix's data contract (``appendix.json``);
* :mod:`simulator.report.pdf` — compiling and rebuilding ``appendix.pdf``;
* :mod:`simulator.report.writer` — everything a run writes, in order.

Each public name below is imported on first use, so a figure module can run on its
own (``python -m simulator.report.figures.sampling``) without loading the engine.
"""

import importlib

#: Public name -> the module that defines it.
_HOMES = {
    "FIGURES": "writer",
    "SENSITIVITY_FIGURES": "writer",
    "compile_appendix": "pdf",
    "rebuild_appendix": "pdf",
    "write_outputs": "writer",
    "write_sensitivity": "writer",
}

__all__ = [
    "FIGURES",
    "SENSITIVITY_FIGURES",
    "compile_appendix",
    "rebuild_appendix",
    "write_outputs",
    "write_sensitivity",
]


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"simulator.report.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'simulator.report' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
