"""sim.fast_harness on the stand-in copier: data, AXI behaviour, cycles, speed, waves."""

from __future__ import annotations

import numpy as np
import pytest

from sim import toolchain
from sim.fast_harness import (HarnessError, HarnessTimeout, build_harness, check_ports,
                              parse_ports, run_harness)
from tests.sim.conftest import copier_verilog_path, expected_beats, make_job, need_verilator
from tests.sim.copier import ID_VALUE, REG, STATUS_DONE, STATUS_ERR

FINAL = [REG[n] for n in ("STATUS", "CYCLES", "DESC_SUM", "DESC_COUNT", "DESC_LASTS", "ID")]
BASE = 0x40


def run_copy(exe, memory, desc, desc_last, length, *, base=BASE, **kw):
    descriptors = list(zip(desc.tolist(), desc_last.tolist()))
    return run_harness(exe, memory.tobytes() if isinstance(memory, np.ndarray) else memory,
                       [(REG["BASE"], base), (REG["LENGTH"], length)], [(REG["CTRL"], 1)],
                       REG["STATUS"], descriptors, done_mask=STATUS_DONE, final_reads=FINAL, **kw)


def check_copy(res, memory, desc, desc_last, length, beat_bytes=16, base=BASE, max_outstanding=None):
    """Everything the copier promises, checked against the harness's view."""
    mem = memory.tobytes()
    assert res.status == "ok"
    assert res.beats == expected_beats(mem, base, length, beat_bytes)
    assert res.last.tolist() == [False] * (length - 1) + [True]
    assert res.beat_bytes()[:beat_bytes] == mem[base:base + beat_bytes]
    n_desc = res.summary["desc_accepted"]
    assert res.regs[REG["STATUS"]] == STATUS_DONE
    assert res.regs[REG["ID"]] == ID_VALUE
    assert res.regs[REG["DESC_COUNT"]] == n_desc == len(res.ar_log) == res.summary["ar_count"]
    assert res.regs[REG["DESC_SUM"]] == int(desc[:n_desc].astype(np.uint64).sum()) & 0xFFFF_FFFF
    assert res.regs[REG["DESC_LASTS"]] == int(desc_last[:n_desc].sum())
    assert res.summary["r_beats"] == length and res.summary["protocol_errors"] == 0
    assert res.summary["bad_reads"] == 0
    # Bursts: contiguous, as long as each descriptor asked (clipped), INCR, full-width.
    addr, left = base, length
    for ar, d in zip(res.ar_log, desc[:n_desc]):
        want = min((int(d) & 0xFF) + 1, left, (0x1000 - (addr & 0xFFF)) // beat_bytes)
        assert (int(ar["addr"]), int(ar["len"]) + 1) == (addr, want)
        assert ar["burst"] == 1 and (1 << int(ar["size"])) == beat_bytes
        addr += want * beat_bytes
        left -= want
    assert left == 0
    if max_outstanding is not None:
        assert 1 <= res.summary["max_outstanding_seen"] <= max_outstanding
    # Cycle accounting: first descriptor -> last beat, inside the whole run.
    s = res.summary
    assert res.cycles == s["last_out_cycle"] - s["first_desc_cycle"] + 1 >= length
    assert s["start_cycle"] < s["first_desc_cycle"] <= s["last_out_cycle"] < s["cycles_total"]
    # The copier's own busy counter sees (almost) the same span.
    assert abs(res.regs[REG["CYCLES"]] - res.cycles) <= 8


def test_parse_ports(copier_v):
    ports = parse_ports(copier_v.read_text(), "copier")
    assert ports["m_axis_out_tdata"] == ("output", 160)
    assert ports["m_axi_rdata"] == ("input", 128)
    assert ports["s_axis_roi_tlast"] == ("input", 1)
    check_ports(ports)
    ansi = "module t (\n  input wire clk, // c\n  output reg [383:0] m_axis_out_tdata,\n  input [0:7] x\n);\nendmodule\n"
    p = parse_ports(ansi, "t")
    assert p == {"clk": ("input", 1), "m_axis_out_tdata": ("output", 384), "x": ("input", 8)}
    with pytest.raises(ValueError, match="m_axi_rdata"):
        check_ports({k: v for k, v in ports.items() if k != "m_axi_rdata"})
    with pytest.raises(ValueError, match="not found"):
        parse_ports(ansi, "nope")


def test_build_is_cached(copier_v, harness_exe):
    assert harness_exe.is_file()
    assert build_harness(copier_v, "copier") == harness_exe          # same inputs, same build
    assert harness_exe.with_name("harness.json").is_file()


TRAFFIC = {
    "ideal": dict(),
    "random": dict(latency=(2, 30), p_arready=0.6, p_rvalid=0.7, p_out_ready=0.5,
                   p_roi_valid=0.5, max_outstanding=3, seed=7),
    "one-outstanding": dict(latency=(1, 5), max_outstanding=1, p_out_ready=0.9, seed=3),
    "stream-early": dict(latency=8, stream_before_start=True, p_roi_valid=0.3, seed=11),
}


@pytest.mark.parametrize("traffic", TRAFFIC)
def test_roundtrip(harness_exe, traffic):
    rng = np.random.default_rng(len(traffic))
    length = 777
    memory, desc, desc_last = make_job(rng, length)
    kw = TRAFFIC[traffic]
    res = run_copy(harness_exe, memory, desc, desc_last, length, **kw)
    check_copy(res, memory, desc, desc_last, length, max_outstanding=kw.get("max_outstanding", 8))
    if traffic == "ideal":
        # Latency 1, always ready: the copier streams about a beat per cycle.
        assert res.cycles <= 1.15 * length + 40
    if traffic == "random":
        # The sink takes a beat on ~half the cycles at most.
        assert res.cycles >= 1.6 * length


def test_latency_shows_in_cycles(harness_exe):
    rng = np.random.default_rng(5)
    length = 64
    memory, desc, desc_last = make_job(rng, length)
    desc[:] = 255       # one burst for everything
    fast = run_copy(harness_exe, memory, desc, desc_last, length, latency=1)
    slow = run_copy(harness_exe, memory, desc, desc_last, length, latency=101)
    check_copy(fast, memory, desc, desc_last, length)
    check_copy(slow, memory, desc, desc_last, length)
    assert len(fast.ar_log) == 1
    assert slow.cycles - fast.cycles == 100


def test_same_seed_same_run(harness_exe):
    rng = np.random.default_rng(9)
    memory, desc, desc_last = make_job(rng, 300)
    kw = TRAFFIC["random"]
    a = run_copy(harness_exe, memory, desc, desc_last, 300, **kw)
    b = run_copy(harness_exe, memory, desc, desc_last, 300, **kw)
    c = run_copy(harness_exe, memory, desc, desc_last, 300, **{**kw, "seed": 8})
    assert a.cycles == b.cycles and np.array_equal(a.ar_log, b.ar_log)
    assert c.cycles != a.cycles
    assert a.beats == c.beats


def test_memory_regions_and_bad_reads(harness_exe):
    rng = np.random.default_rng(2)
    length, base = 100, 0x8000_0000
    memory, desc, desc_last = make_job(rng, length, base=0, slack=0)
    region = memory.tobytes()
    res = run_copy(harness_exe, [(0, b"\0" * 64), (base, region)], desc, desc_last, length, base=base)
    assert res.beats == expected_beats(region, 0, length, 16)
    # A memory that ends 10 beats early: SLVERR, zeros, and the copier's error bit.
    short = run_copy(harness_exe, region[:16 * (length - 10)], desc, desc_last, length, base=0)
    assert short.summary["bad_reads"] == 10
    assert short.regs[REG["STATUS"]] == STATUS_DONE | STATUS_ERR
    assert short.beats[-1] == (length - 1) << 128
    assert any("outside memory" in m for m in short.messages)
    # Injected SLVERR on one beat.
    inj = run_copy(harness_exe, region, desc, desc_last, length, base=0, rresp_error_beat=5)
    assert inj.regs[REG["STATUS"]] == STATUS_DONE | STATUS_ERR and inj.summary["bad_reads"] == 0


def test_timeout(harness_exe):
    rng = np.random.default_rng(3)
    length = 500
    memory, desc, desc_last = make_job(rng, length)
    with pytest.raises(HarnessTimeout) as info:
        run_copy(harness_exe, memory, desc, desc_last, length, max_cycles=200)
    res = info.value.result
    assert res.status == "timeout" and 0 < len(res.beats) < length
    assert res.regs[REG["STATUS"]] & 1          # still busy, final reads worked
    # Too few descriptors: the copier waits forever for the next one.
    res = run_copy(harness_exe, memory, desc[:3], desc_last[:3], length, max_cycles=20_000,
                   check=False)
    assert res.status == "timeout" and res.summary["desc_accepted"] == 3
    assert res.summary["cycles_total"] >= 20_000


def test_bad_arguments(harness_exe):
    with pytest.raises(ValueError):
        run_copy(harness_exe, b"\0" * 64, np.zeros(1, np.uint32), np.ones(1, bool), 1,
                 p_out_ready=0.0)
    with pytest.raises(ValueError, match="does not fit"):
        run_harness(harness_exe, b"", [], [], 0, [(1 << 32, True)])
    with pytest.raises(ValueError, match="waves=True"):
        run_copy(harness_exe, b"\0" * 64, np.zeros(1, np.uint32), np.ones(1, bool), 1,
                 wave="x.fst")


@pytest.mark.parametrize("data_width", [32, 64, 512])
def test_other_widths(data_width):
    """32/64-bit buses (IData/QData) and a 544-bit result (VlWide<17>)."""
    need_verilator()
    exe = build_harness(copier_verilog_path(data_width), "copier")
    bb = data_width // 8
    rng = np.random.default_rng(data_width)
    length = 150
    memory, desc, desc_last = make_job(rng, length, beat_bytes=bb, base=2 * bb)
    res = run_copy(exe, memory, desc, desc_last, length, base=2 * bb,
                   latency=(1, 9), p_out_ready=0.7, p_rvalid=0.8, seed=data_width)
    check_copy(res, memory, desc, desc_last, length, beat_bytes=bb, base=2 * bb)
    assert res.out_width == data_width + 32
    assert res.beat_words.shape == (length, (data_width + 63) // 32)


def test_waves(copier_v, tmp_path):
    """FST where lz4 is installed, VCD otherwise; the dump shows the ports."""
    need_verilator()
    exe = build_harness(copier_v, "copier", waves=True)
    fmt = toolchain.trace_format(True)
    rng = np.random.default_rng(4)
    memory, desc, desc_last = make_job(rng, 20)
    res = run_copy(exe, memory, desc, desc_last, 20, wave=tmp_path / "copier.fst")
    check_copy(res, memory, desc, desc_last, 20)
    assert res.wave == tmp_path / f"copier.{fmt}" and res.wave.stat().st_size > 1000
    if fmt == "vcd":
        text = res.wave.read_text()
        assert "m_axis_out_tdata" in text and "$enddefinitions" in text
        assert f"#{10 * res.summary['cycles_total'] - 5}" in text   # every cycle dumped


def test_speed(harness_exe, record_property):
    """Throughput of the C++ loop on the (small) copier: print it, demand >= 1M cycles/s."""
    rng = np.random.default_rng(0)
    length = 300_000
    memory, desc, desc_last = make_job(rng, length, slack=0)
    desc[:] = 255
    res = run_copy(harness_exe, memory, desc, desc_last, length, latency=(4, 20),
                   p_out_ready=0.8, max_outstanding=4, record_ar=False, poll_interval=1000)
    assert res.summary["beats"] == length and res.last[-1]
    rate = res.cycles_per_s
    record_property("cycles_per_s", rate)
    print(f"\nfast harness, copier: {res.summary['cycles_total']} cycles in {res.sim_wall_s:.3f} s "
          f"= {rate / 1e6:.2f} M cycles/s (process wall {res.wall_s:.3f} s)")
    assert rate >= 1e6


MINIMAL_V = """
// Only the required ports (no tlast, arid/rid or wstrb) plus one unknown input.
module minimal (
  input clk, input rst, input foo,
  input [31:0] s_axis_roi_tdata, input s_axis_roi_tvalid, output s_axis_roi_tready,
  output [95:0] m_axis_out_tdata, output m_axis_out_tvalid, input m_axis_out_tready,
  output [39:0] m_axi_araddr, output [7:0] m_axi_arlen, output [2:0] m_axi_arsize,
  output [1:0] m_axi_arburst, output m_axi_arvalid, input m_axi_arready,
  input [63:0] m_axi_rdata, input [1:0] m_axi_rresp, input m_axi_rlast, input m_axi_rvalid,
  output m_axi_rready,
  input [5:0] s_axil_awaddr, input s_axil_awvalid, output s_axil_awready,
  input [31:0] s_axil_wdata, input s_axil_wvalid, output s_axil_wready,
  output [1:0] s_axil_bresp, output reg s_axil_bvalid, input s_axil_bready,
  input [5:0] s_axil_araddr, input s_axil_arvalid, output s_axil_arready,
  output reg [31:0] s_axil_rdata, output [1:0] s_axil_rresp, output reg s_axil_rvalid,
  input s_axil_rready
);
  reg [31:0] count;                       // descriptors consumed
  reg [31:0] scratch;
  assign s_axis_roi_tready = 1'b1;
  assign m_axis_out_tdata = 96'd0;
  assign m_axis_out_tvalid = 1'b0;
  assign m_axi_araddr = 40'd0; assign m_axi_arlen = 8'd0; assign m_axi_arsize = 3'd0;
  assign m_axi_arburst = 2'd1; assign m_axi_arvalid = 1'b0; assign m_axi_rready = 1'b1;
  wire wr = s_axil_awvalid & s_axil_wvalid & ~s_axil_bvalid;
  assign s_axil_awready = wr; assign s_axil_wready = wr; assign s_axil_bresp = 2'd0;
  assign s_axil_arready = ~s_axil_rvalid; assign s_axil_rresp = 2'd0;
  always @(posedge clk) begin
    if (rst) begin
      count <= 0; scratch <= 0; s_axil_bvalid <= 0; s_axil_rvalid <= 0; s_axil_rdata <= 0;
    end else begin
      if (s_axis_roi_tvalid) count <= count + 1;
      if (wr) begin scratch <= s_axil_wdata; s_axil_bvalid <= 1; end
      else if (s_axil_bready) s_axil_bvalid <= 0;
      if (s_axil_arvalid & ~s_axil_rvalid) begin
        s_axil_rvalid <= 1;
        s_axil_rdata <= s_axil_araddr == 6'd0 ? count : s_axil_araddr == 6'd4 ? scratch : 32'hFFFFFFFF;
      end else if (s_axil_rready) s_axil_rvalid <= 0;
    end
  end
endmodule
"""


def test_minimal_design_without_optional_ports(tmp_path):
    """Hand-written Verilog: optional ports compile out, 40-bit addresses, unknown inputs listed."""
    need_verilator()
    src = tmp_path / "minimal.v"
    src.write_text(MINIMAL_V)
    exe = build_harness(src, "minimal")
    meta = __import__("json").loads(exe.with_name("harness.json").read_text())
    assert meta["undriven_inputs"] == ["foo"]
    descs = [(i * 3, False) for i in range(37)]
    res = run_harness(exe, b"", [(4, 0xABCD)], [], done_reg=0, done_mask=0xFFFF_FFFF,
                      done_value=37, descriptors=descs, final_reads=[0, 4, 8])
    assert res.regs == {0: 37, 4: 0xABCD, 8: 0xFFFF_FFFF}
    assert res.summary["desc_accepted"] == 37 and len(res.beats) == 0 and res.cycles == 0
    assert res.summary["last_out_cycle"] is None and res.summary["first_desc_cycle"] is not None


def test_input_latch_wrapper_is_cycle_identical(copier_v, harness_exe):
    """The default build (inputs behind the rising-edge wrapper) against the plain two-phase one.

    Same traffic, same seed: every beat, register, AR (with its cycle),
    frame end and counter must agree, under random back-pressure and latency.
    """
    from sim.fast_harness import header_port_names, input_latch_wrapper, parse_ports
    text = copier_v.read_text()
    ports = parse_ports(text, "copier")
    assert sorted(header_port_names(text, "copier")) == sorted(ports)
    assert "always @(posedge clk)" in input_latch_wrapper(text, "copier", ports)
    meta = __import__("json").loads(harness_exe.with_name("harness.json").read_text())
    assert meta["input_latch"] is True
    plain = build_harness(copier_v, "copier", input_latch=False)
    assert plain != harness_exe
    rng = np.random.default_rng(11)
    length = 400
    memory, desc, desc_last = make_job(rng, length)
    for kw in (TRAFFIC["random"], dict(latency=1), dict(latency=(2, 30), p_out_ready=0.3, seed=5)):
        a = run_copy(harness_exe, memory, desc, desc_last, length, **kw)
        b = run_copy(plain, memory, desc, desc_last, length, **kw)
        check_copy(a, memory, desc, desc_last, length)
        assert np.array_equal(a.beat_words, b.beat_words) and np.array_equal(a.last, b.last)
        assert a.regs == b.regs and np.array_equal(a.ar_log, b.ar_log)
        assert np.array_equal(a.frame_ends, b.frame_ends)
        timing = ("sim_wall_ns", "sim_cycles_per_s", "sim_cpu_ns")
        assert {k: v for k, v in a.summary.items() if k not in timing} == \
               {k: v for k, v in b.summary.items() if k not in timing}


def test_header_port_names():
    from sim.fast_harness import header_port_names
    assert header_port_names(MINIMAL_V, "minimal")[:4] == ["clk", "rst", "foo", "s_axis_roi_tdata"]
    assert header_port_names("module m(a, \\b$1 , c);\n input a;\nendmodule", "m") == ["a", "b$1", "c"]
    assert header_port_names("module m #(parameter W = 8) (input [W-1:0] a, b, output reg c);", "m") == \
        ["a", "b", "c"]
    assert header_port_names("module other(a);", "m") is None
