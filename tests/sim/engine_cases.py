"""Small engine configurations and problems shared by the simulation and host-backend tests.

One engine size for all of them (per element type), so every test reuses
the same cached Verilog and simulator builds.
"""

from __future__ import annotations

import numpy as np
import pytest

import golden
from hdl.job import EngineConfig, build_job, encode_results
from sim import toolchain
from sim.engine import engine_params

#: Engine used by the tests: small maps, 4 lanes, the default FIFO and slots.
TEST_ENGINE = dict(lanes=4, max_n=2, max_c=16, max_h=16, max_w=16, max_pooled=7)


def params(dtype: str) -> dict:
    return engine_params(TEST_ENGINE, dtype=dtype)


def need(simulator: str) -> None:
    """Skip with the reason when ``simulator`` cannot run here."""
    ok, why = toolchain.icarus_available() if simulator == "icarus" else toolchain.verilator_available()
    if not ok:
        pytest.skip(f"{simulator} unusable here: {why}")


def features(rng: np.random.Generator, dtype: str, shape) -> np.ndarray:
    """Values with many ties; floats also get NaN, +-inf and -0.0."""
    dt = golden.canonical_dtype(dtype)
    if np.issubdtype(dt, np.integer):
        return rng.integers(-4, 5, shape).astype(dt)
    x = rng.integers(-4, 5, shape).astype(np.float64) / 2
    pick = rng.random(shape)
    x[pick < 0.04] = np.nan
    x[(pick >= 0.04) & (pick < 0.07)] = -np.inf
    x[(pick >= 0.07) & (pick < 0.09)] = np.inf
    x[(pick >= 0.09) & (pick < 0.12)] = -0.0
    return x.astype(dt)


def problem(seed: int, dtype: str, bin_mode: str, *, k: int = 8, pooled=(3, 2)):
    """A random small call with edge cases: RoIs partly or wholly outside, malformed, one pixel, whole map."""
    rng = np.random.default_rng(seed)
    n, c = 2, int(rng.integers(5, 9))                 # two channel tiles, the last one padded
    h, w = int(rng.integers(5, 13)), int(rng.integers(5, 13))
    x = features(rng, dtype, (n, c, h, w))
    scale = 0.5
    pts = rng.integers(-4, 2 * max(h, w) + 4, (k, 4)) + rng.choice([0.0, 0.5], (k, 4))
    pts[0] = [-2, -2, 2 * w + 2, 2 * h + 2]           # whole map and beyond
    pts[1] = [6, 6, 6, 6]                             # one pixel
    pts[2] = [9, 9, 3, 2]                             # malformed: x2 < x1
    rois = np.c_[rng.integers(0, n, k), pts].astype(np.float32)
    return golden.validate(x, rois, pooled, scale, bin_mode), (x, rois, pooled, scale, bin_mode)


def job_and_golden(prob, args, dtype: str):
    """The job for the test engine, the golden output and its encoded beats."""
    cfg = EngineConfig.from_params(params(dtype))
    x, rois, pooled, scale, bin_mode = args
    want = golden.roi_pool(x, rois, pooled, scale, bin_mode=bin_mode)
    return build_job(prob, cfg), want, encode_results(*want, cfg), cfg


def same(got, want) -> bool:
    """Bit-exact equality of ``(out, argmax)`` pairs."""
    return got[0].tobytes() == want[0].tobytes() and np.array_equal(got[1], want[1])
