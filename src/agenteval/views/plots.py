"""Shared plotting helpers for the views: a matplotlib figure on the Agg canvas and its PNG data URI.

No pyplot and no global backend switch; matplotlib is imported only when a plot is drawn.
"""

from __future__ import annotations

import base64
import io
from typing import Any


def figure(w: float, h: float) -> Any:
    """A new matplotlib Figure of ``w`` × ``h`` inches."""
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h))


def png(fig: Any) -> str:
    """The figure as a ``data:image/png;base64,…`` URI (96 dpi, tight bounding box)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
