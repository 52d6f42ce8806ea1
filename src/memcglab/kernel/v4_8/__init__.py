"""Kernel-mirror code of v4.8-v5.4: the per-node reclaim callers (shrink_node)."""
