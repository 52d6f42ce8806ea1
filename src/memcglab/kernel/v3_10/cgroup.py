"""The cgroup core of v3.10-v3.18 as the memcg iterators of that era see it (kernel/cgroup.c).

Read in a v3.10.99 tree (harviswang/linux-3.10.99 @ 4c64a6774469) and a v3.14.1 tree
(nadavitay/linux-3.14.1 @ 57f2526e25ee); docs/research/iterator-history.md section 3.

* ``cgroup_next_descendant_pre()`` (v3.10, kernel/cgroup.c:2967-2994): the pre-order walk
  below ``cgroup``, which it does not visit itself (a NULL ``pos`` starts at its first
  child); ``css_next_descendant_pre()`` (v3.12+, bd8815a6d802) visits the root first: the
  v6.18 function of :mod:`memcglab.kernel.v6_18.cgroup` serves for it. Each step to a child
  or sibling is one RCU read of a sibling list (``CSS_NEXT_CHILD``). Approximation: v3.10
  follows ``pos->sibling.next`` of a removed ``pos`` (``list_del_rcu`` keeps it), the machine
  gives the next child still linked by creation order; both reach the same sibling unless
  that one was removed too.
* ``cgroup_rmdir()`` -> ``cgroup_destroy_locked()`` (v3.10 :4282-4340): ``CSS_DEACT_BIAS``
  (``css_tryget()`` fails from here), ``offline_css()`` -> ``ss->css_offline()`` (memcg:
  ``mem_cgroup_css_offline()``, the variant's :meth:`mem_cgroup_css_offline`), then the base
  reference put; the last put frees the memcg after an RCU grace period (v3.14
  ``css_release()`` -> ``call_rcu(css_free_rcu_fn)``). rmdir does not wait for references.
  From v3.11 the kill is ``percpu_ref_kill_and_confirm()`` and the offline waits for its
  sched-RCU grace period (a variant with ``offline_after_grace_period``): every walker
  inside a read section at the kill has left it before ``css_offline`` runs.
* ``cgroup_create()`` (v3.10 :4131-4240): the cgroup is linked into its parent's children
  (``list_add_tail_rcu``, :4216) before ``online_css()`` runs ``ss->css_online()`` (:4228):
  a walker can meet a group that is not initialised yet (kernel_iterators.md 3,
  d8ad30559715). Two operations here.
* ``css_tryget()``: v3.10 ``__css_tryget`` fails once ``CSS_DEACT_BIAS`` is on the count;
  v3.14 ``percpu_ref_tryget()`` fails once the ref is killed (include/linux/
  percpu-refcount.h:132-149 @ 3.14.1): ``Semantics(tryget_fails_offline=True)``.

Not modelled: ``cgroup_mutex`` (as in :mod:`memcglab.kernel.v6_18.cgroup`: more orders, never
fewer).
"""

from __future__ import annotations

import functools
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from memcglab.kernel.cgroup import synchronize_rcu
from memcglab.kernel.context import KernelContext
from memcglab.kernel.v6_18.cgroup import css_next_child
from memcglab.runtime.ops import Kind, Op

if TYPE_CHECKING:
    from memcglab.kernel.iterator import MemcgIter


def cgroup_next_descendant_pre(k: KernelContext, pos: int | None,
                               cgroup: int) -> Generator[Op, Any, int | None]:
    """kernel/cgroup.c v3.10 ``cgroup_next_descendant_pre(pos, cgroup)``."""
    # if first iteration, pretend we just visited @cgroup
    if pos is None:
        pos = cgroup
    # visit the first child if exists
    nxt: int | None = yield css_next_child(k, None, pos)
    if nxt is not None:
        return nxt
    # no child, visit my or the closest ancestor's next sibling
    while pos != cgroup:
        parent = k.topology.parent(pos)
        assert parent is not None
        nxt = yield css_next_child(k, pos, parent)
        if nxt is not None:
            return nxt
        pos = parent
    return None


@functools.cache
def css_online_test(k: KernelContext, memcg: int) -> Op:
    """``css->flags & CSS_ONLINE`` (v3.12+): yields whether the group is online."""
    return Op(Kind.CSS_ONLINE_TEST, memcg, None,
              f"{k.name(memcg)}->css.flags & CSS_ONLINE" if k.notes else "")


def cgroup_mkdir(k: KernelContext, memcg: int) -> Generator[Op, Any, int]:
    """``cgroup_create()``: linked into the parent's children, then ``online_css()``."""
    cid: int = yield Op(Kind.CSS_LINK, memcg, None,
                        f"mkdir {k.name(memcg)}: list_add_tail_rcu(&cgrp->sibling)")
    yield Op(Kind.CSS_ONLINE, memcg, None, f"online_css({k.name(memcg)}): css_online()")
    return cid


def cgroup_rmdir(k: KernelContext, variant: MemcgIter,
                 memcg: int) -> Generator[Op, Any, None]:
    """``cgroup_destroy_locked()``: the kill, ``ss->css_offline()``, the base put."""
    yield Op(Kind.CSS_OFFLINE, memcg, None,
             f"rmdir {k.name(memcg)}: kill (css_tryget fails from now on)")
    if getattr(variant, "offline_after_grace_period", False):
        # v3.11+ kill_css() -> percpu_ref_kill_and_confirm(): css_killed_ref_fn runs after
        # a sched-RCU grace period (lib/percpu-refcount.c v3.14.1:152-162), then
        # css_killed_work_fn() -> offline_css() (kernel/cgroup.c v3.14.1:4298-4372).
        yield from synchronize_rcu(k, memcg)
    yield from variant.mem_cgroup_css_offline(memcg)
    yield Op(Kind.PUT_BASE, memcg, None, f"css_put({k.name(memcg)}) [base reference]")
