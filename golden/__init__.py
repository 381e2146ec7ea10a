"""NumPy golden model of RoIPool: the specification every backend must match.

Public API
----------
roi_pool(features, rois, output_size, spatial_scale=1.0, *, bin_mode="float32")
    Forward pass, returns ``(out, argmax)``.
roi_pool_backward(grad_out, argmax, input_shape, batch)
    Deterministic backward.
bin_edges(rois, output_size, spatial_scale, height, width, *, bin_mode="float32")
    The clipped bin edges the semantics define (what the hardware driver
    sends in explicit-edge mode).
validate(...)
    The validation layer shared by every backend.
torchvision_bin_mode(dtype)
    The bin mode torchvision's kernel uses for a data type.
"""

from __future__ import annotations

import numpy as np

from .backward import roi_pool_backward, validate_backward
from .bound import bandwidth_bound
from .bins import BIN_MODES, BinEdges, bin_edges_from_coords, c_round, scale_coordinates
from .dtypes import FLT_MAX, SUPPORTED_DTYPES, canonical_dtype, dtype_name, sentinel
from .fast import bin_edges_of, roi_pool_fast
from .reference import roi_pool_reference
from .validate import Problem, validate, validate_output_size, validate_rois

__all__ = [
    "BIN_MODES",
    "BinEdges",
    "FLT_MAX",
    "Problem",
    "SUPPORTED_DTYPES",
    "bandwidth_bound",
    "bin_edges",
    "c_round",
    "canonical_dtype",
    "dtype_name",
    "roi_pool",
    "roi_pool_backward",
    "scale_coordinates",
    "sentinel",
    "torchvision_bin_mode",
    "validate",
    "validate_backward",
]

_IMPLEMENTATIONS = {"fast": roi_pool_fast, "reference": roi_pool_reference}


def roi_pool(features, rois, output_size, spatial_scale=1.0, *, bin_mode="float32", impl="fast"):
    """RoIPool forward (Fast R-CNN / Caffe2 / torchvision semantics).

    Parameters
    ----------
    features : ndarray, shape ``(N, C, H, W)``
        float32, float64, float16, bfloat16 (``ml_dtypes``), int8, int16 or
        int32.
    rois : ndarray ``(K, 5)`` or list of ``(Ki, 4)`` arrays
        ``[batch, x1, y1, x2, y2]`` rows in input-image coordinates, or one
        box array per image.
    output_size : int or (int, int)
        ``(PH, PW)``.
    spatial_scale : float
        Image-to-feature-map scale, e.g. 1/16.
    bin_mode : {"float32", "exact", "float64", "float16"}
        How bin edges are computed (see :data:`golden.bins.BIN_MODES`).
    impl : {"fast", "reference"}
        The vectorised implementation or the loop-by-loop specification.

    Returns
    -------
    out : ndarray ``(K, C, PH, PW)`` in the features' dtype
    argmax : ndarray of int64, same shape: ``h * W + w`` in the RoI's
        ``(b, c)`` plane, or -1 for an empty bin or one where nothing beat
        the sentinel.
    """
    if impl not in _IMPLEMENTATIONS:
        raise ValueError(f"impl must be one of {sorted(_IMPLEMENTATIONS)}, got {impl!r}")
    problem = validate(features, rois, output_size, spatial_scale, bin_mode)
    return _IMPLEMENTATIONS[impl](problem)


def bin_edges(rois, output_size, spatial_scale, height, width, *, bin_mode="float32") -> BinEdges:
    """Clipped bin edges of every RoI (rows ``[hstart, hend)``, cols ``[wstart, wend)``)."""
    batch, boxes = validate_rois(rois)
    pair = validate_output_size(output_size)
    if bin_mode not in BIN_MODES:
        raise ValueError(f"bin_mode must be one of {BIN_MODES}, got {bin_mode!r}")
    coords = scale_coordinates(boxes, float(spatial_scale), bin_mode)
    return bin_edges_from_coords(batch, coords, pair, int(height), int(width), bin_mode)


def torchvision_bin_mode(dtype) -> str:
    """The bin mode torchvision's ``roi_pool`` kernel uses for a data type.

    torchvision computes ``bin_size`` and the bin edges in the tensor's own
    type: float32 -> ``"float32"``, float64 -> ``"float64"``, float16 (its
    CUDA kernel) -> ``"float16"``.  It has no kernel for bfloat16 or integer
    data, so those raise ``ValueError``.
    """
    name = dtype_name(dtype)
    if name not in ("float32", "float64", "float16"):
        raise ValueError(f"torchvision's roi_pool has no kernel for {name}; choose a bin_mode explicitly")
    return name
