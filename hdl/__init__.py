"""Amaranth gateware of the RoI-pooling engine.

Modules
-------
dtypes
    The five element types, their sentinels and the order-preserving keys
    that turn every float comparison into an unsigned integer comparison.
protocol
    Register map, descriptor and result formats: the contract with the host
    (importable without Amaranth elaboration; exported as JSON).
bin_edges
    Divider-free exact-mode bin-edge generator.
pool
    Row / vertical / output stages (separable max pooling of one tile).
engine
    :class:`RoIPoolEngine`, the top level with AXI4 / AXI4-Lite / AXI-Stream
    ports.

This package imports only Amaranth and its own modules.
"""

__all__ = ["RoIPoolEngine"]


def __getattr__(name):
    # Lazy so that ``import hdl.protocol`` (the host's use) elaborates nothing.
    if name == "RoIPoolEngine":
        from .engine import RoIPoolEngine
        return RoIPoolEngine
    raise AttributeError(name)
