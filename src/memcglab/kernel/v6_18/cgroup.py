"""The cgroup core of v6.18 as the memcg iterator sees it (kernel/cgroup/cgroup.c).

Read in a v6.18.y tree (6952350/linux-6.18.y @ 312d9602fe3e; docs/research/
current-iterator.md sections 2 and 3):

* ``css_next_child()``: one operation, an RCU read of the parent's sibling list (the
  machine returns the first child still linked whose ``serial_nr`` is above ``pos``'s);
* ``css_next_descendant_pre()``: the pre-order walk built from it, as in the C;
* ``css_tryget()`` / ``css_put()`` (include/linux/cgroup_refcnt.h): ``percpu_ref_tryget()``
  fails only once the count is zero, online or not (``Semantics(release_work=True)``);
* ``cgroup_mkdir()``: ``css_create()`` links the css (``list_add_tail_rcu``) with the next
  ``serial_nr`` and onlines it, one step under ``cgroup_mutex``;
* ``cgroup_rmdir()`` -> ``cgroup_destroy_locked()`` -> ``kill_css()`` (an extra reference
  taken, the base reference dropped by ``percpu_ref_kill_and_confirm()``), then later
  ``css_killed_work_fn()`` -> ``offline_css()`` and the put of the extra reference: one step
  here, since the count cannot reach zero in between and ``css_tryget()`` does not depend on
  the online state. ``rmdir`` returns without waiting for the references of reclaimers;
* each css holds a reference on its parent from ``init_and_link_css()`` until
  ``css_free_rwork_fn()`` (the machine's part);
* ``css_release_work_fn()``, run by a kworker of ``cgroup_release_wq`` (per CPU, so the
  works of different groups run in any order) once the count reached zero: ``CSS_RELEASED``
  and ``list_del_rcu(&css->sibling)``, the
  subsystem's ``css_released`` callback (memcg: :func:`~memcglab.kernel.v6_18.memcontrol.
  mem_cgroup_css_released`, one operation per iterator it invalidates), then
  ``queue_rcu_work(cgroup_free_wq, css_free_rwork_fn)``: the memcg is freed after a grace
  period.

Not modelled: ``cgroup_mutex`` itself. In the kernel it makes the release work's first part
(``CSS_RELEASED``, the unlink and every invalidation cmpxchg) one section, and mkdir, rmdir and
other release works wait for it. Leaving it out lets those steps interleave: the model has
more orders than the kernel, never fewer, so a proof covers the kernel's; a counterexample
that needed such an order would be a false alarm (none of the findings does: their removals
and releases run alone). Other references on a dying memcg (charged folios, the memcg ID) are
not modelled either: when a removed group's last reference goes stands for them.
"""

from __future__ import annotations

import functools
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

# css_tryget() / css_put() are the same operations as in v3.7: what differs (a percpu_ref
# tryget fails only at zero; the last put queues the release work) is the machine's
# Semantics(release_work=True), so the v3.7 builders serve (include/linux/cgroup_refcnt.h).
from memcglab.kernel.cgroup import css_put, css_tryget
from memcglab.kernel.context import KernelContext
from memcglab.runtime.ops import Kind, Op

if TYPE_CHECKING:
    from memcglab.kernel.iterator import MemcgIter

__all__ = [
    "cgroup_mkdir",
    "cgroup_rmdir",
    "css_next_child",
    "css_next_descendant_pre",
    "css_put",
    "css_release_work",
    "css_release_work_fn",
    "css_tryget",
]


@functools.cache
def css_next_child(k: KernelContext, pos: int | None, parent: int) -> Op:
    """``css_next_child(pos, parent)``: the next child of ``parent`` after ``pos`` (the
    first one for NULL), or None. Caller holds ``rcu_read_lock()``."""
    return Op(Kind.CSS_NEXT_CHILD, pos, parent,
              f"css_next_child({k.name(pos)}, {k.name(parent)})" if k.notes else "")


def css_next_descendant_pre(k: KernelContext, pos: int | None,
                            root: int) -> Generator[Op, Any, int | None]:
    """``css_next_descendant_pre(pos, root)``: the pre-order successor of ``pos`` in
    ``root``'s subtree, ``root`` first for a NULL ``pos``. Holding no reference on ``pos`` is
    fine under RCU (the function's comment); ``pos->parent`` never changes."""
    # if first iteration, visit @root
    if pos is None:
        return root
    # visit the first child if exists
    nxt: int | None = yield css_next_child(k, None, pos)
    if nxt is not None:
        return nxt
    # no child, visit my or the closest ancestor's next sibling
    while pos != root:
        parent = k.topology.parent(pos)
        assert parent is not None  # pos is below root
        nxt = yield css_next_child(k, pos, parent)
        if nxt is not None:
            return nxt
        pos = parent
    return None


def cgroup_mkdir(k: KernelContext, memcg: int) -> Generator[Op, Any, int]:
    """``cgroup_mkdir()`` -> ``css_create()``: linked at the tail of the parent's children
    with the next serial number, then onlined. Returns the css id."""
    cid: int = yield Op(Kind.MKDIR, memcg, None, f"mkdir {k.name(memcg)}")
    return cid


def cgroup_rmdir(k: KernelContext, memcg: int) -> Generator[Op, Any, None]:
    """``cgroup_rmdir()`` -> ``cgroup_destroy_locked()`` -> ``kill_css()``: the base
    reference dropped; ``css_killed_work_fn()`` -> ``offline_css()`` (memcg's
    ``css_offline`` leaves the iterators alone) merged into the same step."""
    yield Op(Kind.KILL_CSS, memcg, None,
             f"rmdir {k.name(memcg)}: kill_css(), base ref put, offline")


def css_release_work_fn(k: KernelContext, variant: MemcgIter,
                        memcg: int) -> Generator[Op, Any, None]:
    """``css_release_work_fn()``: under ``cgroup_mutex``, ``CSS_RELEASED`` is set and the
    css is unlinked from its siblings before ``ss->css_released()`` runs; then the free is
    queued behind an RCU grace period (``queue_rcu_work``)."""
    yield Op(Kind.CSS_RELEASE, memcg, None,
             f"css_release_work_fn({k.name(memcg)}): CSS_RELEASED, list_del_rcu")
    yield from variant.mem_cgroup_css_released(memcg)
    yield Op(Kind.CALL_RCU_FREE, memcg, None,
             f"queue_rcu_work(css_free_rwork_fn) [{k.name(memcg)}]")


def css_release_work(k: KernelContext, variant: MemcgIter,
                     memcg: int) -> Generator[Op, Any, None]:
    """A kworker of ``cgroup_release_wq`` running ``memcg``'s release work once
    ``css_release()`` has queued it. The workqueue is per CPU (``WQ_PERCPU``, max_active 1
    per CPU), so the works of different groups run in any order: one thread each."""
    yield Op(Kind.RELEASE_WAIT, memcg, None, f"kworker: css_release work of {k.name(memcg)}")
    yield from css_release_work_fn(k, variant, memcg)
