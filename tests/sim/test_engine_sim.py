"""The real engine in every simulator: bit-exact results, cycles, robustness, resets, errors.

Small engine builds (``tests/sim/engine_cases.py``), cached under build/sim.
Element types are spread over the tests: int16 on Verilator (harness and
cocotb), the others on Icarus; both bin-edge modes appear.
"""

from __future__ import annotations

import numpy as np
import pytest

import golden
from hdl import protocol as proto
from hdl.job import EngineConfig, build_job, decode_results, encode_results
from host.driver import EngineError, check_errors
from sim.pysim import PysimTransport
from sim.traffic import Traffic
from sim.transports import CocotbTransport, HarnessTransport, Phase
from tests.sim.engine_cases import job_and_golden, need, params, problem, same

ERR = {name: 1 << bit for name, bit in proto.ERR.items()}
REG = {r.name: r.offset for r in proto.REGISTERS}
COUNTERS = ("BEATS_READ", "BEATS_WRITTEN", "IN_STALL_CYCLES", "OUT_STALL_CYCLES", "ROIS_DONE")


def test_harness_cocotb_and_pysim_agree_cycle_for_cycle():
    """Same job, same latency, no pauses: identical beats, cycle counts and counters."""
    need("verilator")
    prob, args = problem(1, "int16", "exact", k=6)
    job, want, expected, cfg = job_and_golden(prob, args, "int16")
    traffic = Traffic(latency=20)
    p = params("int16")
    runs = {
        "harness": HarnessTransport(p, traffic).execute(job),
        "cocotb": CocotbTransport(p, "verilator", traffic).execute(job, expected=expected),
        "pysim": PysimTransport(p, traffic).execute(job),
    }
    ref = runs["harness"]
    assert same(decode_results(ref, prob, cfg), want)
    assert ref.cycles > job.expected_beats
    for name, run in runs.items():
        assert np.array_equal(run.beats, ref.beats) and np.array_equal(run.last, ref.last), name
        assert run.cycles == ref.cycles, f"{name}: {run.cycles} cycles, harness {ref.cycles}"
        assert np.array_equal(run.stats["roi_end_cycles"], ref.stats["roi_end_cycles"]), name
        # BUSY_CYCLES also counts START to the first descriptor, which each bench offers at its own pace.
        assert [run.regs[REG[c]] for c in COUNTERS] == [ref.regs[REG[c]] for c in COUNTERS], name


@pytest.mark.parametrize("simulator,dtype,bin_mode", [
    ("verilator", "int16", "exact"),
    ("icarus", "float32", "float32"),
    ("icarus", "bfloat16", "exact"),
    ("icarus", "int8", "float32"),
    ("icarus", "float16", "float16"),
])
def test_cocotb_random_traffic(simulator, dtype, bin_mode):
    """Random idle cycles, back-pressure and read latency; the bench's scoreboard and the decode both check."""
    need(simulator)
    prob, args = problem(10 + len(dtype), dtype, bin_mode)
    job, want, expected, cfg = job_and_golden(prob, args, dtype)
    traffic = Traffic.random(latency=(2, 16), seed=5)
    run = CocotbTransport(params(dtype), simulator, traffic).execute(job, expected=expected)
    assert same(decode_results(run, prob, cfg), want)
    check_errors(run)
    assert run.regs[REG["ROIS_DONE"]] == prob.num_rois
    assert run.regs[REG["OUT_STALL_CYCLES"]] > 0, "the sink's pauses must show as back-pressure"


def test_ten_thousand_rois_under_random_traffic():
    """>= 10 000 tiny RoIs through the cocotb bench on Verilator, every beat checked."""
    need("verilator")
    rng = np.random.default_rng(7)
    k = 10_000
    x = rng.integers(-300, 300, (1, 4, 8, 8)).astype(np.int16)
    xy = rng.integers(-1, 9, (k, 2))
    rois = np.c_[np.zeros(k), xy, xy + rng.integers(0, 4, (k, 2))].astype(np.float32)
    prob = golden.validate(x, rois, 2, 1.0, "float32")
    cfg = EngineConfig.from_params(params("int16"))
    want = golden.roi_pool(x, rois, 2, 1.0)
    job = build_job(prob, cfg)
    traffic = Traffic(roi_valid=0.8, out_ready=0.8, arready=0.8, rvalid=0.8, latency=(2, 8), seed=11)
    run = CocotbTransport(params("int16"), "verilator", traffic).execute(job, expected=encode_results(*want, cfg))
    assert run.beats.shape[0] == job.expected_beats == 4 * k
    assert same(decode_results(run, prob, cfg), want)
    assert run.regs[REG["ROIS_DONE"]] == k and run.regs[REG["BEATS_WRITTEN"]] == 4 * k
    assert run.regs[REG["ERR_FLAGS"]] == 0


def test_reset_mid_roi_then_clean_run():
    """rst asserted with reads in flight and a RoI half sent; the next run is bit-exact."""
    need("verilator")
    p1, a1 = problem(21, "int16", "float32", pooled=(7, 7))
    p2, a2 = problem(22, "int16", "exact")
    job1, _, _, cfg = job_and_golden(p1, a1, "int16")
    job2, want2, exp2, _ = job_and_golden(p2, a2, "int16")
    per_roi = -(-p1.features.shape[1] // cfg.lanes) * 49
    phases = [Phase(job1, abort_after=per_roi + 5), Phase(job2, expected=exp2)]
    first, second = CocotbTransport(params("int16"), "verilator", Traffic(latency=30)).run_phases(phases)
    assert first.stats["aborted"] and per_roi + 5 <= len(first.beats) < job1.expected_beats
    assert same(decode_results(second, p2, cfg), want2)
    assert second.cycles > 0 and second.regs[REG["ERR_FLAGS"]] == 0


def _bad_jobs(dtype):
    """A job with an out-of-range batch index, one with C over the build's maximum, and a good one."""
    prob, args = problem(31, dtype, "exact", k=4)
    job, want, _, cfg = job_and_golden(prob, args, dtype)
    bad_batch = build_job(prob, cfg)
    bad_batch.descriptors[2] = [prob.features.shape[0] + 3] + bad_batch.descriptors[2][1:]
    bad_size = build_job(prob, cfg)
    bad_size.reg_writes = [(a, cfg.max_c + 1 if a == REG["C"] else v) for a, v in bad_size.reg_writes]
    return prob, cfg, want, bad_batch, bad_size, job


def _check_bad(prob, cfg, want, bad_batch_run, bad_size_run):
    assert bad_batch_run.regs[REG["ERR_FLAGS"]] == ERR["BATCH"]
    per_roi = -(-prob.features.shape[1] // cfg.lanes) * prob.output_size[0] * prob.output_size[1]
    assert len(bad_batch_run.beats) == prob.num_rois * per_roi, "a bad RoI is still emitted in full"
    out, arg = decode_results(bad_batch_run, prob, cfg)
    assert not out[2].view(np.uint8).any() and (arg[2] == -1).all(), "bad RoI: zeros, argmax -1"
    keep = [0, 1, 3]
    assert same((out[keep], arg[keep]), (want[0][keep], want[1][keep])), "the other RoIs are unaffected"
    assert bad_size_run.regs[REG["ERR_FLAGS"]] == ERR["SIZE"] and len(bad_size_run.beats) == 0
    assert bad_size_run.regs[REG["STATUS"]] & 0b110 == 0b110, "DONE and ERROR, not hanging"
    for run, flag in ((bad_batch_run, "BATCH"), (bad_size_run, "SIZE")):
        with pytest.raises(EngineError, match=flag):
            check_errors(run)


def test_bad_descriptors_and_sizes_flag_errors_harness():
    need("verilator")
    prob, cfg, want, bad_batch, bad_size, good = _bad_jobs("int16")
    t = HarnessTransport(params("int16"), Traffic(latency=4))
    _check_bad(prob, cfg, want, t.execute(bad_batch), t.execute(bad_size))
    assert same(decode_results(t.execute(good), prob, cfg), want)


def test_bad_descriptors_and_sizes_flag_errors_icarus():
    """The same on Icarus, in one simulation: errors, then a clean run on the same engine."""
    need("icarus")
    prob, cfg, want, bad_batch, bad_size, good = _bad_jobs("float32")
    runs = CocotbTransport(params("float32"), "icarus", Traffic(latency=4)).run_phases(
        [Phase(bad_batch), Phase(bad_size), Phase(good)])
    _check_bad(prob, cfg, want, runs[0], runs[1])
    assert same(decode_results(runs[2], prob, cfg), want) and runs[2].regs[REG["ERR_FLAGS"]] == 0
