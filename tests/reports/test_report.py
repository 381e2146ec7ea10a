"""``make report``: the report builds in QUICK mode, every figure carries its
provenance, a missing GPU file reads "not measured", the plots are PNGs.

The report fixture runs the real flow on one tiny configuration (the first of
the QUICK set: Yosys + nextpnr, about a minute cold, then cached under
build/fpga) and the ``small`` workload, whose RTL is simulated with Amaranth's
simulator (about 20 s cold, cached; no C++ build needed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers

import numpy as np
import pytest

from reports import comparison, plots, sweep
from reports.__main__ import (PLOT_FILES, _earlier_text, build_report, earlier_rtl_rule, full_options, quick_options,
                              workload_engines)
from reports.provenance import KINDS, REQUIRED_KEYS, file_date

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

#: Keys whose numeric value is a figure of the report.
FIGURE_KEYS = {"ms", "cycles", "time_ms", "rois_per_s", "fmax_mhz", "fmax_mhz_median", "lut4", "ff",
               "bram_dp16kd", "dsp_mult18", "lutram_ramw"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("report-out")
    data = tmp_path_factory.mktemp("report-data")   # empty: no gpu-*.json, no fpga-default.json
    opts = quick_options(lanes=sweep.QUICK_LANES[:1], workloads=("small",), simulator="pysim",
                         cpu_runs=1, out_dir=out, data_dir=data, progress=False)
    report = build_report(opts)
    return report, out, opts


def test_report_files_and_sections(built):
    report, out, _ = built
    for name in ("report.md", "report.html", "report.json", "readme-excerpt.md", *PLOT_FILES.values()):
        assert (out / name).is_file(), name
    on_disk = json.loads((out / "report.json").read_text())
    for key in ("schema", "mode", "run", "settings", "fpga", "workloads", "plots", "timing", "gpu_files"):
        assert key in on_disk, key
    assert on_disk["mode"] == "quick"
    # Captioned with what ran it (no command line given here: the make target).
    assert on_disk["command"] == "make report QUICK=1"
    assert "`make report QUICK=1`" in (out / "readme-excerpt.md").read_text()
    (row,) = on_disk["fpga"]["configs"]
    assert row["lanes"] == sweep.QUICK_LANES[0] and row["status"] == "ok"
    assert row["lut4"] > 0 and row["ff"] > 0 and 1 < row["fmax_mhz_median"] < 1000
    assert row["fmax_mhz_per_seed"] == [row["fmax_mhz_median"]]
    # What limits it: nextpnr's critical path of that seed, whose delay is the fmax.
    (path,) = row["critical_path_per_seed"]
    assert path["start_signal"] and path["end_signal"] and path["routing_ns"] + path["logic_ns"] > 0
    assert abs(1000 / path["delay_ns"] - row["fmax_mhz_median"]) < 0.05 * row["fmax_mhz_median"]
    (w,) = on_disk["workloads"]
    assert w["workload"] == "small" and w["num_rois"] == 32
    rtl = w["cycles"]["rtl"]
    assert rtl["status"] == "ok" and rtl["bit_exact"] is True
    assert w["cycles"]["source"] == "RTL" and w["cycles"]["cycles"] == rtl["cycles"]
    # Within a few percent of the bandwidth bound (the engine overlaps one RoI's
    # reads with another's writes, so it may even beat the per-RoI sum).
    assert 0.8 < rtl["cycles"] / w["bound"]["cycles"] < 1.5
    assert "Amaranth simulator" in rtl["provenance"]["where"]
    model = w["cycles"]["model"]
    if model["status"] == "ok":      # sim.cycle_model present: a figure per RoI beside the RTL's total
        assert model["cycles"] > 0 and len(model["per_roi"]) == w["num_rois"]
    else:
        assert model["status"] == "unavailable" and "cycle_model" in model["reason"]
    assert w["cpu"]["golden"]["status"] == "ok" and w["cpu"]["golden"]["ms"] > 0
    md = (out / "report.md").read_text()
    for heading in ("## Size and speed on an ECP5", "## Standard workloads on the engine",
                    "## Engine vs GPU vs CPU", "## Provenance"):
        assert heading in md
    assert row["label"] in md and "<table>" in (out / "report.html").read_text()
    assert "What limits fmax" in md and f"`{path['start_signal']}` -> `{path['end_signal']}`" in md


def test_median_seed():
    from reports.__main__ import median_seed
    assert median_seed({"fmax_mhz_per_seed": [75.8, 81.1, 78.7]}) == 2
    assert median_seed({"fmax_mhz_per_seed": [80.0, None, 70.0]}) == 2      # even count: the lower one (70.0)
    assert median_seed({"fmax_mhz_per_seed": [None, None]}) is None


def _walk(obj, inherited, path, problems):
    """Every numeric figure must sit in a dict with a provenance record, or below one."""
    if isinstance(obj, dict):
        prov = obj.get("provenance") if isinstance(obj.get("provenance"), dict) else inherited
        for k, v in obj.items():
            if k in FIGURE_KEYS and isinstance(v, numbers.Number) and not isinstance(v, bool):
                if prov is None:
                    problems.append(f"{path}.{k} has no provenance")
                else:
                    missing = [r for r in REQUIRED_KEYS if r not in prov]
                    if missing or prov["kind"] not in KINDS:
                        problems.append(f"{path}.{k}: bad provenance {prov}")
            elif k not in ("provenance", "settings"):
                _walk(v, prov, f"{path}.{k}", problems)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _walk(v, inherited, f"{path}[{i}]", problems)


def test_every_figure_carries_provenance(built):
    report, _, _ = built
    problems = []
    _walk(report, None, "report", problems)
    assert not problems, problems[:5]
    # The top-level run record must not stand in for the figures' own records.
    row = report["fpga"]["configs"][0]
    assert row["provenance"]["kind"] == "measured" and "nextpnr" in row["provenance"]["where"]
    assert row["provenance"]["verilog_sha256"] and row["provenance"]["hdl_sha256"]
    w = report["workloads"][0]
    assert w["cpu"]["golden"]["provenance"]["kind"] == "measured"
    assert w["bound"]["provenance"]["kind"] == "derived"
    for pe in report["plots"]:
        assert pe["provenance"], pe["file"]


def test_missing_gpu_file_is_not_measured_never_a_number(built):
    report, out, _ = built
    for w in report["workloads"]:
        (g,) = w["gpu"]
        assert g["device"] is None
        for which in ("ours", "torchvision"):
            assert g[which]["status"] == comparison.NOT_MEASURED
            assert "ms" not in g[which]
        assert not [k for k in w["speedup"] if k.startswith("gpu")]
    md = (out / "report.md").read_text()
    table = md[md.index("## Engine vs GPU vs CPU"):md.index("## Provenance")]
    row = next(line for line in table.splitlines() if line.startswith("| small"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == comparison.NOT_MEASURED and cells[3] == comparison.NOT_MEASURED


def test_plots_are_valid_pngs(built):
    import matplotlib.image

    _, out, _ = built
    for name in PLOT_FILES.values():
        data = (out / name).read_bytes()
        assert data[:8] == PNG_MAGIC, name
        img = matplotlib.image.imread(out / name)
        assert img.shape[0] > 300 and img.shape[1] > 600, (name, img.shape)
        assert float(np.asarray(img).std()) > 0.01, f"{name} is blank"


def test_second_run_is_served_from_the_caches(built, tmp_path):
    _, _, opts = built
    again = build_report(dataclasses.replace(opts, out_dir=tmp_path))
    assert all(r["cached"] for r in again["fpga"]["configs"])
    assert again["workloads"][0]["cpu"]["golden"]["cached"]
    assert again["workloads"][0]["cycles"]["rtl"]["cached"]


# --------------------------------------------------------------------------
# pieces, without tools
# --------------------------------------------------------------------------

def _gpu_file(tmp_path, *, bit_exact=True):
    """A host.gpu_bench report with one workload, in its schema."""
    doc = {
        "date_utc": "2026-11-20T12:00:00+00:00", "git_commit": "f" * 40, "git_dirty": False,
        "device": {"name": "NVIDIA Test GPU", "compute_capability": "9.0", "driver_version": 12040,
                   "runtime_version": 12040, "cupy_version": "13.3.0"},
        "torchvision": "torch 2.14.1", "method": {"timer": "CUDA events around the kernel launch alone"},
        "results": [
            {"workload": "small", "dtype": "int16",
             "ours": {"tiled": {"median_ms": 0.012, "runs": 50, "bit_exact": bit_exact},
                      "simple": {"median_ms": 0.020, "runs": 50, "bit_exact": True}},
             "torchvision": {"skipped": "dtype not supported by torchvision"}},
            {"workload": "small", "dtype": "float32",
             "ours": {"tiled": {"median_ms": 0.011, "runs": 50, "bit_exact": True}},
             "torchvision": {"median_ms": 0.031, "runs": 50, "bit_exact": True}},
        ],
    }
    (tmp_path / "gpu-nvidia-test-gpu.json").write_text(json.dumps(doc))
    return doc


def test_gpu_figures_come_from_the_file_with_device_and_provenance(tmp_path):
    doc = _gpu_file(tmp_path)
    (tmp_path / "gpu-broken.json").write_text("{not json")
    files = comparison.read_gpu_files(tmp_path)
    assert [f.get("device") for f in files] == [None, "NVIDIA Test GPU"]   # the broken one is listed, unused
    (e,) = comparison.gpu_times("small", "int16", files)
    assert e["device"] == "NVIDIA Test GPU"
    assert e["ours"] == {"status": "ok", "dtype": "int16", "ms": 0.012, "kernel": "tiled", "runs": 50,
                         "bit_exact": True}
    assert e["torchvision"]["ms"] == 0.031 and e["torchvision"]["dtype"] == "float32"
    p = e["provenance"]
    assert p["kind"] == "measured" and p["commit"] == doc["git_commit"] and p["when"] == doc["date_utc"]
    assert "NVIDIA Test GPU" in p["where"]
    assert comparison.gpu_times("fpn-p2", "int16", files)[0]["ours"]["status"] == comparison.NOT_MEASURED


def test_a_gpu_result_that_is_not_bit_exact_is_not_used(tmp_path):
    _gpu_file(tmp_path, bit_exact=False)
    (e,) = comparison.gpu_times("small", "int16", comparison.read_gpu_files(tmp_path))
    assert e["ours"]["kernel"] == "simple" and e["ours"]["ms"] == 0.020


def test_rtl_row_is_labelled_and_keeps_the_model_beside_it(monkeypatch):
    rtl = {"status": "ok", "cycles": 5400, "bound": 5248, "counters": {}, "per_roi": None, "wall_s": 1.0,
           "provenance": {"kind": "measured", "where": "stand-in", "when": "2026-01-01", "commit": None,
                          "dirty": None, "commit_text": "x"}}
    monkeypatch.setattr(comparison, "rtl_cycles", lambda *a, **k: rtl)
    got = comparison.engine_cycles("small", "int16", 8, 5248, rtl_max_cycles=1e5)
    assert got["source"] == "RTL" and got["cycles"] == 5400 and got["provenance"] is rtl["provenance"]
    assert "status" in got["model"]          # the model's entry is kept whatever its status
    over = comparison.engine_cycles("small", "int16", 8, 5248, rtl_max_cycles=5000)
    assert over["rtl"]["status"] == "not simulated" and over["source"] in ("model", None)


def test_an_rtl_run_that_is_not_bit_exact_gives_no_cycles(monkeypatch):
    import types

    import sim

    wrong = types.SimpleNamespace(cycles=5000, bound=5248, bit_exact=False, counters={}, wall_s=1.0, build_s=0.0,
                                  cycles_per_s=1e5, config={"engine": {}, "notes": [], "traffic": {}})
    monkeypatch.setattr(sim, "simulate_workload", lambda *a, **k: wrong)
    monkeypatch.setattr(comparison, "cached", lambda kind, key, compute, refresh=False: (compute(), False))
    r = comparison.rtl_cycles("small", "int16", 8)
    assert r["status"] == "failed" and "differs" in r["reason"] and "cycles" not in r


def test_fmax_comes_only_from_a_build_that_holds_the_workload(tmp_path):
    shape = comparison.geometry("fast-rcnn-vgg16", "int16", 8)["problem"]   # C=512, 38x50, 7x7
    prov = {"kind": "measured"}
    small = {"status": "ok", "fmax_mhz_median": 90.0, "lanes": 8, "dtype": "int16", "label": "small", "lut4": 10,
             "engine": sweep.engine_kwargs(8, "int16", {"max_c": 16}), "provenance": prov}
    assert comparison.fmax_for(shape, 8, "int16", [small], None)["fmax_mhz"] is None
    default = {**small, "label": "default", "fmax_mhz_median": 80.0, "lut4": 99,
               "engine": sweep.engine_kwargs(8, "int16")}
    assert comparison.fmax_for(shape, 8, "int16", [small, default], None)["fmax_mhz"] == 80.0
    assert comparison.fmax_for(shape, 4, "int16", [small, default], None)["fmax_mhz"] is None
    # A build that would hold it but does not fit says so (not "not measured").
    big = {**default, "status": "does not fit", "fmax_mhz_median": None, "label": "big",
           "reason": "ERROR: design exceeds the device: TRELLIS_COMB 88,436 of 83,640 (105 %)"}
    got = comparison.fmax_for(shape, 8, "int16", [small, big], None)
    assert got["fmax_mhz"] is None and got["status"] == "does not fit" and "big" in got["reason"]
    assert "105 %" in got["reason"]
    assert comparison.fmax_for(shape, 8, "int16", [small, big, default], None)["fmax_mhz"] == 80.0
    assert "status" not in comparison.fmax_for(shape, 8, "int16", [small], None)
    # The committed record stands in, flagged stale when hdl/ changed since.
    rec = sweep.default_record({**default, "fmax_mhz_per_seed": [80.0], "fmax_mhz_min": 80.0,
                                "fmax_mhz_max": 80.0, "seeds": [1], "reason": None,
                                **{k: 1 for k in ("lut4_carry", "ff", "bram_dp16kd", "dsp_mult18", "dsp_alu54",
                                                  "lutram_ramw", "comb")}, "utilisation": {},
                                "provenance": {"hdl_sha256": "0" * 64, "verilog_sha256": "1" * 64,
                                               "source": "restored from reports/data/fpga-results.json"}},
                               sweep.FpgaSettings())
    assert "source" not in rec["provenance"]
    (tmp_path / "fpga-default.json").write_text(json.dumps(rec))
    got = comparison.fmax_for(shape, 8, "int16", [], sweep.read_default_record(tmp_path / "fpga-default.json"))
    assert got["fmax_mhz"] == 80.0 and got["stale"] is True


# Condensed from nextpnr-0.11.1 (yowasp) placing 40 MULT18X18D on the 12k part.
NO_FIT = """nextpnr-ecp5 failed (exit status 125): ERROR: Unable to place cell 'p[2]_MULT18X18D_P0', \
no BELs remaining to implement cell type 'MULT18X18D'
in build/fpga/dsp-a7cfe26ad7acb168
last lines of nextpnr.log:
Info: 	          MULT18X18D:      40/     28   142%
ERROR: Unable to place cell 'p[2]_MULT18X18D_P0', no BELs remaining to implement cell type 'MULT18X18D'
"""


def test_failures_are_classified():
    assert sweep.classify_failure(NO_FIT)[0] == "does not fit"
    assert "MULT18X18D" in sweep.classify_failure(NO_FIT)[1]
    assert sweep.classify_failure("nextpnr-ecp5 failed (exit status 1): ERROR: Failed to route arc 3 of net 'x'")[0] \
        == "routing failed"
    assert sweep.classify_failure("yosys failed (exit status 1): d.v:2: ERROR: syntax error")[0] == "synthesis failed"
    assert sweep.classify_failure("nextpnr-ecp5 failed (exit status 137)")[0] == "tool failure"
    assert sweep.classify_failure("yosys failed (exit status 137)")[0] == "tool failure"
    # Yosys 0.70 (YoWASP) on a 4-lane 14x14 build: ABC9 exits without an ERROR line.
    status, reason = sweep.classify_failure(
        "yosys failed (exit status 1)\nin build/fpga/x\ncommand: -p synth_ecp5\nlast lines of build/fpga/x/yosys.log:\n"
        "2.46.18.5. Executing ABC9.\nRunning ABC command: \"/yosys-abc\" -s -f <abc-temp-dir>/abc.script 2>&1\n")
    assert status == "synthesis failed" and "synthesis failed" in sweep.DETERMINISTIC_FAILURES
    assert reason.startswith("yosys failed (exit status 1); its log ends: `Running ABC command")


def test_deterministic_failures_are_archived_and_served_without_tools(tmp_path, monkeypatch):
    settings = sweep.FpgaSettings(build_dir=tmp_path / "fpga", failure_dir=tmp_path / "failures",
                                  archive=tmp_path / "data" / "fpga-results.json", seeds=(1, 2))
    key = "k" * 64
    failed = sweep._failure_path(settings, key, 1)
    failed.parent.mkdir(parents=True)
    record = {"status": "does not fit", "reason": NO_FIT.splitlines()[-1], "seed": 1, "date": "2026-12-03T16:00:00+00:00",
              "log": "/somewhere/nextpnr.log", "demand": None, "commit": "abc", "dirty": False}
    failed.write_text(json.dumps(record))
    sweep._failure_path(settings, key, 2).write_text(json.dumps({**record, "status": "tool failure", "seed": 2}))
    row = {"fpga_key": key, "seeds": [1, 2]}
    path = sweep.archive_failures([row], settings)
    entries = json.loads(path.read_text())["entries"]
    # Only the deterministic failure, without this machine's log path.
    assert list(entries) == [key] and list(entries[key]) == ["1"] and "log" not in entries[key]["1"]

    # A fresh cache (another clone): the archived seed is served, no tool runs;
    # the seed whose failure was not deterministic is run again.
    fresh = dataclasses.replace(settings, failure_dir=tmp_path / "other")
    ran = []
    monkeypatch.setattr(sweep, "_synthesize", lambda v, seeds, s: ran.append(seeds) or {"fmax_mhz_median": 1.0})
    got = sweep._run_seed(tmp_path / "x.v", 1, fresh, key, tmp_path / "fpga")
    assert not got["ok"] and got["cached"] and got["status"] == "does not fit" and not ran
    assert got["restored_from"].endswith("fpga-failures.json")
    assert sweep._run_seed(tmp_path / "x.v", 2, fresh, key, tmp_path / "fpga")["ok"] and ran == [(2,)]
    # Another key (other Verilog, options or tools) is not served.
    assert sweep._run_seed(tmp_path / "x.v", 1, fresh, "j" * 64, tmp_path / "fpga")["ok"]
    # Without an archive nothing is written or read.
    assert sweep.archive_failures([row], dataclasses.replace(settings, archive=None)) is None

    # Yosys stopping with an error is recorded too, dated by its log (no nextpnr log exists).
    folder = tmp_path / "synth"
    folder.mkdir()
    (folder / "yosys.log").write_text("Running ABC command\n")

    def yosys_stops(v, seeds, s):
        raise RuntimeError("yosys failed (exit status 1)\nin x\ncommand: y\nlast lines of yosys.log:\nRunning ABC command\n")
    monkeypatch.setattr(sweep, "_synthesize", yosys_stops)
    got = sweep._run_seed(tmp_path / "x.v", 1, fresh, "s" * 64, folder)
    assert got["status"] == "synthesis failed" and not got["cached"]
    assert got["date"] == file_date(folder / "yosys.log")
    assert sweep._run_seed(tmp_path / "x.v", 1, fresh, "s" * 64, folder)["cached"]


def test_a_combination_the_engine_rejects_is_reported_with_its_reason(tmp_path):
    row = sweep.synthesize_config(sweep.engine_kwargs(64, "float32"), sweep.FpgaSettings(build_dir=tmp_path))
    assert row["status"] == "rejected" and "1024" in row["reason"]
    assert row["lut4"] is None and row["fmax_mhz_median"] is None
    assert not any(tmp_path.iterdir())       # no tool ran


def test_pareto_front():
    pts = [(100, 1.0), (200, 3.0), (150, 0.5), (300, 2.0), (400, 5.0)]
    assert plots.pareto_front(pts) == [0, 1, 4]


def test_a_partial_sweep_names_its_configurations():
    import argparse

    from reports.__main__ import _pair
    assert full_options(pairs=((4, "int8"), (8, "int16"))).sweep_pairs() == [(4, "int8"), (8, "int16")]
    full = full_options().sweep_pairs()
    assert len(full) == len(sweep.SWEEP_LANES) * len(sweep.SWEEP_DTYPES) and full[0] == (4, "int8")
    assert _pair("16:bfloat16") == (16, "bfloat16")
    for bad in ("16", "x:int8", "8:"):
        with pytest.raises(argparse.ArgumentTypeError):
            _pair(bad)


def test_rows_recorded_for_an_earlier_rtl_are_shown_marked_only_when_nothing_current_exists(tmp_path, monkeypatch):
    settings = sweep.FpgaSettings(build_dir=tmp_path / "fpga", failure_dir=tmp_path / "failures",
                                  archive=tmp_path / "data" / "fpga-results.json", seeds=(1,))
    kwargs = sweep.engine_kwargs(2, "int8", sweep.QUICK_SIZES)
    verilog, config = sweep.generate_verilog(kwargs)
    current = hashlib.sha256(verilog.read_bytes()).hexdigest()
    prov = {"kind": "measured", "where": "test", "when": "2026-12-01T10:00:00+00:00", "commit": "abc1234" + "0" * 33,
            "dirty": False, "verilog_sha256": "0" * 64}
    measured = {**sweep._row_base(kwargs, sweep.engine_defaults()), **sweep._empty_figures(), "engine": config,
                "status": "ok", "reason": None, "seeds": [1], "fmax_mhz_per_seed": [77.0], "fmax_mhz_median": 77.0,
                "lut4": 1234, "cached": False, "throughput": {"rois_per_s": 5.0}, "provenance": prov}
    flaky = {**measured, "dtype": "int16", "engine": {**config, "dtype": "int16"}, "status": "tool failure"}
    restored = {**measured, "provenance": {**prov, "source": "restored from reports/data/fpga-results.json"}}
    path = sweep.record_rows([restored, flaky], settings)
    entries = json.loads(path.read_text())["entries"]
    # Recorded as measured: where this run found it is not part of the file (a report on a fresh
    # clone leaves the committed files as they were).
    assert entries[sweep.row_id(kwargs, settings)]["provenance"] == prov
    # Keyed by configuration and flow; a tool failure is not a property of the design.
    assert list(entries) == [sweep.row_id(kwargs, settings)]
    assert not {"cached", "throughput"} & set(entries[sweep.row_id(kwargs, settings)])
    assert sweep.row_id(kwargs, dataclasses.replace(settings, seeds=(1, 2))) != sweep.row_id(kwargs, settings)

    ran = []

    def no_tools(v, seeds, s):
        ran.append(seeds)
        raise RuntimeError("nextpnr-ecp5 failed (exit status 137)")
    monkeypatch.setattr(sweep, "_synthesize", no_tools)
    row = sweep.synthesize_config(kwargs, settings, earlier_rtl=True)
    assert not ran and row["status"] == "ok" and row["fmax_mhz_median"] == 77.0 and row["lut4"] == 1234
    mark = row["earlier_rtl"]
    assert mark["commit"] == prov["commit"] and mark["verilog_sha256"] == "0" * 64
    assert mark["current_verilog_sha256"] == current
    assert "earlier RTL" in row["provenance"]["source"] and row["provenance"]["commit"] == prov["commit"]
    assert "earlier RTL (commit abc1234)" in _earlier_text(row)
    # Never recorded again as a measurement of its own, nor archived by key.
    again = sweep.record_rows([row], settings)
    assert json.loads(again.read_text())["entries"] == entries
    # Not asked for: the tools run on the current Verilog.
    assert sweep.synthesize_config(kwargs, settings)["status"] == "tool failure" and ran == [(1,)]
    # A result for the current Verilog (here a committed failure) wins over the recorded row.
    key, _ = sweep._fpga_folder(verilog, settings)
    sweep._failure_path(settings, key, 1).parent.mkdir(parents=True, exist_ok=True)
    sweep._failure_path(settings, key, 1).write_text(json.dumps(
        {"status": "does not fit", "reason": "x", "seed": 1, "date": None, "demand": None}))
    current_row = sweep.synthesize_config(kwargs, settings, earlier_rtl=True)
    assert current_row["status"] == "does not fit" and not current_row.get("earlier_rtl") and ran == [(1,)]
    # A recorded row of the same Verilog is not "earlier".
    sweep._failure_path(settings, key, 1).unlink()
    sweep.record_rows([{**measured, "provenance": {**prov, "verilog_sha256": current}}], settings)
    assert sweep.synthesize_config(kwargs, settings, earlier_rtl=True)["status"] == "tool failure"

    # Workload times use a current build before an earlier one, and flag the earlier one.
    shape = comparison.geometry("fast-rcnn-vgg16", "int16", 8)["problem"]
    base = {"status": "ok", "lanes": 8, "dtype": "int16", "lut4": 10, "engine": sweep.engine_kwargs(8, "int16"),
            "provenance": prov}
    old = {**base, "label": "old", "fmax_mhz_median": 90.0, "earlier_rtl": mark}
    new = {**base, "label": "new", "fmax_mhz_median": 80.0}
    assert comparison.fmax_for(shape, 8, "int16", [old, new], None)["fmax_mhz"] == 80.0
    got = comparison.fmax_for(shape, 8, "int16", [old], None)
    assert got["fmax_mhz"] == 90.0 and got["stale"] is True


def test_only_a_full_report_shows_earlier_rtl_rows_and_never_for_the_default_build():
    rule = earlier_rtl_rule(full_options())
    assert rule(sweep.engine_kwargs(16, "int8")) and rule(sweep.engine_kwargs(8, "int16", {"max_pooled": 14}))
    assert not rule(sweep.engine_kwargs(8, "int16"))
    assert not earlier_rtl_rule(full_options(earlier_rtl=False))(sweep.engine_kwargs(16, "int8"))
    assert not earlier_rtl_rule(quick_options())(sweep.engine_kwargs(4, "int8", sweep.QUICK_SIZES))


@pytest.mark.parametrize("failing", [{}, {(8, 14): "does not fit"},
                                     {(8, 14): "does not fit", (4, 14): "does not fit"},
                                     {(8, 14): "does not fit", (4, 14): "synthesis failed"}])
def test_a_workload_whose_build_does_not_fit_runs_on_fewer_lanes(monkeypatch, failing):
    # faster-rcnn-r50-c4 needs max_pooled=14; "small" fits the default build.
    ran = []

    def fake_sweep(configs, settings, *, progress=None, desc=None, earlier_rtl=None):
        rows = []
        for c in configs:
            ran.append((c["lanes"], c["max_pooled"]))
            status = failing.get((c["lanes"], c["max_pooled"]), "ok")
            rows.append({"engine": dict(c), "label": sweep.config_label(c), "lanes": c["lanes"], "status": status,
                         "reason": None if status == "ok" else f"{status}: TRELLIS_COMB 105 %"})
        return rows
    monkeypatch.setattr(sweep, "run_sweep", fake_sweep)
    opts = full_options(workloads=("small", "faster-rcnn-r50-c4"), progress=False)
    builds, engines = workload_engines(opts, [], [])
    assert engines["small"] == {"lanes": 8, "note": None, "brief": None}
    r50 = engines["faster-rcnn-r50-c4"]
    # Each build placed once: the default, the sized one, and the narrower one only when needed.
    assert ran == [(8, 7), (8, 14)] + ([(4, 14)] if failing else [])
    assert [(b["lanes"], b["engine"]["max_pooled"]) for b in builds] == ran
    if not failing:
        assert r50 == {"lanes": 8, "note": None, "brief": None}
    elif (4, 14) not in failing:
        assert r50["lanes"] == 4 and r50["note"].startswith("runs on L4 int16")
        assert "L8 int16" in r50["note"] and "does not fit" in r50["note"] and "105 %" in r50["note"]
        assert r50["brief"] == "on L4 int16 (L8 int16 (max_pooled=14) does not fit)"
    else:
        # No narrower build placed: the default lanes stay, and the note says what was tried.
        assert r50["lanes"] == 8 and "no narrower build placed" in r50["note"]
        assert f"L4 int16 (max_pooled=14): {failing[(4, 14)]}" in r50["note"]
        assert r50["brief"] == f"L8 int16 (max_pooled=14) does not fit; L4 int16 (max_pooled=14): {failing[(4, 14)]}"
    # A sweep row already holding the build is used, not placed again.
    sweep_rows = fake_sweep([sweep.engine_kwargs(8, "int16")], None)
    ran.clear()
    builds, again = workload_engines(opts, [sweep.engine_kwargs(8, "int16")], sweep_rows)
    assert again == engines and (8, 7) not in ran
    # QUICK places no workload builds and keeps the default lanes.
    ran.clear()
    assert workload_engines(quick_options(workloads=("faster-rcnn-r50-c4",)), [], []) == (
        [], {"faster-rcnn-r50-c4": {"lanes": quick_options().engine_lanes, "note": None, "brief": None}})
    assert ran == []


def test_command_line_captions_the_report(monkeypatch):
    """A partial run (``--configs``) is captioned with its own command line, not as ``make report``."""
    import reports.__main__ as entry

    seen = {}

    def capture(opts):
        seen["opts"] = opts
        raise KeyboardInterrupt   # stop before any tool runs

    monkeypatch.setattr(entry, "build_report", capture)
    with pytest.raises(KeyboardInterrupt):
        entry.main(["--configs", "4:int8", "--no-workload-builds"])
    assert seen["opts"].command == "python -m reports --configs 4:int8 --no-workload-builds"
    with pytest.raises(KeyboardInterrupt):
        entry.main([])
    assert seen["opts"].command is None
