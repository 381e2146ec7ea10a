"""Cycle-level testbench for :class:`hdl.engine.RoIPoolEngine` (pysim).

The bench itself lives in :mod:`sim.pysim` (shared with the ``pysim``
backend); the memory layout and result decoding are the host's protocol
(:mod:`hdl.job`).  This module keeps the names the gateware tests use.
"""

from __future__ import annotations

import numpy as np

from hdl.engine import RoIPoolEngine
from hdl.job import EngineConfig, pack_features as _pack, unpack_results
from sim.pysim import R, Harness, RunResult, axil_read, axil_write  # noqa: F401  (re-exported)
from sim.traffic import Traffic as _Traffic
from tests.hdl.models import NP, values_to_bits

#: Random traffic by default (``Traffic(latency=(10, 30))`` etc. override fields).
Traffic = _Traffic.random


def _config(engine: RoIPoolEngine) -> EngineConfig:
    return EngineConfig(engine.lanes, engine.dtype, engine.max_n, engine.max_c, engine.max_h, engine.max_w,
                        engine.max_pooled, engine.argmax)


def pack_features(engine: RoIPoolEngine, features: np.ndarray) -> bytes:
    """Host packing: nChw{L}c, padded channels zero, little-endian elements."""
    return _pack(features, engine.lanes)


def decode(engine: RoIPoolEngine, beats, k, c, ph, pw):
    """Result beats ``[(tdata, tlast)]`` -> (value bits (K, C, PH, PW) int64, argmax, tlast list)."""
    cfg = _config(engine)
    raw = np.frombuffer(b"".join(int(b).to_bytes(cfg.result_bytes, "little") for b, _ in beats),
                        dtype=np.uint8).reshape(len(beats), cfg.result_bytes)
    vals, args = unpack_results(raw, k, c, (ph, pw), cfg, NP[engine.dtype])
    return values_to_bits(engine.dt, vals), args, [bool(tl) for _, tl in beats]
