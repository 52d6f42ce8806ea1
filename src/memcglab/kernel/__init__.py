"""Kernel-mirror code: the cgroup core calls, the ``mem_cgroup_iter`` variants and reclaim.

Everything here models kernel functions and keeps their names. It is *not* the live-kernel
driver (that is :mod:`memcglab.live`, which talks to cgroupfs and tracefs).

Each kernel's reclaim is a package with one module per kernel source file:
:mod:`memcglab.kernel.v3_7` (the v3.7 callers, charging, page allocation and the page-level
rules the simulator runs) and :mod:`memcglab.kernel.v6_18`. :mod:`memcglab.kernel.vmscan`
holds the era-neutral pieces both use (what an explorer reclaimer or admin does).

The variants are registered by name in :data:`memcglab.kernel.registry.ITERATORS`.
"""
