"""The engine as ``host`` backends (pysim, Verilator, Icarus): bit-exact through ``host.roi_pool``."""

from __future__ import annotations

import numpy as np
import pytest

import golden
import host
from host.api import BACKENDS
from sim.engine import engine_defaults, engine_params, fit_params
from tests.sim.engine_cases import TEST_ENGINE, need, problem, same


def test_rtl_backends_are_registered_with_reasons():
    status = host.available_backends()
    for name in ("pysim", "verilator", "icarus"):
        ok, reason = status[name]
        assert isinstance(ok, bool) and reason, name
    assert BACKENDS["pysim"].max_outputs < BACKENDS["icarus"].max_outputs


@pytest.mark.parametrize("backend,dtype,bin_mode", [
    ("verilator", "int16", "float32"),
    ("icarus", "float32", "exact"),
    ("pysim", "int16", "exact"),
])
def test_roi_pool_on_the_engine_is_bit_exact(backend, dtype, bin_mode):
    if backend != "pysim":
        need(backend)
    k = 3 if backend == "pysim" else 8
    _, (x, rois, pooled, scale, mode) = problem(40 + k, dtype, bin_mode, k=k)
    r = host.run(x, rois, pooled, scale, backend=backend, bin_mode=mode, engine=TEST_ENGINE)
    assert same((r.out, r.argmax), golden.roi_pool(x, rois, pooled, scale, bin_mode=mode))
    assert r.stats["cycles"] > 0 and r.stats["simulator"] == backend
    assert r.stats["counters"]["rois_done"] == k and r.stats["counters"]["busy_cycles"] >= r.stats["cycles"]
    assert r.stats["engine"]["dtype"] == dtype and r.stats["engine"]["max_c"] == TEST_ENGINE["max_c"]


def test_unsupported_dtype_is_reported_not_run():
    x = np.zeros((1, 2, 4, 4), np.float64)
    with pytest.raises(host.BackendUnavailable, match="float64"):
        host.run(x, np.array([[0, 0, 0, 3, 3]], np.float32), 2, backend="pysim")


def test_engine_is_sized_to_the_problem():
    """Defaults where they suffice; a limit the problem exceeds grows to a power of two unless fixed."""
    prob = golden.validate(np.zeros((1, 3, 200, 40), np.int16), np.array([[0, 0, 0, 9, 9]], np.float32), (9, 2))
    d = engine_defaults()
    params, notes = fit_params(engine_params(dtype="int16"), prob)
    assert params["max_h"] == max(d["max_h"], 256) and params["max_w"] == d["max_w"]
    assert params["max_pooled"] == max(d["max_pooled"], 9) and params["max_c"] == d["max_c"]
    assert [n.split()[0] for n in notes] == [k for k, need in (("max_h", 200), ("max_pooled", 9)) if d[k] < need]
    fixed, _ = fit_params(engine_params({"max_h": 64}, dtype="int16"), prob, fixed={"max_h"})
    assert fixed["max_h"] == 64
    with pytest.raises(ValueError, match="H=200 exceeds"):
        host.run(prob.features, np.array([[0, 0, 0, 9, 9]], np.float32), (9, 2), backend="pysim",
                 engine={"max_h": 64})
