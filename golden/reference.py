"""The executable specification: RoIPool written as plain loops.

This follows the seed's loop (``for c, i, j: hstart = floor(...); ...;
Y = max over the bin``) with the Caffe2/torchvision details made explicit,
one scalar at a time, so that a reader can check it line by line against
the prose in ``golden/README.md``.  It is slow by design; :mod:`golden.fast`
is the implementation used by default, and the tests assert the two agree
bit for bit.  The inner loop runs over channels as a vector only so that the
property tests can afford it; every comparison is still the scalar rule.
"""

from __future__ import annotations

import math

import numpy as np

from .bins import scale_coordinates
from .dtypes import sentinel
from .validate import Problem

__all__ = ["roi_pool_reference", "bin_range"]


def _floor_ceil_scalar(p: int, extent: int, pooled: int, bin_mode: str) -> tuple[int, int]:
    """``(floor(p * extent / pooled), ceil((p + 1) * extent / pooled))`` in one mode."""
    if bin_mode == "exact":
        return (p * extent) // pooled, -((-(p + 1) * extent) // pooled)
    if bin_mode == "float16":
        # c10::Half: each operation in float32, the result rounded to half.
        h = lambda v: np.float32(np.float16(v))  # noqa: E731
        size = h(h(extent) / h(pooled))
        return math.floor(h(h(p) * size)), math.ceil(h(h(p + 1) * size))
    ft = {"float32": np.float32, "float64": np.float64}[bin_mode]
    size = ft(extent) / ft(pooled)
    return math.floor(ft(p) * size), math.ceil(ft(p + 1) * size)


def bin_range(p: int, origin: int, extent: int, pooled: int, limit: int, bin_mode: str) -> tuple[int, int]:
    """Clipped ``[start, end)`` of bin ``p`` along one axis."""
    start, end = _floor_ceil_scalar(p, extent, pooled, bin_mode)
    start = min(max(start + origin, 0), limit)
    end = min(max(end + origin, 0), limit)
    return start, end


def roi_pool_reference(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """RoIPool forward by the letter of the specification.

    Parameters
    ----------
    problem : Problem
        A validated call (see :func:`golden.validate.validate`).

    Returns
    -------
    out : ndarray, shape ``(K, C, PH, PW)``, the features' dtype
    argmax : ndarray of int64, same shape; ``h * W + w`` or -1
    """
    x = problem.features
    _, channels, height, width = x.shape
    ph_n, pw_n = problem.output_size
    k_n = problem.num_rois
    out = np.zeros((k_n, channels, ph_n, pw_n), dtype=x.dtype)
    argmax = np.full((k_n, channels, ph_n, pw_n), -1, dtype=np.int64)
    start_value = sentinel(x.dtype)
    coords = scale_coordinates(problem.boxes, problem.spatial_scale, problem.bin_mode)

    for k in range(k_n):
        b = int(problem.batch[k])
        x1, y1, x2, y2 = (int(v) for v in coords[k])
        roi_w = max(x2 - x1 + 1, 1)  # malformed RoIs are forced to 1x1
        roi_h = max(y2 - y1 + 1, 1)
        plane = x[b]  # (C, H, W)
        for ph in range(ph_n):
            hstart, hend = bin_range(ph, y1, roi_h, ph_n, height, problem.bin_mode)
            for pw in range(pw_n):
                wstart, wend = bin_range(pw, x1, roi_w, pw_n, width, problem.bin_mode)
                if hend <= hstart or wend <= wstart:
                    continue  # empty bin: 0 with argmax -1 (already there)
                if start_value is None:
                    # Integer data: the first element initialises the max.
                    maxval = plane[:, hstart, wstart].copy()
                    maxidx = np.full(channels, hstart * width + wstart, dtype=np.int64)
                else:
                    maxval = np.full(channels, start_value, dtype=x.dtype)
                    maxidx = np.full(channels, -1, dtype=np.int64)
                for h in range(hstart, hend):
                    for w in range(wstart, wend):
                        v = plane[:, h, w]
                        # Strict '>': ties keep the first element in raster
                        # order, and a NaN compares false so it never wins.
                        with np.errstate(invalid="ignore"):
                            better = v > maxval
                        maxval = np.where(better, v, maxval)
                        maxidx = np.where(better, h * width + w, maxidx)
                out[k, :, ph, pw] = maxval
                argmax[k, :, ph, pw] = maxidx
    return out, argmax
