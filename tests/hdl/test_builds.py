"""Every dtype x lane count converts to Verilog; one build passes Verilator lint; parameter checks."""

import inspect
import json

import pytest
from amaranth.back import verilog

from hdl import protocol
from hdl.engine import RoIPoolEngine
from hdl.generate import main
from hdl.lint import lint, verilator_binary

DTYPES = ["int8", "int16", "float16", "bfloat16", "float32"]


@pytest.mark.parametrize("lanes", [1, 4, 8, 16])
@pytest.mark.parametrize("dtype", DTYPES)
def test_converts_to_verilog(dtype, lanes):
    e = RoIPoolEngine(lanes=lanes, dtype=dtype, max_n=2, max_c=64, max_h=32, max_w=32, max_pooled=7,
                      argmax=lanes != 8)  # lanes=8 builds cover the value-only result format
    text = verilog.convert(e, name="roipool_engine", emit_src=False)
    assert "module roipool_engine" in text
    for port in ("m_axi_araddr", "m_axi_rdata", "s_axil_awaddr", "s_axis_roi_tdata", "m_axis_out_tdata", "clk", "rst"):
        assert port in text


def test_generate_and_lint(tmp_path):
    # `make verilog` is `python -m hdl`: with no options it must build the
    # engine's default configuration (the one the reports and simulators use).
    assert main(["-o", str(tmp_path / "roipool_engine.v")]) == 0
    v, j = tmp_path / "roipool_engine.v", tmp_path / "roipool_engine.json"
    cfg = json.loads(j.read_text())
    defaults = {k: p.default for k, p in inspect.signature(RoIPoolEngine).parameters.items()}
    assert {k: cfg["config"][k] for k in defaults} == defaults
    assert cfg["magic"] == protocol.MAGIC and cfg["config"]["lanes"] == 8
    assert {r["name"] for r in cfg["registers"]} >= {"CTRL", "STATUS", "ERR_FLAGS", "NUM_ROIS"}
    try:
        verilator_binary()
    except FileNotFoundError:
        pytest.skip("verilator is not installed")
    r = lint(v)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("kwargs,exc", [
    (dict(lanes=3), ValueError), (dict(lanes=128), ValueError), (dict(lanes=8.0), TypeError),
    (dict(dtype="float64"), ValueError), (dict(dtype=16), TypeError),
    (dict(lanes=64, dtype="float32"), ValueError), (dict(max_pooled=0), ValueError),
    (dict(argmax=1), TypeError), (dict(addr_width=8), ValueError), (dict(fifo_depth=100), ValueError),
    (dict(max_h=40000), ValueError),
])
def test_parameter_validation(kwargs, exc):
    with pytest.raises(exc):
        RoIPoolEngine(**kwargs)
