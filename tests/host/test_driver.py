"""The driver's protocol: packing, descriptors, result decoding, errors."""

import numpy as np
import pytest

import golden
from hdl import protocol as proto
from host.driver import EngineConfig, EngineError, EngineRun, build_job, check_errors, pack_features, run_engine

from .engine_model import ProtocolModelTransport


def test_pack_features_layout():
    x = np.arange(2 * 10 * 3 * 4, dtype=np.int16).reshape(2, 10, 3, 4)
    mem = np.frombuffer(pack_features(x, 8), "<i2").reshape(2, 2, 3, 4, 8)  # n, block, h, w, lane
    np.testing.assert_array_equal(mem[1, 0, 2, 3], x[1, 0:8, 2, 3])
    np.testing.assert_array_equal(mem[0, 1, 1, 2, :2], x[0, 8:10, 1, 2])
    assert not mem[:, 1, :, :, 2:].any(), "padding channels are zero"


@pytest.mark.parametrize("dtype", ["int16", "int8", "float32", "float16", "bfloat16"])
@pytest.mark.parametrize("mode", ["exact", "float32"])
def test_round_trip_through_protocol_model(dtype, mode):
    rng = np.random.default_rng(1)
    dt = golden.canonical_dtype(dtype)
    x = (rng.integers(-5, 6, (2, 11, 9, 13)).astype(dt))
    rois = np.array([[0, 0, 0, 12, 8], [1, 2.5, 1.5, 7, 6], [0, 9, 9, 3, 3], [1, -20, -20, 30, 30],
                     [0, 40, 40, 50, 50]], np.float32)
    cfg = EngineConfig(lanes=4, dtype=dtype, max_n=4, max_c=64, max_h=32, max_w=32, max_pooled=8)
    problem = golden.validate(x, rois, (3, 5), 1.0, mode)
    out, arg, stats = run_engine(problem, cfg, ProtocolModelTransport(cfg))
    want = golden.roi_pool(x, rois, (3, 5), 1.0, bin_mode=mode)
    assert out.tobytes() == want[0].tobytes()
    np.testing.assert_array_equal(arg, want[1])


def test_descriptor_mode_selection():
    cfg = EngineConfig(8, "int16", 2, 64, 64, 64, 16)
    x = np.zeros((1, 3, 8, 8), np.int16)
    job = build_job(golden.validate(x, np.array([[0, 1, 2, 3, 4]], np.float32), 2, 1.0, "exact"), cfg)
    regs = dict(job.reg_writes)
    assert regs[proto.reg("BIN_MODE").offset] == proto.BIN_MODE_EXACT
    assert job.descriptors == [[0, 1 | 2 << 16, 3 | 4 << 16]]
    job = build_job(golden.validate(x, np.array([[0, 1, 2, 3, 4]], np.float32), 2, 1.0, "float32"), cfg)
    assert dict(job.reg_writes)[proto.reg("BIN_MODE").offset] == proto.BIN_MODE_EDGES
    assert len(job.descriptors[0]) == 1 + 2 + 2
    # exact-mode coordinates beyond int16 fall back to explicit exact edges.
    job = build_job(golden.validate(x, np.array([[0, -40000, 2, 3, 4]], np.float32), 2, 1.0, "exact"), cfg)
    assert dict(job.reg_writes)[proto.reg("BIN_MODE").offset] == proto.BIN_MODE_EDGES


def test_unsupported_problems_are_refused():
    cfg = EngineConfig(8, "int16", 1, 16, 16, 16, 7)
    with pytest.raises(ValueError, match="built for int16"):
        build_job(golden.validate(np.zeros((1, 1, 4, 4), np.float32), np.zeros((1, 5)), 2), cfg)
    with pytest.raises(ValueError, match="C=17 exceeds"):
        build_job(golden.validate(np.zeros((1, 17, 4, 4), np.int16), np.zeros((1, 5)), 2), cfg)
    with pytest.raises(ValueError, match="PH=8 exceeds"):
        build_job(golden.validate(np.zeros((1, 1, 4, 4), np.int16), np.zeros((1, 5)), 8), cfg)
    with pytest.raises(ValueError, match="aligned"):
        build_job(golden.validate(np.zeros((1, 1, 4, 4), np.int16), np.zeros((1, 5)), 2), cfg, feat_base=2)


def test_error_flags_become_exceptions():
    run = EngineRun(np.zeros((0, 48), np.uint8), np.zeros(0, bool), {proto.reg("ERR_FLAGS").offset: 0b101}, 0)
    with pytest.raises(EngineError, match="BATCH, FRAMING") as info:
        check_errors(run)
    assert info.value.flags == 0b101
