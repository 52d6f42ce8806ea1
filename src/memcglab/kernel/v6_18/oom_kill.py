"""The OOM killer's choice, mm/oom_kill.c of Linux v6.18, as far as the simulator needs it.

``out_of_memory()`` with ``oc->memcg`` set (a memcg OOM) or not (global) selects the task
with the highest ``oom_badness()`` among the tasks of the subtree (or all tasks) and sends
it SIGKILL; a task already killed and not yet gone makes the call wait instead
(``oom_evaluate_task`` aborts on a dying victim). The function was not read line by line
(docs/research/v6-reclaim.md, open questions): the model's badness is the task's
anonymous memory, the part of ``get_mm_rss() + swap entries + page tables`` a simulated
process has (page cache read with read(2) is in nobody's RSS). Ties go to the lower task
id; no candidate with RSS means no kill.
"""

from __future__ import annotations

from memcglab.kernel.context import KernelContext
from memcglab.kernel.v6_18.memcontrol import mem


def out_of_memory(k: KernelContext, memcg: int | None) -> int | None:
    """The victim's task id (killed now), -1 if a victim is already dying, None if no task
    can be killed."""
    mm = k.mm
    best = None
    best_rss = 0
    for t in mem(k).tasks:
        if memcg is not None and not k.topology.is_descendant(t.memcg, memcg):
            continue
        if not mm.task_alive(t.tid):
            continue
        if t.killed:
            return -1
        rss = mm.anon_rss(t.tid)
        if rss > best_rss:
            best, best_rss = t, rss
    if best is None:
        return None
    best.killed = True  # SIGKILL: the task exits at its next return to user mode
    return int(best.tid)
