"""Benchmark harness: the platform against bare PySpark, DuckDB and the bytes on disk.

Run ``python -m benchmarks --scales 1,100,500 --repeat 3 --out benchmarks/results/run.json``
(or ``make bench``). See ``benchmarks/__main__.py`` for the options and README "Performance" for
the figures and what they mean.
"""
