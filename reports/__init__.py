"""Reports: benchmarks, FPGA figures and plots, written under ``reports/out/``."""
