"""Kernel-mirror code of v5.5-v6.10: full walks without a shared cursor (1ba6fc9af35b)."""
