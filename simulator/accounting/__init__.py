"""From simulated emissions to credits: the standards' rules and their application.

* :mod:`simulator.accounting.standards` — each standard's uncertainty and buffer rule,
  one pure function per rule, citing its clause; the registry :data:`STANDARDS`;
* :mod:`simulator.accounting.ledger` — NER, deduction, buffer and credits per period,
  under one standard or all side by side;
* :mod:`simulator.accounting.ipcc` — IPCC Approach 1 beside the Monte Carlo.
"""

from simulator.accounting.ipcc import ipcc_comparison
from simulator.accounting.ledger import (
    SIDE_BY_SIDE,
    Accounts,
    account,
    account_all,
    compare_standards,
    interval_summary,
    net_emission_reductions,
)

__all__ = [
    "SIDE_BY_SIDE",
    "Accounts",
    "account",
    "account_all",
    "compare_standards",
    "interval_summary",
    "ipcc_comparison",
    "net_emission_reductions",
]
