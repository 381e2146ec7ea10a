"""Small independent Python models used by the block tests.

They work on real NumPy values (C's ``v > max`` on floats, NaN and -0.0
included), not on the engine's integer keys, so they check the key mapping
as well.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from hdl.dtypes import DType

NP = {
    "int8": np.int8, "int16": np.int16, "float16": np.float16,
    "bfloat16": ml_dtypes.bfloat16, "float32": np.float32,
}
UINT = {8: np.uint8, 16: np.uint16, 32: np.uint32}


def np_dtype(dt: DType):
    return np.dtype(NP[dt.name])


def bits_to_values(dt: DType, bits) -> np.ndarray:
    return np.asarray(bits, dtype=UINT[dt.width]).view(np_dtype(dt))


def values_to_bits(dt: DType, values) -> np.ndarray:
    return np.asarray(values, dtype=np_dtype(dt)).view(UINT[dt.width]).astype(np.int64)


def pool_bin(dt: DType, plane: np.ndarray, h0, h1, w0, w1):
    """RoIPool of one bin of one (H, W) plane of values: (bits, argmax)."""
    width = plane.shape[1]
    if h1 <= h0 or w1 <= w0:
        return 0, -1
    if dt.is_float:
        best = bits_to_values(dt, [dt.sentinel])[0].astype(np.float32)
        arg = -1
    else:
        best, arg = None, -1
    for h in range(h0, h1):
        for w in range(w0, w1):
            v = plane[h, w].astype(np.float32) if dt.is_float else int(plane[h, w])
            if best is None or v > best:
                best, arg = v, h * width + w
    if arg == -1:
        return dt.sentinel, -1
    return int(values_to_bits(dt, [plane[arg // width, arg % width]])[0]), arg


def random_values(dt: DType, rng: np.random.Generator, shape, specials=True):
    """Random values with many ties; floats get NaN, +-inf, +-0 and sentinels."""
    if not dt.is_float:
        info = np.iinfo(np_dtype(dt))
        if rng.random() < 0.5:
            return rng.integers(-4, 4, size=shape).astype(np_dtype(dt))
        return rng.integers(info.min, info.max + 1, size=shape).astype(np_dtype(dt))
    vals = rng.choice(np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0], np.float32), size=shape)
    vals = vals + (rng.standard_normal(shape).astype(np.float32) * (rng.random(shape) < 0.3))
    vals = vals.astype(np_dtype(dt))
    if specials:
        bits = values_to_bits(dt, vals)
        pick = rng.random(shape)
        neg_zero = dt.sign_bit
        exp_w, man_w = dt.exponent_mantissa
        inf = ((1 << exp_w) - 1) << man_w
        nan = inf | 1
        special = rng.choice(np.array([neg_zero, inf, inf | dt.sign_bit, nan, nan | dt.sign_bit,
                                       dt.sentinel, 0], np.int64), size=shape)
        bits = np.where(pick < 0.12, special, bits)
        vals = bits_to_values(dt, bits.astype(UINT[dt.width]))
    return vals
