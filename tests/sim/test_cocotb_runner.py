"""sim.cocotb_runner on the stand-in copier, with cocotbext-axi models, on Verilator and Icarus."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from sim import toolchain
from sim.cocotb_runner import CocotbFailure, run_cocotb
from tests.sim.conftest import make_job

MODULE = "tests.sim.copier_cocotb"
PAUSES = {
    "no-pauses": {},
    "pauses": {"src": 0.4, "sink": 0.5, "ar": 0.3, "r": 0.3},
}


def need(simulator: str) -> None:
    ok, why = (toolchain.icarus_available() if simulator == "icarus"
               else toolchain.verilator_available())
    if not ok:
        pytest.skip(f"{simulator} unusable: {why}")


def write_job(path, length: int, seed: int):
    rng = np.random.default_rng(seed)
    memory, desc, desc_last = make_job(rng, length, base=0x40)
    np.savez(path, memory=memory, base=0x40, length=length, desc=desc, desc_last=desc_last)
    return path


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
@pytest.mark.parametrize("pauses", PAUSES)
def test_copy_roundtrip(simulator, pauses, copier_v, tmp_path):
    """Data and arguments travel pytest -> cocotb via an .npz named in $COCOTB_TEST_ARGS."""
    need(simulator)
    length = 150
    npz = write_job(tmp_path / "job.npz", length, seed=len(pauses))
    report = tmp_path / "report.json"
    res = run_cocotb(copier_v, "copier", MODULE, simulator=simulator,
                     test_args={"npz": str(npz), "pause": PAUSES[pauses], "seed": 3,
                                "report": str(report)},
                     timeout=300)
    assert (res.tests, res.passed, res.failed) == (2, 2, 0)
    assert {c["name"] for c in res.cases} == {"registers", "copy_roundtrip"}
    rep = json.loads(report.read_text())
    assert rep["beats"] == length and rep["cycles"] >= length
    case = next(c for c in res.cases if c["name"] == "copy_roundtrip")
    assert case["sim_time_ns"] >= 10 * rep["cycles"] and case["real_time_s"] > 0
    if pauses == "pauses":
        assert rep["cycles"] > 1.5 * length      # sink pauses half the time
    assert res.test_dir is None                  # cleaned after a passing run


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_failure_is_reported(simulator, copier_v, tmp_path):
    """A failing cocotb test raises CocotbFailure quoting the log; check=False returns counts."""
    need(simulator)
    npz = write_job(tmp_path / "job.npz", 40, seed=1)
    args = {"npz": str(npz), "corrupt": True}
    with pytest.raises(CocotbFailure) as info:
        run_cocotb(copier_v, "copier", MODULE, simulator=simulator, test_args=args,
                   testcase="copy_roundtrip", timeout=300)
    msg = str(info.value)
    assert "1 of 1 cocotb tests failed: copy_roundtrip" in msg
    assert "wrong beats, first at 20" in msg                  # from the log tail
    res = info.value.result
    assert (res.tests, res.failed) == (1, 1) and res.log.is_file()
    res = run_cocotb(copier_v, "copier", MODULE, simulator=simulator, test_args=args,
                     check=False, timeout=300)
    assert (res.tests, res.passed, res.failed) == (2, 1, 1)


def test_env_and_testcase_filter(copier_v, tmp_path):
    """env= reaches the simulation; testcase= selects; unknown module -> no tests -> failure."""
    need("verilator")
    banner = "running tests.sim.copier_cocotb.registers"
    loud = run_cocotb(copier_v, "copier", MODULE, testcase="registers", keep=True)
    quiet = run_cocotb(copier_v, "copier", MODULE, testcase="registers",
                       env={"COCOTB_LOG_LEVEL": "WARNING"}, keep=True)
    assert (loud.tests, loud.passed) == (quiet.tests, quiet.passed) == (1, 1)
    assert banner in loud.log.read_text()
    assert banner not in quiet.log.read_text()      # the variable reached cocotb
    shutil.rmtree(loud.test_dir)
    shutil.rmtree(quiet.test_dir)
    with pytest.raises(CocotbFailure):
        run_cocotb(copier_v, "copier", "tests.sim.no_such_module", timeout=120)


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_waves(simulator, copier_v):
    """Icarus writes VCD; Verilator FST where lz4 is installed, VCD otherwise."""
    need(simulator)
    res = run_cocotb(copier_v, "copier", MODULE, simulator=simulator, testcase="registers",
                     waves=True, timeout=300)
    assert res.passed == 1
    fmt = "vcd" if simulator == "icarus" else toolchain.trace_format(True)
    assert res.waves is not None and res.waves.suffix == "." + fmt
    assert res.waves.stat().st_size > 1000
    if fmt == "vcd":
        text = res.waves.read_text()
        assert "s_axil_rdata" in text and "$enddefinitions" in text
    shutil.rmtree(res.test_dir)


def test_wall_clock_timeout(copier_v, tmp_path):
    """A simulation that never finishes (too few descriptors, clock runs forever) is killed."""
    need("verilator")
    rng = np.random.default_rng(0)
    memory, desc, desc_last = make_job(rng, 500)
    npz = tmp_path / "hang.npz"
    np.savez(npz, memory=memory, base=0x40, length=500, desc=desc[:2] & 0xFF, desc_last=desc_last[:2])
    with pytest.raises(CocotbFailure, match="wall-clock timeout"):
        run_cocotb(copier_v, "copier", MODULE, testcase="copy_roundtrip",
                   test_args={"npz": str(npz)}, timeout=3)
