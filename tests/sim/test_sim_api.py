"""``sim.simulate`` around the simulators: validation first, the fmax record, the command line."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import sim
from sim.__main__ import main
from sim.engine import engine_verilog
from tests.sim.engine_cases import need, params


def test_bad_input_is_refused_before_anything_runs():
    x = np.zeros((1, 2, 4, 4), np.int16)
    with pytest.raises(ValueError, match="batch"):
        sim.simulate(x, np.array([[3, 0, 0, 1, 1]], np.float32), 2, simulator="no-such-simulator")
    with pytest.raises(ValueError, match="exceeds the engine's maximum"):
        sim.simulate(x, np.array([[0, 0, 0, 1, 1]], np.float32), 2, engine={"max_c": 1})
    with pytest.raises(TypeError, match="unknown engine parameter"):
        sim.simulate(x, np.array([[0, 0, 0, 1, 1]], np.float32), 2, engine={"max_chan": 1})


def test_measured_fmax_only_for_the_same_configuration_and_verilog(tmp_path):
    p = params("int16")
    path = tmp_path / "fpga-default.json"
    fmax, why = sim.measured_fmax(p, path)
    assert fmax is None and "not measured yet" in why
    digest = hashlib.sha256(engine_verilog(p).read_bytes()).hexdigest()
    record = {"engine": {**p, "dtype_code": 2}, "verilog_sha256": digest, "fmax_mhz": 123.4}
    path.write_text(json.dumps(record))
    assert sim.measured_fmax(p, path)[0] == 123.4
    path.write_text(json.dumps({**record, "engine": {**p, "lanes": p["lanes"] * 2}}))
    fmax, why = sim.measured_fmax(p, path)
    assert fmax is None and "lanes=" in why
    path.write_text(json.dumps({**record, "verilog_sha256": "0" * 64}))
    fmax, why = sim.measured_fmax(p, path)
    assert fmax is None and "RTL version" in why
    path.write_text(json.dumps({"fmax_mhz": 99.0}))
    assert sim.measured_fmax(p, path)[0] is None


def test_command_line_checks_and_reports(capsys):
    need("verilator")
    assert main(["small", "--channels", "8", "--latency", "12"]) == 0
    out = capsys.readouterr().out
    assert "bit-exact    yes" in out and "cycles/bound" in out and "fmax" in out
    assert "read latency 12 cycles" in out
