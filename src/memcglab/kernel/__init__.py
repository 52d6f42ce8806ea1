"""Kernel-mirror code: the cgroup core calls, the ``mem_cgroup_iter`` variants and vmscan.

Everything here models kernel functions and keeps their names. It is *not* the live-kernel
driver (that will be :mod:`memcglab.live`, which talks to cgroupfs and tracefs).

The variants are registered by name in :data:`memcglab.kernel.registry.ITERATORS`.
"""
