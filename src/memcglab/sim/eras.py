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
from memcglab.kernel.v6_18 import vmscan as vmscan_6_18
from memcglab.kernel.v6_18.cgroup import cgroup_mkdir, cgroup_rmdir, css_release_work
from memcglab.kernel.v6_18.context import TaskStruct
from memcglab.kernel.v6_18.filemap import filemap_read, filemap_read_same_folio
from memcglab.kernel.v6_18.memcontrol import MemcgState, mem_cgroup_handle_over_high
from memcglab.kernel.v6_18.memory import handle_mm_fault
from memcglab.kernel.v6_18.mmap import exit_mmap
from memcglab.kernel.v6_18.page_counter import page_counter_set_low, page_counter_set_min
from memcglab.kernel.v6_18.readahead import File, file_ra_state_init
from memcglab.runtime.ops import Kind, Op
from memcglab.sim.plan import DEFAULT_READ_AHEAD_KB, Plan
from memcglab.sim.workloads import ProcessSpec

Gen = Generator[Op, Any, Any]
KERNELS = ("3.7", "6.18")
# A workload's `readahead` as posix_fadvise advice (mm/fadvise.c).
FADVISE = {"default": "normal", "sequential": "sequential", "off": "random"}


class UserEntry:
    """What a process's user-space loop calls into: ``touch(index)`` (a read of its file or
    a store to its anonymous memory; its generator returns False, or None for a read, if
    the fault failed), ``resume_user()`` (the work done on the way back to user mode),
    ``exit()`` (do_exit), and ``killed()`` (a pending SIGKILL). Kernel 6.18: ``paced``
    (the live worker's pacing) and, for a file, ``batch(index)``: the folio holding
    ``index`` and how many pages of it follow ``index`` (0 if it is gone), and
    ``batched(index)``: the reads up to ``index`` were made in that folio."""

    def __init__(self, touch: Callable[[int], Gen], resume_user: Callable[[], Gen] | None,
                 exit_: Callable[[], Gen] | None, killed: Callable[[], bool],
                 touched: list[int], paced: bool = False,
                 batch: Callable[[int], tuple[int, int]] | None = None,
                 batched: Callable[[int], None] | None = None) -> None:
        self.touch = touch
        self.resume_user = resume_user
        self.exit = exit_
        self.killed = killed
        self.touched = touched  # per mapping: distinct pages its process touched
        self.paced = paced
        self.batch = batch
        self.batched = batched


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
               name: str, batch_reads: bool = True) -> UserEntry:
    if plan.kernel == "3.7":
        # Each kernel's modules are imported when a scenario runs it (start-up time).
        from memcglab.kernel.v3_7.memory import touch_page

        def touch_3_7(index: int) -> Gen:
            # v3.7's model goes on after a failed fault (its generator returns None: not
            # retried).
            return touch_page(k, variant, p.memcg, p.anon, p.mapping, index, p.zones,
                              p.may_swap)
        return UserEntry(touch_3_7, None, None, lambda: False, k.mm.touched)
    current = TaskStruct(tid, name, p.memcg)
    k.mem.tasks.append(current)

    def resume_user() -> Gen:
        return mem_cgroup_handle_over_high(k, variant, current, p.zones)

    def killed() -> bool:
        return current.killed

    if p.anon:
        def fault(index: int) -> Gen:
            return handle_mm_fault(k, variant, current, p.mapping, index, p.zones)

        def exit_() -> Gen:
            return exit_mmap(k, current, p.mapping)

        return UserEntry(fault, resume_user, exit_, killed, k.mm.touched, paced=True)
    # The process's open file: i_size is the workload's size, f_ra from the device's
    # window and the workload's posix_fadvise.
    window = DEFAULT_READ_AHEAD_KB if plan.read_ahead_kb is None else plan.read_ahead_kb
    file = File(p.mapping, p.pages, file_ra_state_init(window, FADVISE[p.readahead]))
    present = k.mm.mappings[p.mapping]
    pages = k.mm.pages

    def read(index: int) -> Gen:
        return filemap_read(k, variant, current, file, index, p.zones)

    def batch(index: int) -> tuple[int, int]:
        head = present.get(index)
        if head is None:
            return -1, 0
        return head, pages.index[head] + pages.nr[head] - 1 - index

    def batched(index: int) -> None:
        filemap_read_same_folio(file, index)

    return UserEntry(read, resume_user, None, killed, k.mm.touched, paced=True,
                     batch=batch if batch_reads else None, batched=batched)


def kswapd_thread(k: KernelContext, variant: MemcgIter, plan: Plan, nid: int,
                  zones: tuple[int, ...]) -> Gen:
    if plan.kernel == "3.7":
        from memcglab.kernel.v3_7 import vmscan as vmscan_3_7
        return vmscan_3_7.kswapd(k, variant, nid, zones, plan.swap,
                                 any(s is not None for s in plan.soft_limits))
    return vmscan_6_18.kswapd(k, variant, nid, zones)


def cgroup_admin(k: KernelContext, variant: MemcgIter, plan: Plan) -> Gen:
    """mkdir / rmdir at the scenario's times: (time_ns, op, memcg), sorted by time, on the
    variant's cgroup core (its Semantics, as ``memcglab check``'s admin): v3.7, one
    operation each (the machine runs the destroy path); v3.8-v3.18 (rmdir kills, runs
    ``css_offline`` and puts the base reference: :mod:`memcglab.kernel.v3_10.cgroup`);
    v3.19+ (``cgroup_mkdir`` and ``cgroup_rmdir``: kill_css, the release left to a kworker,
    :func:`release_workers`)."""
    from memcglab.kernel.v3_10 import cgroup as cgroup_3_10  # a v3.8-v3.18 core's variant

    sem = type(variant).semantics
    now = 0
    for at, op, memcg in plan.changes:
        if at > now:
            now = yield Op(Kind.SLEEP, at - now)
        if sem.release_work:
            if op == "mkdir":
                yield from cgroup_mkdir(k, memcg)
            else:
                yield from cgroup_rmdir(k, memcg)
        elif sem.rmdir_waits_for_refs:
            kind = Kind.MKDIR if op == "mkdir" else Kind.RMDIR
            yield Op(kind, memcg, None, f"{op} {k.name(memcg)}")
        elif op == "mkdir":
            yield from cgroup_3_10.cgroup_mkdir(k, memcg)
        else:
            yield from cgroup_3_10.cgroup_rmdir(k, variant, memcg)


def release_workers(k: KernelContext, variant: MemcgIter, plan: Plan
                    ) -> list[tuple[str, Gen]]:
    """v3.19+ cgroup core: one ``cgroup_release_wq`` work per group the scenario removes."""
    if not type(variant).semantics.release_work:
        return []
    return [(f"kworker/release-{k.name(g)}", css_release_work(k, variant, g))
            for _, op, g in plan.changes if op == "rmdir"]
