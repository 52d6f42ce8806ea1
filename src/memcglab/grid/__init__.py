"""Sweeps as work: cells, their results store, the executors that run them."""
