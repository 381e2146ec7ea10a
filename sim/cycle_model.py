"""Exact cycle model of the RoI-pool engine, derived from its microarchitecture.

:func:`predict` returns the number of clock cycles the engine
(:class:`hdl.engine.RoIPoolEngine`) takes for a RoIPool call, without
simulating it: the cycle count of the Verilator harness, to the cycle, under
the conditions below.  Reports use it for sweeps too large to simulate (fpn-p2
with 1000 RoIs, lanes and element types); ``tests/sim/test_cycle_model.py``
holds it equal to the RTL on randomised cases.  Nothing here is fitted to
measurements: every rule below is a register, FIFO or handshake of the RTL.

Exactness conditions (the surroundings of :mod:`sim.traffic` with no pauses)
------------------------------------------------------------------------------
* descriptors offered back to back (``s_axis_roi_tvalid`` always 1),
* the result stream always ready (``m_axis_out_tready`` always 1),
* ``m_axi_arready`` always 1 and a fixed read latency ``read_latency``: the
  first beat of a burst whose AR handshake is at edge ``t`` is delivered at
  edge ``t + read_latency``, or right after the previous burst's last beat,
  the beats of a burst back to back (:class:`sim.traffic.Traffic`),
* no errors (every descriptor well formed, batch indices in range: what
  :func:`golden.validate` and :mod:`hdl.job` guarantee), one run from reset.

``cycles`` counts, as the simulators do, from the cycle the first descriptor
beat is accepted to the cycle the last result beat is accepted, both
included.  ``busy_cycles`` is the ``BUSY_CYCLES`` register (START to DONE),
given that the first descriptor is offered by the time the parser is ready
(the harness offers it exactly then).

How it works
------------
Every unit of the engine handles its items in order (descriptors, bursts,
beats, row descriptors, vertical ops, output tiles) and can only wait for
*earlier* items of another unit (a full FIFO waits for an older entry to
leave, a busy bank for an older tile's output).  So the time of each event
is a max-plus recurrence over earlier events, evaluated once per burst, row
and tile (never per cycle) in a compiled loop (:func:`_schedule`):

* **parser**: a frame of ``n`` beats is accepted back to back; its slot is
  committed ``exact_parse + max(PH, PW)`` (EXACT: bin-edge generators) or
  ``edges_parse`` (EDGES) cycles after its last beat, and only while fewer
  than ``slots`` RoIs are committed and not fully output (``slot_done`` of
  RoI ``r - slots`` one cycle earlier); the next frame starts the cycle after.
* **address generator**: takes a committed slot two cycles after the commit
  (``queued`` register, then the next-RoI register it is copied into) once
  idle, then walks tile -> row -> burst (a row is
  split at ``min(256, fifo_depth, 4096 / beat_bytes)`` beats and at 4 KiB
  address boundaries, so bursts depend on the absolute addresses).  Each
  burst passes a CALC cycle (length registered) before its request, so the
  first one issues two cycles after the take and the next no sooner than
  two cycles after the previous one (which is also the AR register slice's
  rate: it takes a new burst only when empty).  A burst issues only when
  the beat FIFO credit allows it (``reserved + len <= fifo_depth``: beat
  ``S - fifo_depth`` must have been popped two cycles before: the pop
  returns its credit the cycle after, and the check is registered), and a row's first burst only
  when the row FIFO has room (``SyncFIFOBuffered``: ``depth - 1`` entries
  behind its output register).  A RoI without data sends one skip token per
  tile into the row FIFO, one per cycle from the cycle after the take.
* **memory**: the AR handshake is one cycle after issue; beats arrive
  ``read_latency`` later, back to back, in order.
* **FIFOs** (beats and row descriptors): an entry is readable two cycles
  after its write, or the cycle after its predecessor left.  A row
  descriptor then passes the pooler's row registers RA and R0: it leaves
  the FIFO when RA is empty or emptied that cycle, moves into R0 the cycle
  after at the earliest (its slot's edges are selected in RA), when R0 is
  empty or emptied that cycle (its predecessor's last beat or skip token
  popped), and is usable the cycle after.  A beat passes the pooler's beat register X (pass-through
  ready, one cycle), whose output to the tag stage returns the read credit.
* **tag stage**: pops one item (beat from X, or skip token) per cycle into
  its register, when the register is empty or being emptied; the row stage
  takes the item one cycle later.
* **row stage**: a row's last beat (or a skip token) enters the two-entry
  pending FIFO, on a registered space flag: it waits until the row two
  before it has left the FIFO (its last vertical op) in an earlier cycle;
  the tag register waits with it.
* **vertical stage**: one cycle per ph bin holding the row (at least one),
  starting two cycles after the row stage took the row's last beat (the
  row's maximum completes, then the registered push into the FIFO) and
  after the previous row's last vertical op; a tile's first row waits
  until its bank (tile ``k - 2``'s) has been emptied by the output stage.
* **output stage**: ``PH * PW`` beats per tile, back to back, the first one
  loaded three cycles after the tile's last vertical op (V1's compare,
  V2's write with the tile-end register, then ``full``), never before the
  previous tile's last; each beat is accepted three cycles after its
  load (entry register O1, pw-group register O2, result register O3).

The fixed latencies live in :class:`StageTiming` (``TIMING``), named by
stage; the capacities come from the engine's own parameters.

Per-RoI attribution: ``per_roi[r]`` is the number of cycles between RoI
``r - 1``'s last result beat and RoI ``r``'s (for RoI 0, from the first
descriptor), so ``per_roi.sum() == cycles``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

import golden
from golden.workloads import make_workload
from hdl import protocol as proto
from hdl.job import EngineConfig, descriptor_frames

from .engine import engine_params, fit_params
from .traffic import DEFAULT_READ_LATENCY

__all__ = ["StageTiming", "TIMING", "STALL_NAMES", "CyclePrediction", "predict", "predict_workload", "engine_geometry"]

#: AXI4: a burst may not cross a 4 KiB boundary and holds at most 256 beats.
AXI_PAGE = 4096
AXI_MAX_BEATS = 256


@dataclass(frozen=True)
class StageTiming:
    """Fixed latencies of the engine's stages, in cycles (today's RTL).

    Attributes
    ----------
    start_to_descriptor : int
        START to the first descriptor beat the parser can accept: the core's
        start is registered, the run configuration is derived in two
        registered steps (tile stride, batch stride), then the parser's
        ``running`` register rises.
    exact_parse : int
        EXACT mode, last descriptor beat to slot commit, plus ``max(PH, PW)``:
        the EDGES state's start pulse, 17 division steps, the walk (one bin
        per cycle), the generators' origin-add and clip stages and output
        register, then the LAND, WINDOW and SUM states.
    edges_parse : int
        EDGES mode, last descriptor beat to slot commit (LAND, WINDOW, SUM).
    next_descriptor : int
        Slot commit to the next frame's first beat (COMMIT -> RECV).
    commit_to_take : int
        Slot commit to the address generator taking it: ``queued`` register,
        then the next-RoI register (filled from the slot the cycle after the
        commit, or in the cycle the RoI before it is taken).
    take_to_issue : int
        Slot taken to its first burst: IDLE, then CALC (the burst length is
        registered one cycle before each request).
    take_to_skip : int
        Slot taken to its first skip token (IDLE -> SKIP).
    ar_interval : int
        Minimum cycles between two bursts: the AR register slice accepts a
        new burst only when empty (``ar_ready = ~ar_valid``), and each burst
        passes CALC then ROW.
    ar_slice : int
        Burst issue to its AR handshake (register slice, ``arready`` high).
    fifo_latency : int
        ``SyncFIFOBuffered`` write to readable (memory, then output register).
    row_prefetch : int
        A row descriptor leaving the row FIFO (into the pooler's prefetch
        register RA, loaded when empty or in the cycle its row moves on) to
        its earliest move into the row register R0 (RA's slot selects the
        edges in between).
    row_register : int
        A row's move into R0 (when R0 is empty or in the cycle its previous
        row's last beat / skip token goes to the tag stage) to its first use
        by the tag stage.
    beat_register : int
        A beat readable at the beat FIFO's output to its earliest move into
        the tag register (the pooler's beat register X, pass-through ready:
        it refills in the cycle it empties, so it adds latency only).
    tag_to_row : int
        FIFO pop (into the pooler's tag register) to the row stage taking
        the beat; the tag register refills in the cycle it empties.
    pend_to_vertical : int
        A row's last beat (or skip token) taken by the row stage to its
        first vertical op: the row's maximum is complete the cycle after
        its last beat (the row stage's lookahead compare), the push into
        the pending FIFO is registered, and V0 starts from the pending
        register.
    tile_to_output : int
        A tile's last vertical op to its first output load (V1 compares, V2
        writes the bin memory and raises ``v2_tile_end``, then ``full``).
    output_to_accept : int
        Output load to the beat's acceptance (O1 entry, O2 pw-group and O3
        result registers).
    release : int
        Last output load of a tile / RoI to its bank / slot being reusable
        (``full`` and ``alloc`` registers).
    credit_register : int
        Extra delay of a burst waiting for FIFO room: the credit check
        (``blen <= space``) is registered, so a burst leaves this many cycles
        after the cycle its room became available.
    count_to_done : int
        Extra cycles from the last result beat to DONE (and so in
        ``BUSY_CYCLES``): the performance counters add registered events,
        and DONE compares ``ROIS_DONE``.
    """

    start_to_descriptor: int = 4
    exact_parse: int = 25
    edges_parse: int = 4
    next_descriptor: int = 1
    commit_to_take: int = 2
    take_to_issue: int = 2
    take_to_skip: int = 1
    ar_interval: int = 2
    ar_slice: int = 1
    fifo_latency: int = 2
    tag_to_row: int = 1
    pend_to_vertical: int = 2
    tile_to_output: int = 3
    output_to_accept: int = 3
    release: int = 1
    row_register: int = 1
    beat_register: int = 1
    row_prefetch: int = 1
    credit_register: int = 1
    count_to_done: int = 1

    def vector(self) -> np.ndarray:
        """The latencies :func:`_schedule` uses, in its order."""
        return np.array([self.next_descriptor, self.commit_to_take, self.take_to_issue, self.take_to_skip,
                         self.ar_interval, self.ar_slice, self.fifo_latency, self.tag_to_row,
                         self.pend_to_vertical, self.tile_to_output, self.release,
                         self.row_register, self.beat_register, self.row_prefetch,
                         self.credit_register], dtype=np.int64)


#: The latencies of the RTL in ``hdl/`` (one place to change when the RTL's pipeline changes).
TIMING = StageTiming()

#: Names of :attr:`CyclePrediction.stalls` (how often each rule was the binding one).
STALL_NAMES = ("slot", "credit", "row_fifo", "pending", "bank", "output", "split_4k", "split_len")


@dataclass
class CyclePrediction:
    """The model's answer for one run.

    Attributes
    ----------
    cycles : int
        First descriptor accepted to last result beat accepted, both included.
    busy_cycles : int
        The ``BUSY_CYCLES`` register: START to DONE.
    per_roi : ndarray of int64, ``(K,)``
        Cycles between consecutive RoIs' last result beats (RoI 0: from the
        first descriptor); sums to ``cycles``.
    bound : int
        :func:`golden.bandwidth_bound` summed over the RoIs.
    beats_read, beats_written, bursts : int
        AXI read beats (``BEATS_READ``), result beats (``BEATS_WRITTEN``) and
        read bursts.
    bin_mode_register : int
        The ``BIN_MODE`` the host uses (EXACT descriptors or explicit EDGES).
    params : dict
        The engine parameters modelled.
    read_latency : int
    stalls : dict
        For each rule of :data:`STALL_NAMES`, how many times it decided an
        event's time (a burst, row, tile or commit later than every other
        rule allowed); ``split_4k`` / ``split_len`` count bursts ended by a
        4 KiB boundary / by the burst length limit (``max_burst`` of
        :func:`engine_geometry`).
    """

    cycles: int
    busy_cycles: int
    per_roi: np.ndarray
    bound: int
    beats_read: int
    beats_written: int
    bursts: int
    bin_mode_register: int
    params: dict
    read_latency: int
    stalls: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """``cycles / bound`` (1.0 is the bandwidth limit)."""
        return self.cycles / self.bound if self.bound else float("nan")


def engine_geometry(params: dict) -> dict:
    """Capacities and sizes of an engine configuration that set its timing.

    Read from :class:`hdl.engine.RoIPoolEngine` itself (beat size, FIFO
    depths, slots), so a changed parameter rule in the gateware is followed.
    """
    from hdl.engine import RoIPoolEngine
    eng = RoIPoolEngine(**params)
    eng._MustUse__silence = True        # built to read its parameters, never elaborated
    return {
        "beat_bytes": eng.beat_bytes,
        "beat_bytes_log2": eng.beat_bytes_log2,
        "fifo_depth": eng.fifo_depth,
        "row_fifo_depth": eng.row_fifo_depth,
        "slots": eng.slots,
        # the address generator's burst limit (engine.py: max_burst)
        "max_burst": min(AXI_MAX_BEATS, eng.fifo_depth, AXI_PAGE >> eng.beat_bytes_log2),
    }


def predict(features_shape, rois, output_size, spatial_scale=1.0, *, bin_mode="float32", lanes: int | None = None,
            dtype=None, read_latency: int = DEFAULT_READ_LATENCY, engine: dict | None = None,
            feat_base: int = 0, timing: StageTiming = TIMING) -> CyclePrediction:
    """Predict the engine's cycles for one RoIPool call (see the module docstring).

    Parameters
    ----------
    features_shape : (N, C, H, W)
        Shape of the feature map (the values do not matter).
    rois, output_size, spatial_scale, bin_mode
        As for :func:`golden.roi_pool`; validated by :func:`golden.validate`.
    lanes : int, optional
        Channels per beat (default: ``engine["lanes"]``, else the engine's
        default, 8).
    dtype : str or dtype, optional
        Element type, which sets the beat size (default: ``engine["dtype"]``,
        else the engine's default, int16).
    read_latency : int
        Fixed memory read latency in cycles (>= 1), as in :class:`sim.traffic.Traffic`.
    engine : dict, optional
        :class:`hdl.engine.RoIPoolEngine` parameters; the rest are its
        defaults, and size limits the problem exceeds are raised to fit
        unless given here (as :func:`sim.simulate` does).
    feat_base : int
        Byte address of the feature map (4 KiB splits depend on it); the
        simulators place it at 0.
    timing : StageTiming
        Fixed stage latencies (default: today's RTL).

    Raises
    ------
    TypeError, ValueError
        Invalid problem, engine parameters or latency, or an engine that
        cannot hold the problem.
    """
    shape = tuple(features_shape)
    if len(shape) != 4 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in shape):
        raise TypeError(f"features_shape must be four ints (N, C, H, W), got {features_shape!r}")
    if isinstance(read_latency, bool) or not isinstance(read_latency, (int, np.integer)) or read_latency < 1:
        raise ValueError(f"read_latency must be an int >= 1 (the model needs a fixed latency), got {read_latency!r}")
    if isinstance(feat_base, bool) or not isinstance(feat_base, (int, np.integer)) or feat_base < 0:
        raise ValueError(f"feat_base must be an int >= 0, got {feat_base!r}")
    given = dict(engine or {})
    if dtype is not None:
        dtype = golden.dtype_name(golden.canonical_dtype(dtype))
    for name, value in (("lanes", lanes), ("dtype", dtype)):
        if value is not None and name in given and given[name] != value:
            raise ValueError(f"{name}={value!r} contradicts engine[{name!r}]={given[name]!r}")
    params = engine_params(given, lanes=lanes, dtype=dtype)
    # A zero-strided stand-in array: validation and the protocol need the shape and type only.
    stand_in = np.broadcast_to(np.zeros((), golden.canonical_dtype(params["dtype"])), tuple(int(v) for v in shape))
    problem = golden.validate(stand_in, rois, output_size, spatial_scale, bin_mode)
    params, _ = fit_params(params, problem, set(given))
    config = EngineConfig.from_params(params)
    ok, why = config.supports(problem)
    if not ok:
        raise ValueError(f"the engine cannot run this problem: {why}")
    if feat_base % config.beat_bytes:
        raise ValueError(f"feat_base 0x{feat_base:x} is not aligned to a {config.beat_bytes}-byte beat")
    geo = engine_geometry(params)

    n, c, h, w = problem.features.shape
    ph, pw = problem.output_size
    k = problem.num_rois
    edges = golden.bin_edges(np.c_[problem.batch, problem.boxes], problem.output_size, problem.spatial_scale, h, w,
                             bin_mode=problem.bin_mode)
    mode, frames = descriptor_frames(problem)
    tiles = -(-c // config.lanes)
    bound = int(golden.bandwidth_bound(edges, c, config.lanes).sum()) if k else 0
    if k == 0:
        # NUM_ROIS = 0: DONE the cycle after START, nothing streamed.
        return CyclePrediction(0, 1, np.zeros(0, np.int64), 0, 0, 0, 0, mode, params, int(read_latency),
                               dict.fromkeys(STALL_NAMES, 0))

    # ---- per RoI: parse time, window (rows/columns of the non-empty bins), address
    frame_len = np.array([len(f) for f in frames], dtype=np.int64)
    after_last = (timing.exact_parse + max(ph, pw)) if mode == proto.BIN_MODE_EXACT else timing.edges_parse
    parse = frame_len - 1 + after_last
    h0, h1 = _window(edges.hstart, edges.hend)
    w0, w1 = _window(edges.wstart, edges.wend)
    skip = (h1 <= h0) | (w1 <= w0)
    nrows = np.where(skip, 0, h1 - h0)
    width = np.where(skip, 0, w1 - w0)
    bb = geo["beat_bytes"]
    # Only addresses modulo 4 KiB matter (the split rule), and addr_width >= 12 keeps them.
    row_4k = (w * bb) % AXI_PAGE
    tile_4k = (h * w * bb) % AXI_PAGE
    batch_4k = (tiles * tile_4k) % AXI_PAGE
    base_4k = (feat_base + (edges.batch % AXI_PAGE) * batch_4k + (np.where(skip, 0, h0) % AXI_PAGE) * row_4k
               + np.where(skip, 0, w0) * bb) % AXI_PAGE
    # ---- per window row: vertical ops = ph bins holding the row (at least one cycle)
    row_off = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(nrows, out=row_off[1:])
    roi_of_row = np.repeat(np.arange(k), nrows)
    hrow = np.arange(row_off[-1], dtype=np.int64) - row_off[:-1][roi_of_row] + h0[roi_of_row]
    held = ((edges.hstart[roi_of_row] <= hrow[:, None]) & (hrow[:, None] < edges.hend[roi_of_row])).sum(axis=1)
    ops = np.maximum(held, 1).astype(np.int64)

    done = np.zeros(k, dtype=np.int64)
    counts = np.zeros(len(STALL_NAMES) + 2, dtype=np.int64)
    _schedule(parse, skip.astype(np.int64), nrows.astype(np.int64), width.astype(np.int64),
              base_4k.astype(np.int64), row_off, ops, tiles, ph * pw, int(tile_4k), int(row_4k),
              geo["beat_bytes_log2"], geo["fifo_depth"], geo["row_fifo_depth"], geo["slots"], geo["max_burst"],
              int(read_latency), timing.vector(),
              np.zeros((4, 1 << (geo["fifo_depth"] + 1).bit_length()), np.int64),   # > fifo_depth + 1 bursts
              np.zeros(1 << (geo["row_fifo_depth"] + 1).bit_length(), np.int64), done, counts)
    accepted = done + timing.output_to_accept          # cycle of each RoI's last result beat (first descriptor = 0)
    cycles = int(accepted[-1]) + 1
    per_roi = np.diff(np.r_[-1, accepted]).astype(np.int64)
    return CyclePrediction(
        cycles=cycles, busy_cycles=cycles + timing.start_to_descriptor + timing.count_to_done,
        per_roi=per_roi, bound=bound,
        beats_read=int(counts[-1]), beats_written=k * tiles * ph * pw, bursts=int(counts[-2]),
        bin_mode_register=mode, params=params, read_latency=int(read_latency),
        stalls={name: int(v) for name, v in zip(STALL_NAMES, counts)})


def predict_workload(name: str, dtype="int16", lanes: int | None = None, *, channels: int | None = None,
                     seed: int = 0, bin_mode: str = "float32", **kwargs) -> CyclePrediction:
    """:func:`predict` on a standard workload (:mod:`golden.workloads`).

    ``channels`` restricts it to the first ``channels`` channels (as
    :func:`sim.simulate_workload` does); other keywords go to :func:`predict`.
    """
    wl = make_workload(name, dtype=dtype, seed=seed)
    if channels is not None:
        wl = wl.scaled(channels)
    return predict(wl.features.shape, wl.rois, wl.output_size, wl.spatial_scale, bin_mode=bin_mode, lanes=lanes,
                   dtype=dtype, **kwargs)


def _window(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[min start, max end)`` over the non-empty bins (the parser's WINDOW state); empty: lo >= hi."""
    ok = end > start
    lo = np.where(ok, start, np.iinfo(np.int64).max).min(axis=1)
    hi = np.where(ok, end, 0).max(axis=1)
    return lo, hi


_NEVER = -(1 << 40)       # "no constraint": earlier than any event


@numba.njit(cache=True, nogil=True)
def _later(time, rule, counts, which):  # pragma: no cover - compiled
    """``max(time, rule)``; counts ``which`` when the rule is strictly later (it decided the time)."""
    if rule > time:
        counts[which] += 1
        return rule
    return time


@numba.njit(cache=True, nogil=True)
def _row_room(r_avail, nrow, row_depth, rmask):  # pragma: no cover - compiled
    """First cycle row-FIFO entry ``nrow`` can be written: ``SyncFIFOBuffered`` holds ``depth - 1``
    entries behind its output register, so entry ``nrow - depth + 1`` must have moved there."""
    old = nrow - row_depth + 1
    return r_avail[old & rmask] if old >= 0 else _NEVER


@numba.njit(cache=True, nogil=True)
def _schedule(parse, skip, nrows, width, base_4k, row_off, ops, tiles, bins, tile_4k, row_4k, bbl, depth,
              row_depth, slots, max_burst, lat, t, bursts, r_avail, done, counts):  # pragma: no cover - compiled
    """Event times of the whole run, in order; ``done[r]`` = last output load of RoI ``r``.

    Times are cycle indices with the first descriptor beat accepted at 0.
    ``t`` holds :meth:`StageTiming.vector`; ``counts`` receives the stall
    statistics of :data:`STALL_NAMES`, then bursts and beats.
    """
    t_next, t_take, t_issue, t_skip, t_ari, t_slice, t_fifo, t_tag, t_pend, t_tile, t_rel, t_r0, t_x, t_ra = (
        t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11], t[12], t[13])
    t_credit = 1 + t[14]  # a pop returns its credit the cycle after, then the registered check
    never = _NEVER
    # Rings (power-of-two sizes): bursts still inside the credit window (last beat index, 1-based
    # and cumulative; length; FIFO pop time of the first and of the last beat), and the cycle each
    # row FIFO entry (row or skip token) becomes readable.
    b_end, b_len, b_pop0, b_popl = bursts[0], bursts[1], bursts[2], bursts[3]
    bmask = bursts.shape[1] - 1
    rmask = r_avail.shape[0] - 1

    commit = never
    agen_free = never     # first cycle the address generator is back in IDLE
    last_issue = never
    last_arrival = never
    last_pop = never      # last item (beat or skip token) popped from the FIFOs into the tag register
    last_take = never     # ... taken from the tag register by the row stage (the tag refills that cycle)
    beats = 0             # beats issued so far
    nburst = 0
    oldest = 0            # burst holding the beat the credit rule looks at
    nrow = 0              # row FIFO entries written so far
    row_pop = never       # previous row FIFO entry popped (into the prefetch register RA)
    row_move = never      # ... moved from RA into the row register R0
    row_done = never      # ... left R0 (its last beat / skip token popped into the tag register)
    v_free = never        # last vertical op of the previous row
    v_free2 = never       # ... of the row before it
    o_end1 = never        # last output load of the previous tile
    o_end2 = never        # ... of the tile before it (same bank)
    for r in range(parse.shape[0]):
        first_beat = 0 if r == 0 else commit + t_next
        commit = first_beat + parse[r]
        if r >= slots:
            commit = _later(commit, done[r - slots] + t_rel, counts, 0)
        take = max(commit + t_take, agen_free)
        if skip[r]:
            x = take + t_skip
            for _tile in range(tiles):
                x = _later(x, _row_room(r_avail, nrow, row_depth, rmask), counts, 2)
                avail = max(x + t_fifo, row_pop + 1)
                r_avail[nrow & rmask] = avail
                row_pop = max(avail, row_move)                  # RA empty or emptied that cycle
                row_move = max(row_pop + t_ra, row_done)        # R0 empty or emptied that cycle
                row_done = max(max(row_move + t_r0, last_pop + 1), last_take)
                last_pop = row_done
                last_take = _later(row_done + t_tag, v_free2 + 1, counts, 3)  # needs space in the pending FIFO
                vs = _later(last_take + t_pend, v_free + 1, counts, 3)         # the previous row's ops first
                v_free2, v_free = v_free, _later(vs, o_end2 + t_rel, counts, 4)   # one (empty) vertical op
                o_end2, o_end1 = o_end1, _later(v_free + t_tile, o_end1 + 1, counts, 5) + bins - 1
                nrow += 1
                x += 1
            agen_free = x
            done[r] = o_end1
            continue
        earliest = take + t_issue
        first_of_roi = True
        for tile in range(tiles):
            taddr = (base_4k[r] + tile * tile_4k) % AXI_PAGE
            for hh in range(nrows[r]):
                addr = (taddr + hh * row_4k) % AXI_PAGE
                rem = width[r]
                first = True
                while rem > 0:
                    to_4k = (AXI_PAGE - addr) >> bbl        # beats to the next 4 KiB boundary
                    blen = min(rem, max_burst)
                    if to_4k < blen:
                        blen = to_4k
                        counts[6] += 1
                    elif blen < rem:
                        counts[7] += 1
                    # issue: the latest of four rules (a FIFO rule strictly latest is counted)
                    c_slice = last_issue + t_ari
                    c_start = earliest if first_of_roi else never
                    c_credit = never
                    need = beats + blen - depth          # this beat must have left the FIFO
                    if need > 0:
                        while b_end[oldest & bmask] < need:
                            oldest += 1
                        j = oldest & bmask
                        if need == b_end[j]:
                            c_credit = b_popl[j] + t_credit
                        else:
                            c_credit = b_pop0[j] + need - (b_end[j] - b_len[j] + 1) + t_credit
                    c_row = _row_room(r_avail, nrow, row_depth, rmask) if first else never
                    issue = max(max(c_slice, c_start), max(c_credit, c_row))
                    if c_credit == issue and c_credit > max(max(c_slice, c_start), c_row):
                        counts[1] += 1
                    elif c_row == issue and c_row > max(max(c_slice, c_start), c_credit):
                        counts[2] += 1
                    arrive = max(issue + t_slice + lat, last_arrival + 1)
                    # beats reach the tag register one per cycle, through the beat register
                    # X, when the tag register is free (or freeing).  X refills in the
                    # cycle it empties, so its only effect is its latency.
                    pop0 = max(max(arrive + t_fifo + t_x, last_pop + 1), last_take)
                    if first:
                        avail = max(issue + t_fifo, row_pop + 1)
                        r_avail[nrow & rmask] = avail
                        row_pop = max(avail, row_move)          # into RA when empty or emptied
                        row_move = max(row_pop + t_ra, row_done)    # into R0 when empty or emptied
                        pop0 = max(pop0, row_move + t_r0)
                    popl = pop0 + blen - 1
                    last_take = popl + t_tag
                    if rem == blen:                      # the row's last beat needs space in the pending FIFO
                        last_take = _later(last_take, v_free2 + 1, counts, 3)
                    j = nburst & bmask
                    b_end[j] = beats + blen
                    b_len[j] = blen
                    b_pop0[j] = pop0
                    b_popl[j] = popl
                    nburst += 1
                    beats += blen
                    last_issue = issue
                    last_arrival = arrive + blen - 1
                    last_pop = popl
                    rem -= blen
                    addr = (addr + (blen << bbl)) % AXI_PAGE
                    first = False
                    first_of_roi = False
                # row complete: vertical ops, then (last row) the tile's output
                row_done = last_pop
                vs = _later(last_take + t_pend, v_free + 1, counts, 3)
                if hh == 0:
                    vs = _later(vs, o_end2 + t_rel, counts, 4)
                v_free2, v_free = v_free, vs + ops[row_off[r] + hh] - 1
                nrow += 1
                if hh == nrows[r] - 1:
                    o_end2, o_end1 = o_end1, _later(v_free + t_tile, o_end1 + 1, counts, 5) + bins - 1
        agen_free = last_issue + 1
        done[r] = o_end1
    counts[counts.shape[0] - 2] = nburst
    counts[counts.shape[0] - 1] = beats
