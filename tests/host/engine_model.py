"""A behavioural model of the engine's *protocol*, for testing the driver.

It reads an :class:`~host.driver.EngineJob` the way the engine does
(register writes, nChw{L}c memory image, descriptor frames) and produces
result beats in the engine's format, computing the pooling with the golden
kernel.  It knows nothing of the driver's encoder, so a round trip through
it checks the driver's packing and decoding independently of any RTL.
"""

from __future__ import annotations

import numpy as np

from golden.bins import bin_edges_from_coords
from golden.fast import roi_pool_fast
from golden.validate import Problem
from hdl import protocol as proto
from host.driver import EngineConfig, EngineJob, EngineRun


class ProtocolModelTransport:
    def __init__(self, config: EngineConfig):
        self.config = config

    def execute(self, job: EngineJob) -> EngineRun:
        cfg = self.config
        regs = {off: val for off, val in job.reg_writes}
        get = lambda name: regs[proto.reg(name).offset]  # noqa: E731
        n, c, h, w, ph, pw = (get(x) for x in ("N", "C", "H", "W", "PH", "PW"))
        lanes = cfg.lanes
        cb = -(-c // lanes)
        dt = {"int8": np.int8, "int16": np.int16, "float32": np.float32, "float16": np.float16}.get(cfg.dtype)
        if dt is None:
            import ml_dtypes

            dt = ml_dtypes.bfloat16
        blocked = np.frombuffer(job.memory, dtype=dt).reshape(n, cb, h, w, lanes)
        features = blocked.transpose(0, 1, 4, 2, 3).reshape(n, cb * lanes, h, w)[:, :c]
        batch, hs, he, ws, we = [], [], [], [], []
        for frame in job.descriptors:
            batch.append(frame[0])
            if get("BIN_MODE") == proto.BIN_MODE_EXACT:
                s16 = lambda v: (v & 0xFFFF) - ((v & 0x8000) << 1)  # noqa: E731
                x1, y1, x2, y2 = s16(frame[1]), s16(frame[1] >> 16), s16(frame[2]), s16(frame[2] >> 16)
                e = bin_edges_from_coords([0], [[x1, y1, x2, y2]], (ph, pw), h, w, "exact")
                hs.append(e.hstart[0]), he.append(e.hend[0]), ws.append(e.wstart[0]), we.append(e.wend[0])
            else:
                rows, cols = frame[1 : 1 + ph], frame[1 + ph :]
                hs.append([v & 0xFFFF for v in rows]), he.append([v >> 16 for v in rows])
                ws.append([v & 0xFFFF for v in cols]), we.append([v >> 16 for v in cols])
        k = len(batch)
        edges = bin_edges_from_coords(np.array(batch), np.zeros((k, 4), np.int64), (ph, pw), h, w, "exact")
        edges = type(edges)(edges.batch, edges.coords, np.array(hs).reshape(k, ph), np.array(he).reshape(k, ph),
                            np.array(ws).reshape(k, pw), np.array(we).reshape(k, pw), h, w)
        problem = Problem(np.ascontiguousarray(features), np.array(batch), np.zeros((k, 4)), (ph, pw), 1.0, "exact")
        out, arg = roi_pool_fast(problem, edges)
        padded = np.zeros((k, cb * lanes, ph, pw), dtype=out.dtype)
        padded[:, :c] = out
        parg = np.full((k, cb * lanes, ph, pw), -1, dtype=np.int64)
        parg[:, :c] = arg
        vals = padded.reshape(k, cb, lanes, ph, pw).transpose(0, 1, 3, 4, 2).reshape(-1, lanes)
        args = parg.reshape(k, cb, lanes, ph, pw).transpose(0, 1, 3, 4, 2).reshape(-1, lanes).astype("<i4")
        beats = np.concatenate([vals.view(np.uint8).reshape(len(vals), -1), args.view(np.uint8).reshape(len(args), -1)],
                               axis=1)
        last = np.zeros(len(beats), bool)
        last[cb * ph * pw - 1 :: cb * ph * pw] = True
        return EngineRun(beats=beats, last=last, regs={proto.reg("ERR_FLAGS").offset: 0}, cycles=0)
