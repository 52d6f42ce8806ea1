"""Kernel-mirror code of Linux v6.18 (the v6.12+ reclaim iterator), one module per source file.

* :mod:`.context`: ``struct mem_cgroup_reclaim_cookie`` and the part of ``struct
  scan_control`` the walk uses (include/linux/memcontrol.h, mm/vmscan.c);
* :mod:`.cgroup`: ``css_next_child()``, ``css_next_descendant_pre()``, the reference calls,
  and cgroup creation, removal and release (kernel/cgroup/cgroup.c);
* :mod:`.memcontrol`: ``mem_cgroup_iter()``, ``mem_cgroup_iter_break()`` and the release
  callback that invalidates the iterators (mm/memcontrol.c): the ``current`` variant;
* :mod:`.vmscan`: ``shrink_node_memcgs()`` and its callers (mm/vmscan.c).

Sources (docs/research/current-iterator.md): mm/memcontrol.c and kernel/cgroup/cgroup.c of a
v6.18.y tree (6952350/linux-6.18.y @ 312d9602fe3e), mm/vmscan.c of torvalds/linux @
538d5baacd8a (v6.12 or later), Kinsey Ho's series "mm: don't hold css->refcnt during
traversal" (v4, <20240905003058.1859929-1-kinseyho@google.com>, merged for v6.12) with Hugh
Dickins' fix folded in, and Johannes Weiner's 6be5e186fd65 ("mm: vmscan: restore incremental
cgroup iteration", v6.11).
"""
