"""Kernel-mirror code of v3.19-v4.3: the strong cursor (5ac8fb31ad2e)."""
