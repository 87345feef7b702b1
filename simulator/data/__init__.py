"""A run's input data: CSV tables read and checked, and importers from other tools.

* :mod:`simulator.data.tables` — the CSV schemas and the checked reader;
* :mod:`simulator.data.load` — a run's data cross-checked against its configuration;
* :mod:`simulator.data.mocaredd` — a FAO mocaredd workbook into a run directory.

Importing this package loads no numba, xarray or PyMC.
"""

from simulator.data.load import RunData, load_data
from simulator.data.tables import POOLS, SCHEMAS, STOCK_UNITS, Column, read_table

__all__ = ["POOLS", "SCHEMAS", "STOCK_UNITS", "Column", "RunData", "load_data", "read_table"]
