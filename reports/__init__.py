"""Reports: benchmarks, FPGA figures and plots, written under ``reports/out/``.

Modules
-------
fpga
    Yosys + nextpnr-ecp5 (YoWASP) flow: utilisation and post-route fmax, cached.
sweep
    The LANES x dtype sweep of engine configurations, and
    ``reports/data/fpga-default.json``.
comparison
    Every standard workload: engine cycles (RTL or cycle model), time at
    fmax, GPU (from ``host.gpu_bench`` files) and CPU figures.
plots, document
    The PNG plots; the Markdown/HTML writer.
provenance, cache
    Provenance records of figures; the JSON cache of slow measurements.
bench
    ``make bench``.

``python -m reports`` (``make report``) puts them together.
"""
