"""The run's report: tables, figures and the uncertainty appendix (typst PDF).

* :mod:`simulator.report.tables` — CSV and NetCDF outputs, and the datasets behind them;
* :mod:`simulator.report.figures` — the figures, one module per topic;
* :mod:`simulator.report.format` — how each kind of number is printed;
* :mod:`simulator.report.appendix` — the appendix's data contract (``appendix.json``);
* :mod:`simulator.report.pdf` — compiling and rebuilding ``appendix.pdf``;
* :mod:`simulator.report.writer` — everything a run writes, in order.
"""

from simulator.report.pdf import compile_appendix, rebuild_appendix
from simulator.report.writer import FIGURES, SENSITIVITY_FIGURES, write_outputs, write_sensitivity

__all__ = [
    "FIGURES",
    "SENSITIVITY_FIGURES",
    "compile_appendix",
    "rebuild_appendix",
    "write_outputs",
    "write_sensitivity",
]
