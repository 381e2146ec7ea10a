"""Cycle-accurate simulation of the RoI-pool engine.

:func:`simulate` / :func:`simulate_workload` run a RoIPool call on the
generated Verilog (Verilator harness, cocotb on Verilator or Icarus) or in
Amaranth's simulator and return a :class:`SimResult`; ``python -m sim``
(``make sim``) is the command line.  See ``sim/README.md``.
"""

from .api import SIMULATORS, SimResult, measured_fmax, simulate, simulate_workload, simulator_available
from .traffic import DEFAULT_READ_LATENCY, Traffic

__all__ = ["SIMULATORS", "SimResult", "simulate", "simulate_workload", "simulator_available", "measured_fmax",
           "Traffic", "DEFAULT_READ_LATENCY"]
