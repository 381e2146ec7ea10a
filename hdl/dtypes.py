"""Element data types of the engine, defined once.

Max pooling never does arithmetic on values, it only compares them.  Every
comparison in the engine is an *unsigned integer* comparison of a key:

* float: ``order(bits) = ~bits if sign else bits | signbit`` maps IEEE
  ordering (with ``-0.0 < +0.0``, which is harmless: ``-0.0 > +0.0`` is false
  and ``+0.0 > -0.0`` can only move the argmax between two cells whose
  values compare equal in C; see below) onto unsigned ordering.
* one extra MSB, the *valid* bit, is prepended: ``key = {not_nan, order}``.
  A NaN key is below every valid key, so a NaN never wins (C's ``v > max``
  is false for NaN).
* float accumulators start at ``{1, order(sentinel)}``: an element equal to
  or below the sentinel never wins (strict ``>``), exactly as C's
  ``if (v > maxval)`` with ``maxval = -FLT_MAX``.
* int element keys are ``{1, bits ^ signbit}``; int accumulators start at
  key 0, so the first element of a bin always wins (integer semantics: the
  first element initialises the maximum).

With these keys "update iff elem_key > acc_key" is the whole rule.

The -0.0 / +0.0 case: C compares them equal, so a later +0.0 never replaces
an earlier -0.0 (nor the reverse).  The raw order key would put -0.0 below
+0.0, so the key maps -0.0 onto +0.0's key, and a separate *negative-zero*
flag, stored beside the key but never compared, lets the output stage
rebuild the winner's exact bits (:meth:`DType.bits_of`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DType", "DTYPES", "dtype_by_name", "dtype_by_code"]


@dataclass(frozen=True)
class DType:
    """One element type.

    Attributes
    ----------
    name : str
        ``"int8"``, ``"int16"``, ``"float16"``, ``"bfloat16"`` or ``"float32"``.
    width : int
        Element width in bits.
    is_float : bool
        IEEE-style sign/exponent/mantissa layout.
    sentinel : int or None
        Bits of ``-FLT_MAX`` converted to the type (floats), ``None`` for
        integers (no sentinel: the first element initialises the max).
    code : int
        Value of the ``CONFIG.DTYPE`` register field.
    """

    name: str
    width: int
    is_float: bool
    sentinel: int | None
    code: int

    @property
    def sign_bit(self) -> int:
        return 1 << (self.width - 1)

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1

    @property
    def key_width(self) -> int:
        """Width of a comparison key: one valid bit above the order key."""
        return self.width + 1

    @property
    def nbytes(self) -> int:
        return self.width // 8

    # --- Python reference of the key mapping (the hardware mirrors it) ---

    def is_nan(self, bits: int) -> bool:
        if not self.is_float:
            return False
        exp_w, man_w = self.exponent_mantissa
        exp = (bits >> man_w) & ((1 << exp_w) - 1)
        return exp == (1 << exp_w) - 1 and (bits & ((1 << man_w) - 1)) != 0

    @property
    def exponent_mantissa(self) -> tuple[int, int]:
        return {"float16": (5, 10), "bfloat16": (8, 7), "float32": (8, 23)}[self.name]

    def order(self, bits: int) -> int:
        """Order-preserving unsigned image of ``bits`` (without the valid bit)."""
        bits &= self.mask
        if not self.is_float:
            return bits ^ self.sign_bit
        if bits == self.sign_bit:  # -0.0 compares equal to +0.0
            bits = 0
        if bits & self.sign_bit:
            return ~bits & self.mask
        return bits | self.sign_bit

    def key(self, bits: int) -> int:
        """Element key ``{valid, order}``."""
        valid = 0 if self.is_nan(bits) else 1
        return (valid << self.width) | self.order(bits)

    @property
    def init_key(self) -> int:
        """Accumulator start key: ``{1, order(sentinel)}`` or 0 for integers."""
        if self.sentinel is None:
            return 0
        return (1 << self.width) | self.order(self.sentinel)

    def negzero(self, bits: int) -> int:
        """1 for float ``-0.0``: the uncompared flag stored beside the key."""
        return int(self.is_float and (bits & self.mask) == self.sign_bit)

    def bits_of(self, key: int, negzero: int = 0) -> int:
        """Inverse of :meth:`key` for non-NaN keys (what the output stage does)."""
        if negzero:
            return self.sign_bit
        order = key & self.mask
        if not self.is_float:
            return order ^ self.sign_bit
        if order & self.sign_bit:
            return order ^ self.sign_bit
        return ~order & self.mask

    @property
    def init_bits(self) -> int:
        """Value emitted by a non-empty bin in which nothing won."""
        return self.sentinel if self.sentinel is not None else 0


#: The supported types, by name.  Codes are the ``CONFIG.DTYPE`` field.
DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        DType("int8", 8, False, None, 0),
        DType("int16", 16, False, None, 1),
        DType("float16", 16, True, 0xFC00, 2),      # -FLT_MAX overflows to -inf
        DType("bfloat16", 16, True, 0xFF80, 3),     # -FLT_MAX overflows to -inf
        DType("float32", 32, True, 0xFF7FFFFF, 4),  # -3.4028235e38
    )
}


def dtype_by_name(name) -> DType:
    """Look a type up by name; ``TypeError`` / ``ValueError`` on bad input."""
    if not isinstance(name, str):
        raise TypeError(f"dtype must be a str naming one of {sorted(DTYPES)}, got {type(name).__name__}")
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {name!r}") from None


def dtype_by_code(code: int) -> DType:
    for d in DTYPES.values():
        if d.code == code:
            return d
    raise ValueError(f"no dtype has code {code}")
