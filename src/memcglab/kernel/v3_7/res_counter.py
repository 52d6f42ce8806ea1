"""``struct res_counter`` and its functions, as v3.7 memcg charging uses them.

Models kernel/res_counter.c and include/linux/res_counter.h of Linux 3.7.2 (see
:mod:`memcglab.kernel.v3_7`), in pages (the kernel counts bytes, one page at a time here):

* ``res_counter_charge()`` (res_counter.c:25-77): charge every level from the counter up
  through its ``parent`` pointers; the first level whose ``usage + val > limit`` fails
  (``*limit_fail_at``), and the levels below it are uncharged again;
* ``res_counter_uncharge()`` / ``res_counter_uncharge_until()`` (res_counter.c:86-111);
* ``res_counter_margin()`` and ``res_counter_soft_limit_excess()`` (res_counter.h:148-183).

The counters are data of the simulation machine (:class:`memcglab.sim.machine.SimMachine`):
``husage[g]`` is ``memcg->res.usage``, ``limits[g]`` its ``limit`` (None: RESOURCE_MAX),
``soft_limits[g]`` its ``soft_limit`` (None: RESOURCE_MAX) and ``chain[g]`` the counter
followed by its ``parent`` pointers (``mem_cgroup_create()`` links ``res`` to the parent's
only under a ``use_hierarchy`` parent). A whole charge runs in one step of the simulation,
as the per-level spinlocks with interrupts off make it in the kernel.

The root memcg is charged here like any group (v3.7 never charges it,
``__mem_cgroup_try_charge()`` bypasses it: memcontrol.c:2374-2375); it has no limit, so no
charge fails there, and its usage is what the metrics report for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from memcglab.sim.machine import SimMachine


def res_counter_charge(mm: SimMachine, memcg: int) -> int | None:
    """Charge one page to ``memcg->res`` and its parents. Returns None when charged, else the
    memcg whose counter would exceed its limit (``limit_fail_at``), nothing charged."""
    husage, limits = mm.husage, mm.limits
    chain = mm.chain[memcg]
    for i, c in enumerate(chain):
        limit = limits[c]
        if limit is not None and husage[c] + 1 > limit:
            for u in chain[:i]:
                husage[u] -= 1
            return c
        husage[c] += 1
    return None


def res_counter_uncharge(mm: SimMachine, memcg: int, val: int = 1) -> None:
    """Uncharge ``val`` pages from ``memcg->res`` and its parents."""
    res_counter_uncharge_until(mm, memcg, None, val)


def res_counter_uncharge_until(mm: SimMachine, memcg: int, top: int | None,
                               val: int = 1) -> None:
    """Uncharge the counters from ``memcg``'s up to, not including, ``top``'s (None: all);
    a counter is never taken below 0 (the kernel warns and clamps)."""
    husage = mm.husage
    for c in mm.chain[memcg]:
        if c == top:
            break
        husage[c] -= min(val, husage[c])


def res_counter_margin(mm: SimMachine, memcg: int) -> int:
    """``limit - usage`` when below the limit, else 0 (unlimited: a margin no charge uses up)."""
    limit = mm.limits[memcg]
    usage = mm.husage[memcg]
    if limit is None:
        return 1 << 62
    return limit - usage if limit > usage else 0


def res_counter_soft_limit_excess(mm: SimMachine, memcg: int) -> int:
    """``usage - soft_limit`` when above the soft limit, else 0."""
    soft = mm.soft_limits[memcg]
    usage = mm.husage[memcg]
    if soft is None or usage <= soft:
        return 0
    return usage - soft
