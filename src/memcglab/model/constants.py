"""Kernel constants, with where they come from.

* ``DEF_PRIORITY = 12``: include/linux/mmzone.h (v3.7 and still today); reclaim scans
  ``lru_size >> priority`` pages per pass, from DEF_PRIORITY down to 0.
* ``SWAP_CLUSTER_MAX = 32``: include/linux/swap.h (v3.7 and still today).
* ``enum lru_list``: include/linux/mmzone.h (v3.7 and still today), the evictable lists:
  ``LRU_INACTIVE_ANON``, ``LRU_ACTIVE_ANON``, ``LRU_INACTIVE_FILE``, ``LRU_ACTIVE_FILE``.
* ``ROOT_CSS_ID = 1``: kernel/cgroup.c v3.7, get_new_cssid() allocates ids from 1 upward
  (``idr_get_new_above(..., 1, ...)``), and the root memcg is created first.
"""

DEF_PRIORITY = 12
SWAP_CLUSTER_MAX = 32
ROOT_CSS_ID = 1

# enum lru_list, evictable lists only; an active list is its inactive one + LRU_ACTIVE
LRU_INACTIVE_ANON, LRU_ACTIVE_ANON, LRU_INACTIVE_FILE, LRU_ACTIVE_FILE = range(4)
LRU_ACTIVE = 1
PAGE_ALLOC_COSTLY_ORDER = 3  # include/linux/mmzone.h: above it an allocation is "costly"
