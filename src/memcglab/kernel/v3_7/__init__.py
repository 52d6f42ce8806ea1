"""Kernel-mirror code of Linux v3.7 reclaim, one module per kernel source file.

Read in a v3.7.2 stable tree (robacklin/linux-3.7.2 @ 47011c3d, Makefile 3.7.2; the
functions cited match v3.7 where a v3.7 copy was at hand, see docs/kernel-sources.md). Line
numbers in docstrings ("vmscan.c:2572") are of that tree.

* :mod:`.vmscan` (mm/vmscan.c): the memcg walk of ``shrink_zone()`` and its callers
  (``shrink_zones()``, ``do_try_to_free_pages()``, ``try_to_free_pages()``,
  ``try_to_free_mem_cgroup_pages()``, ``mem_cgroup_shrink_node_zone()``), the lruvec scan
  (``shrink_lruvec()``, ``get_scan_count()``, ``shrink_list()``, ``shrink_active_list()``,
  ``shrink_inactive_list()``, ``shrink_page_list()``, ``page_check_references()``,
  ``inactive_*_is_low()``), and kswapd (``kswapd()``, ``balance_pgdat()``,
  ``wakeup_kswapd()``); plus the explorer's reclaimer and admin threads;
* :mod:`.memcontrol` (mm/memcontrol.c): the charge (``__mem_cgroup_try_charge()``,
  ``mem_cgroup_do_charge()``, ``mem_cgroup_reclaim()``), soft-limit reclaim
  (``mem_cgroup_soft_limit_reclaim()``, ``mem_cgroup_soft_reclaim()``,
  ``mem_cgroup_largest_soft_limit_node()``), ``mem_cgroup_force_empty()`` at rmdir, and the
  free of a ``struct mem_cgroup`` (``mem_cgroup_destroy()``);
* :mod:`.res_counter` (kernel/res_counter.c, include/linux/res_counter.h): the charge
  counters;
* :mod:`.page_alloc` (mm/page_alloc.c): ``__alloc_pages_nodemask()`` and its slow path;
* :mod:`.swap` (mm/swap.c): ``mark_page_accessed()`` and adding pages to the LRU lists;
* :mod:`.rmap` (mm/rmap.c): ``page_referenced()``, ``page_add_new_anon_rmap()``;
* :mod:`.filemap` (mm/filemap.c): a ``read()`` of one page, ``do_generic_file_read()``;
* :mod:`.memory` (mm/memory.c): a touch of anonymous memory, ``handle_mm_fault()``.

The cgroup core, the iterator variants and the small structs stay where the explorer and
user variants import them: :mod:`memcglab.kernel.cgroup`, :mod:`memcglab.kernel.iter_css_id`,
:mod:`memcglab.kernel.iter_seed_spinlock`, :mod:`memcglab.kernel.context`.

In ``memcglab run`` the code reads and writes the page-level data of the simulation machine
(``KernelContext.mm``, :class:`memcglab.sim.machine.SimMachine`) between two operations; the
machine applies no rule of its own.
"""
