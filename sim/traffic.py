"""What the engine's surroundings do: memory latency, idle cycles and back-pressure.

One :class:`Traffic` describes the environment for every simulator, so that
the same run means the same thing on each of them.

Memory model (all simulators)
-----------------------------
The feature map sits in a memory that answers the engine's AXI4 read bursts
(INCR, one beat per cycle at most, in order, one ID).

* **Read latency** ``latency`` (default :data:`DEFAULT_READ_LATENCY` = 20
  cycles, e.g. 100 ns of DDR access at 200 MHz): the first beat of a burst
  whose AR handshake completes at clock edge ``t`` completes its R
  handshake no earlier than edge ``t + latency``; with ``rready`` high and
  no earlier burst still queued, exactly then.  The other beats of the
  burst follow back to back.  A pair ``(lo, hi)`` draws the latency
  uniformly per burst.
* **arready** is high in every cycle that is not a pause: the memory accepts
  any number of outstanding bursts.  The engine bounds its own outstanding
  reads (it issues a burst only when its beat FIFO has room for all of it),
  which is what the latency hiding relies on.
* **rvalid** is high whenever a beat is due and the cycle is not a pause;
  once high it stays high (data stable) until ``rready``.
* Pauses: ``arready`` is low with probability ``1 - arready`` per cycle,
  a due beat is withheld with probability ``1 - rvalid``, the descriptor
  source idles with probability ``1 - roi_valid`` and the result sink
  drops ``tready`` with probability ``1 - out_ready``.  Draws come from a
  generator seeded with ``seed``; each simulator has its own generator, so
  random runs are reproducible per simulator, not across simulators.

Where the simulators differ
---------------------------
* ``verilator`` (the C++ harness): minimum latency 1 (the first beat can
  complete on the edge after its AR).
* ``pysim`` (Amaranth simulator): minimum latency 1.
* ``cocotb-verilator`` / ``icarus`` (cocotbext-axi ``AxiRamRead``): minimum
  latency 2, because cocotb hands a beat to the R channel model half a cycle
  before the edge that presents it.  With the same latency and no pauses,
  the harness and the cocotb bench take the same number of cycles (tested).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["DEFAULT_READ_LATENCY", "Traffic"]

#: Memory read latency in cycles when none is given.
DEFAULT_READ_LATENCY = 20


@dataclass(frozen=True)
class Traffic:
    """Memory latency and the probabilities of the handshakes around the engine.

    Attributes
    ----------
    roi_valid : float
        Per-cycle probability that the descriptor source offers its next beat.
    out_ready : float
        Per-cycle probability that the result sink is ready.
    arready : float
        Per-cycle probability that the memory accepts a read address.
    rvalid : float
        Per-cycle probability that a due read beat is offered.
    latency : int or (int, int)
        Read latency in cycles (see the module docstring), or a range drawn
        per burst.
    rresp_error_at : int, optional
        Index (0-based) of a read beat answered with SLVERR.
    seed : int
        Seed of every random choice.
    """

    roi_valid: float = 1.0
    out_ready: float = 1.0
    arready: float = 1.0
    rvalid: float = 1.0
    latency: int | tuple = DEFAULT_READ_LATENCY
    rresp_error_at: int | None = None
    seed: int = 1

    def __post_init__(self):
        for name in ("roi_valid", "out_ready", "arready", "rvalid"):
            p = getattr(self, name)
            if not 0.0 < p <= 1.0:
                raise ValueError(f"{name} must be a probability in (0, 1], got {p}")
        lo, hi = self.latency_range
        if lo < 1 or hi < lo:
            raise ValueError(f"latency must be >= 1 (a pair: lo <= hi), got {self.latency}")

    @property
    def latency_range(self) -> tuple[int, int]:
        """``(lo, hi)`` of the read latency."""
        lat = self.latency
        return (int(lat), int(lat)) if isinstance(lat, int) else (int(lat[0]), int(lat[1]))

    @property
    def ideal(self) -> bool:
        """No pauses anywhere (latency aside)."""
        return min(self.roi_valid, self.out_ready, self.arready, self.rvalid) == 1.0

    @classmethod
    def random(cls, **overrides) -> "Traffic":
        """Busy surroundings for tests: frequent pauses and a 1-12 cycle latency."""
        base = cls(roi_valid=0.8, out_ready=0.8, arready=0.7, rvalid=0.8, latency=(1, 12), seed=0)
        return replace(base, **overrides)
