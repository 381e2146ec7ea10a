"""Hardware form of the order-preserving comparison keys (see :mod:`hdl.dtypes`).

Each helper returns Amaranth values; they are pure combinational logic (a
few XOR / NOT gates per bit and one NaN detector), no comparator is spent on
float semantics.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Value

from .dtypes import DType

__all__ = ["elem_key", "key_to_bits"]


def elem_key(dt: DType, bits: Value) -> tuple[Value, Value]:
    """Return ``(key, negzero)`` of an element.

    ``key`` is ``dt.key_width`` bits, compared unsigned; ``negzero`` is the
    uncompared flag that remembers a float ``-0.0``.
    """
    bits = Value.cast(bits)[: dt.width]
    sign = bits[-1]
    if not dt.is_float:
        return Cat(bits[:-1], ~sign, Const(1, 1)), Const(0, 1)
    exp_w, man_w = dt.exponent_mantissa
    exp = bits[man_w : man_w + exp_w]
    man = bits[:man_w]
    nan = (exp == (1 << exp_w) - 1) & (man != 0)
    negzero = bits == dt.sign_bit
    # -0.0 takes +0.0's key: C compares them equal.
    order = Mux(sign & ~negzero, ~bits, Cat(bits[:-1], Const(1, 1)))
    return Cat(order, ~nan), negzero


def key_to_bits(dt: DType, key: Value, negzero: Value) -> Value:
    """Element bits of a (non-NaN) key, ``-0.0`` restored from its flag."""
    order = Value.cast(key)[: dt.width]
    if not dt.is_float:
        return Cat(order[:-1], ~order[-1])
    top = order[-1]
    return Mux(negzero, Const(dt.sign_bit, dt.width),
               Mux(top, Cat(order[:-1], Const(0, 1)), ~order))
