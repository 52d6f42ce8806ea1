"""Kernel-mirror code of v4.4-v6.11: the weak cursor (6df38689e0e9) and its per-node (v4.8)
and priority-less (v5.5) forms."""
