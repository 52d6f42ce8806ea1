"""Which kernel-mirror entry points a simulation runs, per kernel (``kernel = "3.7"`` or
``"6.18"`` in a scenario): what a process's page touch, its return to user mode and its exit
call, what kswapd runs, and how cgroups are created and removed.

Machinery only: the rules are in :mod:`memcglab.kernel` (``kernel.v3_7`` and
``kernel.v6_18``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from memcglab.kernel.context import KernelContext
from memcglab.kernel.iterator import MemcgIter
from memcglab.kernel.v3_7 import vmscan as vmscan_3_7
from memcglab.kernel.v3_7.memory import touch_page
from memcglab.kernel.v6_18 import vmscan as vmscan_6_18
from memcglab.kernel.v6_18.cgroup import cgroup_mkdir, cgroup_rmdir, css_release_work
from memcglab.kernel.v6_18.context import TaskStruct
from memcglab.kernel.v6_18.filemap import filemap_read
from memcglab.kernel.v6_18.memcontrol import MemcgState, mem_cgroup_handle_over_high
from memcglab.kernel.v6_18.memory import handle_mm_fault
from memcglab.kernel.v6_18.mmap import exit_mmap
from memcglab.kernel.v6_18.page_counter import page_counter_set_low, page_counter_set_min
from memcglab.runtime.ops import Kind, Op
from memcglab.sim.plan import Plan
from memcglab.sim.workloads import ProcessSpec

Gen = Generator[Op, Any, Any]
KERNELS = ("3.7", "6.18")


class UserEntry:
    """What a process's user-space loop calls into: ``touch(index)`` (a read of its file or
    a store to its anonymous memory; its generator returns False if the fault failed),
    ``resume_user()`` (the work done on the way back to
    user mode), ``exit()`` (do_exit), and ``killed()`` (a pending SIGKILL)."""

    def __init__(self, touch: Callable[[int], Gen], resume_user: Callable[[], Gen] | None,
                 exit_: Callable[[], Gen] | None, killed: Callable[[], bool]) -> None:
        self.touch = touch
        self.resume_user = resume_user
        self.exit = exit_
        self.killed = killed


def setup(k: KernelContext, plan: Plan) -> None:
    """The era's memcg state: v6.18 page counters with the scenario's knobs."""
    if plan.kernel == "3.7":
        return
    state = k.mem = MemcgState(k, plan.cgroup == "v2", plan.recursive_protection, plan.swap)
    for g, mc in enumerate(state.memcgs):
        c = mc.memory
        limit = plan.limits[g]
        if limit is not None:
            c.max = limit  # memory.max / memory.limit_in_bytes
        if plan.protections:
            high, low, mn = plan.protections[g]
            if high is not None:
                c.high = high
            if mn is not None:
                page_counter_set_min(c, mn)
            if low is not None:
                page_counter_set_low(c, low)


def user_entry(k: KernelContext, variant: MemcgIter, plan: Plan, p: ProcessSpec, tid: int,
               name: str) -> UserEntry:
    if plan.kernel == "3.7":
        def touch_3_7(index: int) -> Gen:
            # v3.7's model goes on after a failed fault (its generator returns None: not
            # retried).
            return touch_page(k, variant, p.memcg, p.anon, p.mapping, index, p.zones,
                              p.may_swap)
        return UserEntry(touch_3_7, None, None, lambda: False)
    current = TaskStruct(tid, name, p.memcg)
    k.mem.tasks.append(current)
    fault = handle_mm_fault if p.anon else filemap_read

    def touch(index: int) -> Gen:
        return fault(k, variant, current, p.mapping, index, p.zones)

    def resume_user() -> Gen:
        return mem_cgroup_handle_over_high(k, variant, current, p.zones)

    def exit_() -> Gen:
        return exit_mmap(k, current, p.mapping)

    return UserEntry(touch, resume_user, exit_ if p.anon else None, lambda: current.killed)


def kswapd_thread(k: KernelContext, variant: MemcgIter, plan: Plan, nid: int,
                  zones: tuple[int, ...]) -> Gen:
    if plan.kernel == "3.7":
        return vmscan_3_7.kswapd(k, variant, nid, zones, plan.swap,
                                 any(s is not None for s in plan.soft_limits))
    return vmscan_6_18.kswapd(k, variant, nid, zones)


def cgroup_admin(k: KernelContext, plan: Plan) -> Gen:
    """mkdir / rmdir at the scenario's times: (time_ns, op, memcg), sorted by time. v3.7:
    one operation each (the machine runs the destroy path); v6.18: ``cgroup_mkdir`` and
    ``cgroup_rmdir`` (kill_css), the release left to a kworker (:func:`release_workers`)."""
    now = 0
    for at, op, memcg in plan.changes:
        if at > now:
            now = yield Op(Kind.SLEEP, at - now)
        if plan.kernel == "3.7":
            kind = Kind.MKDIR if op == "mkdir" else Kind.RMDIR
            yield Op(kind, memcg, None, f"{op} {k.name(memcg)}")
        elif op == "mkdir":
            yield from cgroup_mkdir(k, memcg)
        else:
            yield from cgroup_rmdir(k, memcg)


def release_workers(k: KernelContext, variant: MemcgIter, plan: Plan
                    ) -> list[tuple[str, Gen]]:
    """v6.18: one ``cgroup_release_wq`` work per group the scenario removes."""
    if plan.kernel == "3.7":
        return []
    return [(f"kworker/release-{k.name(g)}", css_release_work(k, variant, g))
            for _, op, g in plan.changes if op == "rmdir"]
