"""The OOM killer's choice, mm/oom_kill.c of Linux v6.18, as far as the simulator needs it.

``out_of_memory()`` with ``oc->memcg`` set (a memcg OOM) or not (global) scans the tasks of
the subtree (or all tasks) with ``oom_evaluate_task()``: a task already killed and not yet
gone aborts the scan, the OOM waits for it ([OK]:343-380); otherwise the highest
``oom_badness()`` wins, the later of equal scores replacing the earlier (``points <
chosen_points`` skips, [OK]:372). ``oom_badness()`` ([OK]:200-240) is ``get_mm_rss() +
MM_SWAPENTS + page tables / PAGE_SIZE``: here the process's resident anonymous pages, its
swapped-out ones, and one page of page tables (every process has some, so every process
can be chosen; page cache read with read(2) is in nobody's RSS). The victim gets SIGKILL
and ``MEMCG_OOM_KILL`` is raised on its own memcg and ancestors (``__oom_kill_process``,
``memcg_memory_event_mm``). Not modelled: ``oom_score_adj``, ``task_will_free_mem``, the
oom reaper. [OK] is mm/oom_kill.c of the v6.18.19 tree (6952350/linux-6.18.y @
f3fce0151d48), read by the review in /tmp (line numbers there).
"""

from __future__ import annotations

from memcglab.kernel.context import KernelContext
from memcglab.kernel.v6_18.memcontrol import MEMCG_OOM_KILL, mem, memcg_memory_event


def oom_badness(k: KernelContext, tid: int) -> int:
    mm = k.mm
    return int(mm.anon_rss(tid) + mm.anon_swapped(tid) + 1)


def out_of_memory(k: KernelContext, memcg: int | None) -> int | None:
    """The victim's task id (killed now), -1 if a victim is already dying, None if there is
    no task to kill (the kernel panics on a global OOM then: "System is deadlocked on
    memory"; the model fails the allocation)."""
    mm = k.mm
    chosen = None
    chosen_points = 0
    for t in mem(k).tasks:
        if memcg is not None and not k.topology.is_descendant(t.memcg, memcg):
            continue
        if not mm.task_alive(t.tid):
            continue
        if t.killed:
            return -1  # abort: wait for the dying task to free its memory
        points = oom_badness(k, t.tid)
        if points < chosen_points:
            continue
        chosen, chosen_points = t, points
    if chosen is None:
        return None
    chosen.killed = True  # SIGKILL: the task exits at its next return to user mode
    mm.wake_task(chosen.tid)  # signal_wake_up(): a sleeping victim wakes at once
    memcg_memory_event(k, chosen.memcg, MEMCG_OOM_KILL)
    return int(chosen.tid)
