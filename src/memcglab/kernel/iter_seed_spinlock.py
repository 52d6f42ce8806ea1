"""Variant ``seed-spinlock``: the seed patch, the v3.7 iterator under a per-iterator spinlock.

Models "[patch v2 1/6] memcg: synchronize per-zone iterator access by a spinlock" (Michal
Hocko, 2012-11-26, Message-ID <1353955671-14385-2-git-send-email-mhocko@suse.cz>;
../shared/seed/), applied to Linux v3.7 mm/memcontrol.c. Never released on its own: it was
folded into 542f85f9ae4a and removed again by 5f5781619718, both in v3.10.

The patch adds ``spinlock_t iter_lock`` to ``struct mem_cgroup_reclaim_iter`` (one per root,
node, zone and priority) and, on the cookie path only, holds it from the generation check to
the position / generation update, including ``css_get_next()`` and ``css_tryget()``.
Cookie-less walks take no lock. ``css_put(prev)`` stays at function entry, outside the lock
(patch 2/6 moves it later; that is not part of this variant).
"""

from __future__ import annotations

from typing import ClassVar

from memcglab.kernel.iter_css_id import CssIdIter


class SeedSpinlockIter(CssIdIter):
    """``mem_cgroup_iter`` of v3.7 plus the seed patch's ``iter_lock``."""

    name: ClassVar[str] = "seed-spinlock"
    kernels: ClassVar[str] = "the seed patch on v3.7 (mmotm, never released alone)"
    source: ClassVar[str] = ("[patch v2 1/6] memcg: synchronize per-zone iterator access by a "
                             "spinlock, <1353955671-14385-2-git-send-email-mhocko@suse.cz>")
    iter_fields: ClassVar[tuple[str, ...]] = ("position", "generation", "iter_lock")
    use_iter_lock: ClassVar[bool] = True
