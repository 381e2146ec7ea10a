"""Deterministic RoIPool backward.

``grad_input[b, c].flat[argmax] += grad_out`` for every output element whose
argmax is not -1.  Determinism comes from a *fixed order*: contributions
are added one at a time in the raster order of ``grad_out``
(RoI, channel, ph, pw), the order of torchvision's CPU kernel, with
``numpy.add.at``, which applies repeated indices sequentially and
unbuffered.  float32 and float64 accumulate in their own type (so the bits
equal torchvision's CPU backward); float16 and bfloat16 accumulate in
float32 in the same order and round once at the end, since NumPy has no
half-precision scatter-add.  The same inputs therefore give the same bits on
every run, whatever the machine's thread count.
"""

from __future__ import annotations

import numpy as np

from .dtypes import canonical_dtype, is_float

__all__ = ["roi_pool_backward", "validate_backward"]


def validate_backward(grad_out, argmax, input_shape, batch):
    """Check backward inputs; return them canonicalised.

    Shared by every backend's backward (the golden model's and CUDA's).

    Returns
    -------
    grad_out : ndarray (float type), argmax : ndarray of int64,
    batch : ndarray of int64, shape : tuple ``(N, C, H, W)``

    Raises
    ------
    TypeError, ValueError
        Naming the argument and what is wrong with it.
    """
    grad_out = np.asarray(grad_out)
    argmax = np.asarray(argmax)
    batch = np.asarray(batch)
    dt = canonical_dtype(grad_out.dtype)
    if not is_float(dt):
        raise TypeError(f"grad_out must be a floating-point array, got {dt}")
    if grad_out.ndim != 4 or argmax.shape != grad_out.shape:
        raise ValueError(
            f"grad_out and argmax must have the same shape (K, C, PH, PW), got {grad_out.shape} and {argmax.shape}"
        )
    if argmax.dtype.kind not in "iu":
        raise TypeError(f"argmax must be an integer array, got {argmax.dtype}")
    if len(input_shape) != 4:
        raise ValueError(f"input_shape must be (N, C, H, W), got {input_shape}")
    n, c, h, w = (int(v) for v in input_shape)
    k = grad_out.shape[0]
    if grad_out.shape[1] != c:
        raise ValueError(f"grad_out has {grad_out.shape[1]} channels, input_shape has {c}")
    if batch.shape != (k,) or (batch.size and batch.dtype.kind not in "iu"):
        raise ValueError(f"batch must be ({k},) integers, got shape {batch.shape} dtype {batch.dtype}")
    if k and (batch.min() < 0 or batch.max() >= n):
        raise ValueError(f"batch index out of range for {n} images")
    if argmax.size and (argmax.min() < -1 or argmax.max() >= h * w):
        raise ValueError(f"argmax values must lie in [-1, {h * w})")
    return grad_out, argmax.astype(np.int64), batch.astype(np.int64), (n, c, h, w)


def roi_pool_backward(grad_out, argmax, input_shape, batch) -> np.ndarray:
    """Gradient of RoIPool with respect to its features.

    Parameters
    ----------
    grad_out : ndarray, shape ``(K, C, PH, PW)``
        Gradient of the loss with respect to the pooled output; a float type.
    argmax : ndarray of int, same shape
        As returned by the forward pass (-1: no contribution).
    input_shape : tuple
        ``(N, C, H, W)`` of the features.
    batch : ndarray of int, shape ``(K,)``
        Image index of each RoI (``rois[:, 0]``).

    Returns
    -------
    ndarray, shape ``input_shape``, dtype of ``grad_out``
    """
    grad_out, argmax, batch, (n, c, h, w) = validate_backward(grad_out, argmax, input_shape, batch)
    dt = grad_out.dtype
    acc_type = dt if dt in (np.dtype(np.float32), np.dtype(np.float64)) else np.dtype(np.float32)
    grad_in = np.zeros(n * c * h * w, dtype=acc_type)
    valid = argmax >= 0
    kk, cc, _, _ = np.nonzero(valid)  # raster order of grad_out
    target = (batch[kk] * c + cc) * (h * w) + argmax[valid]
    np.add.at(grad_in, target, grad_out[valid].astype(acc_type))
    return grad_in.reshape(n, c, h, w).astype(dt)
