"""The one validation layer shared by every backend.

Every public entry point (the golden model, the simulators' driver, the
CUDA path) calls :func:`validate` before doing anything, so bad input gets
the same clear error everywhere and never reaches a kernel or the
hardware.  Coordinates outside the image are *legal*: the semantics clip
them.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .bins import BIN_MODES
from .dtypes import canonical_dtype

__all__ = ["Problem", "validate", "validate_output_size", "validate_rois", "MAX_COORD", "MAX_COORD_FLOAT16"]

#: Largest accepted ``|coordinate * spatial_scale|``.  Beyond 2**24 a float32
#: no longer holds every integer, and C's ``(int)round(x)`` would overflow
#: long before any detector produces such a box.
MAX_COORD = float(2**24)

#: The same bound in ``float16`` mode, where the scaled coordinate and the RoI
#: extent must stay finite in half precision (largest half: 65504).
MAX_COORD_FLOAT16 = float(2**14)


@dataclass(frozen=True)
class Problem:
    """A validated RoIPool call, in canonical form.

    Attributes
    ----------
    features : ndarray, shape ``(N, C, H, W)``
        In a supported dtype (see :mod:`golden.dtypes`).
    batch : ndarray of int64, shape ``(K,)``
    boxes : ndarray, shape ``(K, 4)``
        ``x1, y1, x2, y2`` in input-image coordinates, in the caller's
        floating type (float64 for integer input).
    output_size : tuple of int
        ``(PH, PW)``.
    spatial_scale : float
    bin_mode : str
    """

    features: np.ndarray
    batch: np.ndarray
    boxes: np.ndarray
    output_size: tuple
    spatial_scale: float
    bin_mode: str

    @property
    def num_rois(self) -> int:
        return int(self.batch.shape[0])


def validate_output_size(output_size) -> tuple:
    """Return ``(PH, PW)`` from an int or a pair; raise on anything else."""
    if isinstance(output_size, (numbers.Integral, np.integer)) and not isinstance(output_size, bool):
        pair = (int(output_size), int(output_size))
    elif isinstance(output_size, (tuple, list)) and len(output_size) == 2 and all(
        isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool) for v in output_size
    ):
        pair = (int(output_size[0]), int(output_size[1]))
    else:
        raise TypeError(f"output_size must be an int or a pair of ints (PH, PW), got {output_size!r}")
    if min(pair) < 1:
        raise ValueError(f"output_size must be >= 1 in both dimensions, got {pair}")
    return pair


def _check_numeric(name: str, arr: np.ndarray) -> None:
    if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")


def validate_rois(rois, num_images: int | None = None):
    """Canonicalise RoIs to ``(batch (K,), boxes (K, 4))``.

    Parameters
    ----------
    rois : array_like or list of array_like
        ``(K, 5)`` rows ``[batch, x1, y1, x2, y2]``, or a list with one
        ``(Ki, 4)`` array of boxes per image (the batch index is then the
        list position), as torchvision accepts.
    num_images : int, optional
        N; batch indices must lie in ``[0, N)``.

    Raises
    ------
    TypeError, ValueError
        Naming ``rois`` and what is wrong with it.
    """
    if isinstance(rois, (list, tuple)):
        if num_images is not None and len(rois) > num_images:
            raise ValueError(
                f"rois: a list of {len(rois)} per-image box arrays for a batch of {num_images} images"
            )
        batches, boxes = [], []
        for i, b in enumerate(rois):
            b = np.asarray(b)
            _check_numeric(f"rois[{i}]", b)
            if b.ndim != 2 or b.shape[1] != 4:
                raise ValueError(f"rois[{i}] must have shape (Ki, 4) [x1, y1, x2, y2], got {b.shape}")
            boxes.append(b)
            batches.append(np.full(b.shape[0], i, dtype=np.int64))
        if not boxes:
            return np.zeros(0, np.int64), np.zeros((0, 4), np.float64)
        box_dtype = np.result_type(*boxes)
        boxes = np.concatenate(boxes).astype(box_dtype if box_dtype.kind == "f" else np.float64)
        batch = np.concatenate(batches)
    else:
        arr = np.asarray(rois)
        _check_numeric("rois", arr)
        if arr.ndim != 2 or arr.shape[1] != 5:
            hint = ""
            if arr.ndim == 2 and arr.shape[1] == 4:
                hint = (" (a (K, 4) array has no batch index: pass (K, 5) rows"
                        " [batch, x1, y1, x2, y2] or a list of per-image (Ki, 4) arrays)")
            raise ValueError(f"rois must have shape (K, 5), got {arr.shape}{hint}")
        if arr.dtype.kind != "f":
            arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr[:, 0])):
            raise ValueError("rois: batch index column contains NaN or inf")
        if np.any(arr[:, 0] != np.trunc(arr[:, 0])):
            raise ValueError("rois: batch index column must hold integral values")
        batch = arr[:, 0].astype(np.int64)
        boxes = arr[:, 1:]
    if not np.all(np.isfinite(boxes)):
        raise ValueError("rois: box coordinates contain NaN or inf")
    if num_images is not None and batch.size and (batch.min() < 0 or batch.max() >= num_images):
        bad = batch[(batch < 0) | (batch >= num_images)][0]
        raise ValueError(f"rois: batch index {bad} out of range for {num_images} images")
    return batch, boxes


def validate(features, rois, output_size, spatial_scale=1.0, bin_mode="float32") -> Problem:
    """Check and canonicalise one RoIPool call.

    Raises
    ------
    TypeError
        Wrong type of an argument or unsupported dtype.
    ValueError
        Wrong shape, out-of-range value, NaN/inf where a number is needed.
    """
    if not isinstance(features, np.ndarray):
        if hasattr(features, "__array__") or isinstance(features, (list, tuple)):
            features = np.asarray(features)
        else:
            raise TypeError(f"features must be an array of shape (N, C, H, W), got {type(features).__name__}")
    if features.ndim != 4:
        raise ValueError(f"features must have shape (N, C, H, W), got ndim={features.ndim} shape {features.shape}")
    canonical_dtype(features.dtype)
    if min(features.shape) < 1:
        raise ValueError(f"features must be non-empty in N, C, H and W, got shape {features.shape}")
    n, _, h, w = features.shape
    if h * w >= 2**31:
        raise ValueError(f"features: H*W = {h * w} does not fit the int32 argmax index")
    if not isinstance(spatial_scale, (numbers.Real, np.floating, np.integer)) or isinstance(spatial_scale, bool):
        raise TypeError(f"spatial_scale must be a real number, got {spatial_scale!r}")
    spatial_scale = float(spatial_scale)
    if not math.isfinite(spatial_scale) or spatial_scale <= 0:
        raise ValueError(f"spatial_scale must be finite and > 0, got {spatial_scale}")
    if bin_mode not in BIN_MODES:
        raise ValueError(f"bin_mode must be one of {BIN_MODES}, got {bin_mode!r}")
    pair = validate_output_size(output_size)
    batch, boxes = validate_rois(rois, n)
    limit = MAX_COORD_FLOAT16 if bin_mode == "float16" else MAX_COORD
    if boxes.size and np.abs(boxes).max() * spatial_scale > limit:
        raise ValueError(
            f"rois: |coordinate * spatial_scale| exceeds {limit:.0f} in bin_mode {bin_mode!r};"
            " such a box cannot be rounded exactly"
        )
    return Problem(
        features=features,
        batch=batch,
        boxes=boxes,
        output_size=pair,
        spatial_scale=spatial_scale,
        bin_mode=bin_mode,
    )
