"""The cgroup-core calls the memcg iterator makes, as operations.

Models kernel/cgroup.c v3.7: ``css_get_next()``, ``css_tryget()``, ``css_get()``,
``css_put()`` and the cgroup creation / removal the admin thread performs. Each helper
returns the :class:`~memcglab.runtime.ops.Op`; model code yields it and receives the
result, so a call reads like the C: ``ok = yield css_tryget(k, memcg)``. The semantics
(what fails when, what releases and frees) live in :mod:`memcglab.runtime.machine`.

Removal is the sequence of steps the removing task takes in v3.7 (kernel/cgroup.c as read
in a v3.7.2 stable tree; mm/memcontrol.c in a v3.7 tree; docs/kernel-sources.md), each step
one operation, so that every interleaving of them with the reclaimers is explored:
``cgroup_rmdir()`` -> ``cgroup_clear_css_refs()``; then, when ``vfs_rmdir()``'s
``d_delete()`` finds itself the directory dentry's last user, ``cgroup_diput()`` ->
``synchronize_rcu()``,
``mem_cgroup_destroy()`` (:mod:`memcglab.kernel.v3_7.memcontrol`) -> ``free_css_id()`` and
``call_rcu(free_rcu)``. The RCU callback itself (the memcg's ``kfree``) is not the task's:
the machine runs it when the readers it waits for have left.
"""

from __future__ import annotations

import functools
from collections.abc import Generator
from typing import Any

from memcglab.kernel.context import KernelContext
from memcglab.runtime.ops import Kind, Op, note


@functools.cache
def css_get_next(k: KernelContext, start_id: int, root: int) -> Op:
    """``css_get_next(&mem_cgroup_subsys, start_id, &root->css, &id)``.

    Yields (memcg, css id) of the first group with id >= ``start_id`` in ``root``'s subtree
    (root included), or None. Caller must hold rcu_read_lock().
    """
    return Op(Kind.CSS_GET_NEXT, start_id, root,
              f"css = css_get_next(id {start_id}, {k.name(root)})" if k.notes else "")


@functools.cache
def css_tryget(k: KernelContext, memcg: int) -> Op:
    """``css_tryget()``: yields True if a reference was taken."""
    return Op(Kind.TRYGET, memcg, None, f"css_tryget({k.name(memcg)})" if k.notes else "")


@functools.cache
def css_get(k: KernelContext, memcg: int) -> Op:
    return Op(Kind.GET, memcg, None, f"css_get({k.name(memcg)})" if k.notes else "")


@functools.cache
def css_put(k: KernelContext, memcg: int) -> Op:
    return Op(Kind.PUT, memcg, None, f"css_put({k.name(memcg)})" if k.notes else "")


def cgroup_mkdir(k: KernelContext, memcg: int) -> Generator[Op, Any, int]:
    """``mkdir`` of a memcg directory: css id allocated, group online. Returns the id."""
    cid: int = yield Op(Kind.MKDIR, memcg, None, f"mkdir {k.name(memcg)}")
    return cid


def cgroup_rmdir(k: KernelContext, memcg: int) -> Generator[Op, Any, None]:
    """``rmdir`` of a memcg directory, v3.7: ``do_rmdir()`` -> ``vfs_rmdir()`` ->
    ``cgroup_rmdir()``, then ``vfs_rmdir()``'s ``d_delete()`` -> ``cgroup_diput()``.

    ``cgroup_rmdir()`` (kernel/cgroup.c v3.7): ``pre_destroy`` (memcg's
    ``mem_cgroup_force_empty()``: charges move to the parent; its own ``css_get`` / ``css_put``
    pair only delays rmdir, so it is left out), then ``cgroup_clear_css_refs()``, retried
    after a sleep on ``cgroup_rmdir_waitq`` until only the base reference is left (a
    ``css_put()`` that brings the count back to 1 wakes it:
    ``cgroup_wakeup_rmdir_waiter()`` in ``__css_put()``), then the directory is removed.

    Who runs the destroy path: memcg sets ``__DEPRECATED_clear_css_refs``, so its css
    references do not pin the cgroup's dentry (``css_dput_fn`` runs only for css without
    ``CSS_CLEAR_CSS_REFS``) and the base reference is always the last one dropped, by the
    rmdir task itself. Of the dentry's references (cgroupfs's pin, dropped by
    ``simple_unlink()`` in ``cgroup_d_remove_dir()``; ``cgroup_rmdir()``'s and
    ``vfs_rmdir()``'s own) only ``do_rmdir()``'s lookup reference is left when
    ``vfs_rmdir()`` calls ``d_delete()``, which therefore unlinks the inode at once: the
    cgroupfs ``d_iput``, ``cgroup_diput()``, runs in the rmdir task, after
    ``cgroup_rmdir()`` has returned, and so does the whole destroy path below. (Not
    modelled: a process holding the directory open, whose ``dput()`` would then run
    ``cgroup_diput()``; a controller without ``__DEPRECATED_clear_css_refs`` mounted in the
    same hierarchy, whose css references pin the dentry until a work item drops them.)
    Under ``Semantics(rmdir_waits_for_refs=False)`` a walker's reference may outlive rmdir;
    the machine then runs the destroy path asynchronously after the last ``css_put()``, as
    the later kernels' work item does.
    """
    if k.notes:
        yield note(f"rmdir {k.name(memcg)}")
    last = yield cgroup_clear_css_refs(k, memcg)
    if last:
        yield from cgroup_diput(k, memcg)


def cgroup_clear_css_refs(k: KernelContext, memcg: int) -> Op:
    """kernel/cgroup.c v3.7 ``cgroup_clear_css_refs()``: enabled only while the base
    reference is the last one; sets ``CSS_REMOVED`` (trygets fail from here) and drops the
    base reference. Yields True if the count reached zero."""
    return Op(Kind.CLEAR_CSS_REFS, memcg, None,
              f"cgroup_clear_css_refs({k.name(memcg)}): removed, base ref put"
              if k.notes else "")


def cgroup_diput(k: KernelContext, memcg: int) -> Generator[Op, Any, None]:
    """kernel/cgroup.c v3.7 ``cgroup_diput()`` for a cgroup directory: ``synchronize_rcu()``
    (so that a ``css_put()`` racing with the removal can still look at the cgroup), then
    under ``cgroup_mutex`` every subsystem's ``->destroy``, here memcg's
    ``mem_cgroup_destroy()``. The ``kfree_rcu()`` of the ``struct cgroup`` that follows
    frees nothing the iterator reads."""
    # ss->destroy of the memory subsystem. Imported here, not at the top: memcontrol calls
    # into this module (free_css_id), as mm/memcontrol.c calls into kernel/cgroup.c.
    from memcglab.kernel.v3_7.memcontrol import mem_cgroup_destroy

    yield from synchronize_rcu(k, memcg)
    yield from mem_cgroup_destroy(k, memcg)


def synchronize_rcu(k: KernelContext, memcg: int) -> Generator[Op, Any, None]:
    """``synchronize_rcu()`` as called by ``cgroup_diput()`` for ``memcg``'s removal, in two
    steps: the readers inside a read section when it starts are recorded; it returns once
    all of them have left (readers that enter in between are not waited for)."""
    yield Op(Kind.SYNC_RCU_START, memcg, None,
             f"synchronize_rcu() [cgroup_diput({k.name(memcg)})]" if k.notes else "")
    yield Op(Kind.SYNC_RCU_WAIT, memcg, None,
             "synchronize_rcu() returns" if k.notes else "")


def free_css_id(k: KernelContext, memcg: int) -> Op:
    """kernel/cgroup.c v3.7 ``free_css_id()``: ``id->css`` and ``css->id`` cleared and the id
    removed from the IDR, so ``css_get_next()`` no longer finds the group and the id may be
    reused. Yields the id."""
    return Op(Kind.FREE_CSS_ID, memcg, None,
              f"free_css_id({k.name(memcg)})" if k.notes else "")
