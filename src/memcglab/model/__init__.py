"""Kernel constants and the static shape of a configuration (groups, zones, iterators)."""
