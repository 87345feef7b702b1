"""The appendix figures' look, applied per figure (never to the caller's matplotlib).

Importing the report must not change a notebook's backend or rcParams: every
figure function is wrapped by :func:`styled`, which draws it inside
``matplotlib.rc_context`` with :data:`STYLE`, and :func:`save` writes and closes it.
Without a display, matplotlib picks its non-interactive Agg backend by itself.
"""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

__all__ = ["STYLE", "styled", "save"]

#: rcParams of every appendix figure.
STYLE = {"figure.dpi": 150, "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}


def styled(fn):
    """Draw (and save) the figure of ``fn`` with :data:`STYLE`, leaving global rcParams alone."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def save(fig, path: Path) -> None:
    """Lay out, write and close a figure."""
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
