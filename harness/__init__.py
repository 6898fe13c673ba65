"""Benchmark harness for text-embedding models (MTEB task groups, PEARL, WordSim)."""

__version__ = "0.1.0"
