"""Hypothesis strategies for RoIPool problems (shared by the golden tests)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import golden

DTYPE_NAMES = ("float32", "float64", "float16", "bfloat16", "int8", "int16", "int32")


def _features(draw, dtype_name, shape):
    dt = golden.canonical_dtype(dtype_name)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if dt.kind in "iu":
        # A narrow range makes ties common, which exercises the
        # first-in-raster-order rule.
        lo = draw(st.sampled_from([-3, int(np.iinfo(dt).min)]))
        hi = 3 if lo == -3 else int(np.iinfo(dt).max)
        return rng.integers(lo, hi + 1, shape).astype(dt)
    style = draw(st.sampled_from(["normal", "ties", "specials"]))
    if style == "normal":
        x = rng.standard_normal(shape)
    else:
        x = rng.integers(-2, 3, shape).astype(np.float64)
    x = x.astype(dt)
    if style == "specials":
        flat = x.reshape(-1)
        for value in (np.nan, -np.inf, np.inf, -0.0, -golden.FLT_MAX, -1e300):
            idx = rng.integers(0, flat.size, max(1, flat.size // 10))
            with np.errstate(over="ignore"):
                flat[idx] = np.array(value).astype(dt)
        if draw(st.booleans()):
            flat[:] = np.array(np.nan).astype(dt)  # whole map NaN: nothing wins
    return x


def _coordinate(draw, limit):
    whole = draw(st.integers(-limit // 2, limit + limit // 2))
    frac = draw(st.sampled_from([0.0, 0.5, 0.25, 0.75, 0.49999997, 0.5000001]))
    return whole + frac


@st.composite
def problems(draw, dtypes=DTYPE_NAMES, modes=golden.BIN_MODES, max_hw=12, max_rois=5):
    """Draw ``(features, rois, output_size, spatial_scale, bin_mode)``."""
    dtype_name = draw(st.sampled_from(dtypes))
    n = draw(st.integers(1, 2))
    c = draw(st.integers(1, 3))
    h = draw(st.integers(1, max_hw))
    w = draw(st.integers(1, max_hw))
    features = _features(draw, dtype_name, (n, c, h, w))
    if draw(st.booleans()):
        features = np.asfortranarray(features)  # a non-contiguous layout
    scale = draw(st.sampled_from([1.0, 0.5, 0.25, 1 / 16, 0.3, 2.0]))
    limit = int(max(h, w) / scale) + 2
    k = draw(st.integers(0, max_rois))
    rows = []
    for _ in range(k):
        b = draw(st.integers(0, n - 1))
        x1, y1, x2, y2 = (_coordinate(draw, limit) for _ in range(4))
        rows.append([b, x1, y1, x2, y2])
    rois = np.array(rows, dtype=np.float64).reshape(k, 5)
    if draw(st.booleans()):
        rois = rois.astype(np.float32)
    ph = draw(st.integers(1, 7))
    pw = draw(st.integers(1, 7))
    output_size = ph if (ph == pw and draw(st.booleans())) else (ph, pw)
    mode = draw(st.sampled_from(modes))
    return features, rois, output_size, scale, mode
