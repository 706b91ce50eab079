"""Benchmarks: measured figures are written to files and printed as tables."""
