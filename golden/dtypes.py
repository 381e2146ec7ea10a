"""Data types of the RoIPool specification and their max-pooling sentinels.

Max pooling never does arithmetic on feature values, so every backend must
agree bit for bit.  The only type-dependent facts are:

* which types are supported,
* the *sentinel* a non-empty bin's running maximum starts from
  (``-FLT_MAX`` converted to the data type, as in Caffe2/torchvision; it
  overflows to ``-inf`` in float16 and bfloat16, and stays the float32 value
  ``-3.4028235e38`` in float64), and
* integer types, which have no sentinel: the first element of a bin
  initialises its maximum.
"""

from __future__ import annotations

import numpy as np
import ml_dtypes

__all__ = [
    "FLT_MAX",
    "SUPPORTED_DTYPES",
    "FLOAT_DTYPES",
    "INT_DTYPES",
    "canonical_dtype",
    "dtype_name",
    "sentinel",
    "is_float",
]

#: Largest finite float32, the C ``FLT_MAX`` that Caffe2's kernel negates.
FLT_MAX = float(np.finfo(np.float32).max)

BFLOAT16 = np.dtype(ml_dtypes.bfloat16)

FLOAT_DTYPES = (
    np.dtype(np.float16),
    BFLOAT16,
    np.dtype(np.float32),
    np.dtype(np.float64),
)
INT_DTYPES = (np.dtype(np.int8), np.dtype(np.int16), np.dtype(np.int32))
SUPPORTED_DTYPES = FLOAT_DTYPES + INT_DTYPES

_NAMES = {
    np.dtype(np.float16): "float16",
    BFLOAT16: "bfloat16",
    np.dtype(np.float32): "float32",
    np.dtype(np.float64): "float64",
    np.dtype(np.int8): "int8",
    np.dtype(np.int16): "int16",
    np.dtype(np.int32): "int32",
}
_BY_NAME = {name: dt for dt, name in _NAMES.items()}


def canonical_dtype(dtype) -> np.dtype:
    """Return the ``numpy.dtype`` for a supported type, given a dtype or a name.

    Raises
    ------
    TypeError
        If the type is not one of :data:`SUPPORTED_DTYPES`.
    """
    if isinstance(dtype, str) and dtype in _BY_NAME:
        return _BY_NAME[dtype]
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in _NAMES:
        raise TypeError(
            f"unsupported feature dtype {dtype!r}; supported: "
            + ", ".join(_NAMES.values())
        )
    return dt


def dtype_name(dtype) -> str:
    """Short name (``"bfloat16"``, ``"int16"``, ...) of a supported dtype."""
    return _NAMES[canonical_dtype(dtype)]


def is_float(dtype) -> bool:
    """True for the floating-point types (which have a sentinel)."""
    return canonical_dtype(dtype) in FLOAT_DTYPES


def sentinel(dtype):
    """The start value of a non-empty bin's running maximum, or ``None``.

    ``-FLT_MAX`` converted to the data type (``-inf`` for float16 and
    bfloat16, where it overflows).  Integer types return ``None``: they
    have no sentinel, the bin's first element initialises the maximum.
    """
    dt = canonical_dtype(dtype)
    if dt in INT_DTYPES:
        return None
    with np.errstate(over="ignore"):
        return np.array(-FLT_MAX, dtype=np.float64).astype(dt)[()]
