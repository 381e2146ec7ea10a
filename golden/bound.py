"""The bandwidth bound: the engine's physical limit, in cycles.

An engine with ``lanes`` lanes moves ``lanes`` elements per cycle through
its memory read port and ``lanes`` per cycle through its output port.  For
one RoI, with ``A`` the area of the RoI rectangle clipped to the image
(0 if it lies outside) and ``C`` channels::

    bound(RoI) = max(ceil(A * C / lanes), ceil(PH * PW * C / lanes))

and a workload's bound is the sum over its RoIs.  Efficiency is engine
cycles (first descriptor accepted to last output beat) divided by the
bound.  Adjacent bins share a boundary row or column, so an engine that
reads each bin's rectangle separately reads those cells two to four times
and cannot approach the bound; it must read each cell once and update
every bin the cell belongs to.
"""

from __future__ import annotations

import numpy as np

from .bins import BinEdges

__all__ = ["bandwidth_bound"]


def bandwidth_bound(edges: BinEdges, channels: int, lanes: int) -> np.ndarray:
    """Per-RoI bound in cycles, ``(K,)`` int64; sum it for a workload.

    Parameters
    ----------
    edges : BinEdges
        The RoIs' geometry (from :func:`golden.bin_edges`).
    channels : int
        C.
    lanes : int
        Elements per cycle through each port.
    """
    if lanes < 1 or channels < 1:
        raise ValueError(f"lanes and channels must be >= 1, got {lanes} and {channels}")
    pooled = edges.hstart.shape[1] * edges.wstart.shape[1]
    read = -(-(edges.roi_area * channels) // lanes)
    write = -(-(pooled * channels) // lanes)
    return np.maximum(read, write)
