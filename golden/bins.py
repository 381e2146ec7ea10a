"""Coordinate rounding and bin edges: the integer geometry of RoIPool.

Everything a backend needs to know *where* each bin lies is computed here,
vectorised over RoIs.  The hardware driver sends these very edges to the
engine in its explicit-edge descriptor mode, so the host and the golden
model can never disagree about a bin.

Geometry, per RoI ``[b, x1, y1, x2, y2]`` (see ``golden/README``)::

    x1r = c_round(x1 * scale)          # product in the mode's float type
    roi_w = max(x2r - x1r + 1, 1)      # malformed RoIs become 1 wide
    wstart[pw] = floor(pw * roi_w / PW) + x1r, clipped to [0, W]
    wend[pw]   = ceil((pw + 1) * roi_w / PW) + x1r, clipped to [0, W]

and likewise for rows.  How ``floor(pw * roi_w / PW)`` is evaluated is the
*bin mode*; see :data:`BIN_MODES`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "BIN_MODES",
    "BinEdges",
    "c_round",
    "scale_coordinates",
    "bin_offsets",
    "bin_edges_from_coords",
]

#: Bin arithmetic modes.
#:
#: ``exact``
#:     Integer rational arithmetic, the seed formula; what hardware computes
#:     with an accumulator.
#: ``float32``
#:     ``floor(fl32(fl32(ph) * fl32(fl32(roi_h) / fl32(PH))))``: torchvision
#:     and Caffe2 with float32 inputs.  The default.
#: ``float64``
#:     The same formula in double precision (torchvision, float64 inputs).
#: ``float16``
#:     Every operation rounded to half (torchvision's CUDA kernel, half
#:     inputs).
BIN_MODES = ("exact", "float32", "float64", "float16")

# The float type in which each mode scales the RoI coordinates.  torchvision
# multiplies the RoI tensor (which must have the input's dtype) by the scale
# cast to that dtype; ``exact`` mode is the hardware's, whose host rounds
# in float32 exactly as the default mode does.
_COORD_TYPE = {
    "exact": np.float32,
    "float32": np.float32,
    "float64": np.float64,
    "float16": np.float16,
}


def c_round(x: np.ndarray) -> np.ndarray:
    """Round half away from zero, like C's ``round()``, returning int64.

    ``numpy.round`` and Python's ``round`` round half to *even*, which is the
    wrong rule here (2.5 must give 3 and -0.5 must give -1).  The fractional
    part ``|x| - trunc(|x|)`` is exact in binary floating point, so comparing
    it with 0.5 has no double-rounding hazard (``floor(x + 0.5)`` has one).
    """
    x = np.asarray(x)
    ax = np.abs(x)
    t = np.trunc(ax)
    r = t + (ax - t >= 0.5)
    return (np.sign(x) * r).astype(np.int64)


def scale_coordinates(coords: np.ndarray, spatial_scale: float, bin_mode: str) -> np.ndarray:
    """Scale image coordinates to the feature map and round them (C rule).

    Parameters
    ----------
    coords : ndarray
        ``(K, 4)`` array ``x1, y1, x2, y2`` in input-image coordinates.
    spatial_scale : float
        Feature-map stride reciprocal, e.g. 1/16.
    bin_mode : str
        Selects the float type of the product (float32 for ``exact`` and
        ``float32``, float64 for ``float64``, half for ``float16``).

    Returns
    -------
    ndarray of int64, shape ``(K, 4)``: ``x1r, y1r, x2r, y2r``.
    """
    ft = _COORD_TYPE[bin_mode]
    if ft is np.float16:
        # c10::Half multiplies in float32 and rounds the product to half;
        # the scale itself reaches the kernel as double -> float -> half.
        c16 = np.asarray(coords).astype(np.float16).astype(np.float32)
        s16 = np.float32(np.float16(np.float32(spatial_scale)))
        product = (c16 * s16).astype(np.float16)
    else:
        product = np.asarray(coords).astype(ft) * ft(spatial_scale)
    return c_round(product)


def _float_floor_ceil(extent: np.ndarray, pooled: int, ft) -> tuple[np.ndarray, np.ndarray]:
    """``floor(p * bin)`` and ``ceil((p+1) * bin)`` with ``bin = extent / pooled``.

    Evaluated exactly as a C compiler does for type ``ft``: the quotient and
    each product rounded once to ``ft``.  Half follows c10::Half, which
    computes in float32 and rounds each result to half.
    """
    p = np.arange(pooled + 1)
    if ft is np.float16:
        ext = extent.astype(np.float16).astype(np.float32)
        size = (ext / np.float32(np.float16(pooled))).astype(np.float16).astype(np.float32)
        pos = (p.astype(np.float16).astype(np.float32)[None, :] * size[:, None]).astype(np.float16)
        pos = pos.astype(np.float32)
    else:
        size = extent.astype(ft) / ft(pooled)
        pos = p.astype(ft)[None, :] * size[:, None]
    start = np.floor(pos[:, :-1]).astype(np.int64)
    end = np.ceil(pos[:, 1:]).astype(np.int64)
    return start, end


def bin_offsets(extent: np.ndarray, pooled: int, bin_mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Bin start/end offsets from the RoI origin, before clipping.

    Parameters
    ----------
    extent : ndarray of int, shape ``(K,)``
        RoI height (or width) in feature-map cells, already forced >= 1.
    pooled : int
        PH (or PW).
    bin_mode : str
        One of :data:`BIN_MODES`.

    Returns
    -------
    start, end : ndarray of int64, shape ``(K, pooled)``
    """
    extent = np.asarray(extent, dtype=np.int64)
    if bin_mode == "exact":
        p = np.arange(pooled, dtype=np.int64)
        start = (p[None, :] * extent[:, None]) // pooled
        end = -((-(p[None, :] + 1) * extent[:, None]) // pooled)
        return start, end
    if bin_mode == "float32":
        return _float_floor_ceil(extent, pooled, np.float32)
    if bin_mode == "float64":
        return _float_floor_ceil(extent, pooled, np.float64)
    if bin_mode == "float16":
        return _float_floor_ceil(extent, pooled, np.float16)
    raise ValueError(f"bin_mode must be one of {BIN_MODES}, got {bin_mode!r}")


@dataclass(frozen=True)
class BinEdges:
    """Clipped bin edges of K RoIs.

    Attributes
    ----------
    batch : ndarray of int64, shape ``(K,)``
        Image index of each RoI.
    coords : ndarray of int64, shape ``(K, 4)``
        Rounded feature-map coordinates ``x1r, y1r, x2r, y2r`` (unclipped).
    hstart, hend : ndarray of int64, shape ``(K, PH)``
        Row range ``[hstart, hend)`` of each bin, clipped to ``[0, H]``.
    wstart, wend : ndarray of int64, shape ``(K, PW)``
        Column range of each bin, clipped to ``[0, W]``.
    height, width : int
        H and W of the feature map the edges were clipped to.
    """

    batch: np.ndarray
    coords: np.ndarray
    hstart: np.ndarray
    hend: np.ndarray
    wstart: np.ndarray
    wend: np.ndarray
    height: int
    width: int

    @property
    def empty(self) -> np.ndarray:
        """``(K, PH, PW)`` bool: the bin covers no feature-map cell."""
        rows = self.hend <= self.hstart
        cols = self.wend <= self.wstart
        return rows[:, :, None] | cols[:, None, :]

    @property
    def roi_area(self) -> np.ndarray:
        """``(K,)`` area of each RoI rectangle after clipping to the image.

        The RoI spans ``roi_w x roi_h`` cells from ``(x1r, y1r)`` (a malformed
        RoI is 1x1).  This is the ``A`` of the bandwidth bound.  In float
        bin modes the last bin may reach one row or column past the RoI, so
        :attr:`clipped_area` can exceed it.
        """
        x1, y1, x2, y2 = self.coords.T
        rows = np.clip(y1 + np.maximum(y2 - y1 + 1, 1), 0, self.height) - np.clip(y1, 0, self.height)
        cols = np.clip(x1 + np.maximum(x2 - x1 + 1, 1), 0, self.width) - np.clip(x1, 0, self.width)
        return rows * cols

    @property
    def clipped_area(self) -> np.ndarray:
        """``(K,)`` number of cells of the clipped RoI that the bins cover.

        The bins tile the RoI without gaps, so this is the area of the
        union of all non-empty bins: the cells an engine must read once.
        """
        rows = _union_extent(self.hstart, self.hend)
        cols = _union_extent(self.wstart, self.wend)
        return rows * cols


def _union_extent(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    nonempty = end > start
    lo = np.where(nonempty, start, np.iinfo(np.int64).max).min(axis=1)
    hi = np.where(nonempty, end, np.iinfo(np.int64).min).max(axis=1)
    return np.where(nonempty.any(axis=1), hi - lo, 0)


def bin_edges_from_coords(
    batch: np.ndarray,
    coords: np.ndarray,
    output_size: tuple[int, int],
    height: int,
    width: int,
    bin_mode: str,
) -> BinEdges:
    """Clipped bin edges from rounded integer coordinates.

    This is the part of the geometry that the engine computes in hardware
    in ``exact`` mode; the host uses it to fill explicit-edge descriptors.
    """
    ph, pw = output_size
    coords = np.asarray(coords, dtype=np.int64)
    x1, y1, x2, y2 = coords.T
    roi_w = np.maximum(x2 - x1 + 1, 1)
    roi_h = np.maximum(y2 - y1 + 1, 1)
    hs, he = bin_offsets(roi_h, ph, bin_mode)
    ws, we = bin_offsets(roi_w, pw, bin_mode)
    return BinEdges(
        batch=np.asarray(batch, dtype=np.int64),
        coords=coords,
        hstart=np.clip(hs + y1[:, None], 0, height),
        hend=np.clip(he + y1[:, None], 0, height),
        wstart=np.clip(ws + x1[:, None], 0, width),
        wend=np.clip(we + x1[:, None], 0, width),
        height=int(height),
        width=int(width),
    )
