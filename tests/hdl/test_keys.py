"""Order-preserving keys: Python reference vs NumPy ordering, hardware vs Python."""

import itertools
import warnings

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from hdl.dtypes import DTYPES
from hdl.keys import elem_key, key_to_bits
from tests.hdl.models import bits_to_values, random_values, values_to_bits


def interesting_bits(dt, rng):
    vals = random_values(dt, rng, (200,))
    bits = list(values_to_bits(dt, vals))
    bits += [0, dt.sign_bit, dt.mask, dt.sign_bit - 1, 1, dt.sign_bit + 1]
    if dt.sentinel is not None:
        bits += [dt.sentinel, dt.sentinel - 1, dt.sentinel + 1]
    return [int(b) & dt.mask for b in bits]


@pytest.mark.parametrize("name", list(DTYPES))
def test_python_key_matches_c_comparison(name):
    dt = DTYPES[name]
    rng = np.random.default_rng(3)
    bits = interesting_bits(dt, rng)
    vals = bits_to_values(dt, bits)
    warnings.simplefilter("ignore", RuntimeWarning)  # NaN casts
    for (a, va), (b, vb) in itertools.product(list(zip(bits, vals))[:120], repeat=2):
        if dt.is_nan(b):
            continue  # an accumulator never holds a NaN: a NaN never wins
        c_gt = bool(va.astype(np.float64) > vb.astype(np.float64)) if dt.is_float else int(va) > int(vb)
        assert (dt.key(a) > dt.key(b)) == c_gt, (hex(a), hex(b))
        if dt.is_float and dt.sentinel is not None:
            sent = bits_to_values(dt, [dt.sentinel])[0].astype(np.float64)
            assert (dt.key(a) > dt.init_key) == bool(va.astype(np.float64) > sent)
    for a in bits:
        if not dt.is_nan(a):
            assert dt.bits_of(dt.key(a), dt.negzero(a)) == a
    if not dt.is_float:
        assert all(dt.key(a) > dt.init_key for a in bits)


@pytest.mark.parametrize("name", list(DTYPES))
def test_hardware_key_matches_python(name):
    dt = DTYPES[name]
    rng = np.random.default_rng(4)
    bits = interesting_bits(dt, rng)
    m = Module()
    x = Signal(dt.width)
    key = Signal(dt.key_width)
    nz = Signal()
    back = Signal(dt.width)
    k, z = elem_key(dt, x)
    m.d.comb += [key.eq(k), nz.eq(z), back.eq(key_to_bits(dt, key, nz))]
    sim = Simulator(m)

    async def tb(ctx):
        for b in bits:
            ctx.set(x, b)
            assert ctx.get(key) == dt.key(b), hex(b)
            assert ctx.get(nz) == dt.negzero(b)
            if not dt.is_nan(b):
                assert ctx.get(back) == b

    sim.add_testbench(tb)
    sim.run()
