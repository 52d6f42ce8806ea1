"""The entries of the race suite: one per known bug of the reclaim iterator.

Each entry names the bug, where it lived and what fixed it (docs/research/
iterator-history.md section 7 has the sources), the invariant it breaks, and a ``memcglab
check`` configuration (the TOML format of docs/configuration.md, without its ``variant``)
that the "before" variant must break and the "after" variant must keep. This module is a
catalogue of configurations: the kernel behaviour lives in the variants it names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    title: str
    kernels: str  # where the bug lived
    fix: str  # what fixed it
    prop: str  # the invariant the bug breaks
    before: str  # variant spec with the bug
    after: str  # variant spec with its fix
    config: str  # memcglab check TOML, without the variant
    race: str = ""  # the race a "before" counterexample must be named as (explore.races)


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


def config(tree: int | str, *, use_hierarchy: bool = True, changes: str = "",
           **reclaim: object) -> str:
    """A ``memcglab check`` configuration in its TOML form (what ``memcglab suite --config``
    prints). ``tree``: a flat hierarchy's group count, or nested groups as ``"A B:A"``
    (``name`` or ``name:parent``); ``changes``: ``"rmdir:A mkdir:B"``; the keywords are the
    ``[reclaim]`` fields."""
    lines = ["", "[hierarchy]"]
    if isinstance(tree, int):
        lines += ['shape = "flat"', f"groups = {tree}"]
    else:
        lines.append('shape = "nested"')
        for g in tree.split():
            name, _, parent = g.partition(":")
            lines += ["[[hierarchy.group]]", f'name = "{name}"']
            if parent:
                lines.append(f'parent = "{parent}"')
    if not use_hierarchy:
        lines.append("use_hierarchy = false")
    lines.append("[reclaim]")
    lines += [f"{k} = {_value(v)}" for k, v in reclaim.items()]
    for c in changes.split():
        op, _, group = c.partition(":")
        lines += ["[[change]]", f'op = "{op}"', f'group = "{group}"']
    return "\n".join(lines) + "\n"


_FLAT4_GLOBAL = config(4, mode="global", reclaimers=2)
_FLAT3_GLOBAL = config(3, mode="global", reclaimers=2)
# Limit reclaim of A from outside it while A itself is removed.
_ROOT_REMOVED = config("A", mode="limit", target="A", outside=True, reclaimers=1,
                       changes="rmdir:A")
# Limit reclaim of T from outside by two walkers that bail after two groups, while T's
# child A is removed.
_TWO_WALKERS_REMOVE = config("T A:T", mode="limit", target="T", outside=True, goal=2,
                             reclaimers=2, changes="rmdir:A")
# Limit reclaim of T by two reclaimers, two calls each at two priorities, a goal of one
# group's pages; only B has pages.
_OOM = config("T A:T B:T", mode="limit", target="T", empty=["T", "A"], goal=1, reclaimers=2,
              walks=2, priorities=[1, 0])

ENTRIES: tuple[Entry, ...] = (
    Entry("seed-race-1", "seed race 1: two reclaimers read the same position",
          "v3.3-v3.9 (css-id iterator)", "the seed spinlock (v2 1/6, in 542f85f9ae4a)",
          "unique_claim", "css-id", "seed-spinlock", _FLAT4_GLOBAL, race="race-1"),
    Entry("seed-race-2", "seed race 2: the reset position seen with the old generation",
          "v3.3-v3.9 (css-id iterator)", "the seed spinlock (v2 1/6, in 542f85f9ae4a)",
          "unique_claim", "css-id", "seed-spinlock", _FLAT4_GLOBAL, race="race-2"),
    Entry("css-leak-without-lock",
          "the css leak that kept iter_lock: two walkers put the cached group",
          "the seed series v2 3/6 without its lock", "iter_lock kept (542f85f9ae4a)",
          "reference_safety", "pointer-ref-lock:iter_lock=off", "pointer-ref-lock",
          _FLAT3_GLOBAL),
    Entry("pinned-by-iterator",
          "a removed group pinned by the iterator's cached reference (Ying Han: rmdir / ls "
          "hang on the 3.7 core; a leak on the 3.8+ core 542f85f9ae4a landed on)",
          "the seed series v2 3/6 and 542f85f9ae4a (v3.10 merge window)",
          "5f5781619718 (dead_count, v3.10)", "reference_safety", "pointer-ref-lock",
          "dead-count:version=3.10", race="pinned",
          config=config("A B:A", mode="limit", target="A", reclaimers=1, goal=2,
                        changes="rmdir:B")),
    Entry("dead-count-double-put",
          "a restarted loop keeps the group the previous pass put, and puts it again "
          "(Wenwei Tao, 2017: kernel BUG at kernel/cgroup.c:893 on 3.10.107)",
          "v3.10.y (until 2017)", "519ebea3bf6d (v3.11; backported to 3.10.y in 2017)",
          "reference_safety", "dead-count:version=3.10,loop_reset=off",
          "dead-count:version=3.10",
          config("T A:T B:T", mode="limit", target="T", outside=True, reclaimers=2,
                 changes="rmdir:B")),
    Entry("dead-count-rmb",
          "misplaced read barrier: a stale last_visited passes the dead_count check",
          "v3.10-rc", "Johannes Weiner 2013 (stable 3.10+)", "reference_safety",
          "dead-count:version=3.10,rmb_fix=off", "dead-count:version=3.10", race="stale-pointer",
          config=config("T A:T", mode="limit", target="T", outside=True, goal=2,
                        reclaimers=2, walks=2, changes="rmdir:A")),
    Entry("dead-count-torn-update",
          "two walkers' updates interleave: one's pointer with the other's count (found by "
          "memcglab; no kernel report known)",
          "v3.10.y (offline runs in rmdir itself); v3.11-v3.18 only with preemptible RCU",
          "5ac8fb31ad2e replaced the design (v3.19); the weak cursor (v4.4) is the first "
          "that passes this configuration", "reference_safety", "dead-count:version=3.10",
          "weak-cursor:version=4.4", race="torn-update",
          config=_TWO_WALKERS_REMOVE),
    Entry("strong-cursor-publish-before-get",
          "the position is published before the iterator's reference is taken: another "
          "walker puts that reference first (found by memcglab; no kernel report known)",
          "v3.19-v4.3 (strong cursor)", "6df38689e0e9 (the weak cursor holds no reference, "
          "v4.4)", "reference_safety", "strong-cursor", "weak-cursor:version=4.4",
          _TWO_WALKERS_REMOVE),
    Entry("root-removed-loop",
          "endless loop when the reclaim root is removed: the root is returned for ever",
          "v3.10-v3.13", "ecc736fc3c71 (2014)", "termination",
          "dead-count:version=3.10,root_tryget_fix=off", "dead-count:version=3.10",
          _ROOT_REMOVED),
    Entry("root-css-leak",
          "the walk takes a reference on its root that nobody puts",
          "v3.12-v3.13", "0eef615665ed (2014)", "reference_safety",
          "dead-count:root_leak_fix=off", "dead-count",
          config("A B:A", mode="limit", target="A", reclaimers=1)),
    Entry("offline-root-loop",
          "endless loop from the order of the CSS_ONLINE and root tests (offline root)",
          "v3.14-rc", "Hugh Dickins 2014-02-12 (Fixes 0eef615665ed)", "termination",
          "dead-count:online_check_order=off", "dead-count", _ROOT_REMOVED),
    Entry("uninitialised-group",
          "a group linked but not yet through css_online() is returned",
          "v3.10-v3.13", "d8ad30559715 (CSS_ONLINE test)", "reference_safety",
          "dead-count:online_check=off", "dead-count",
          config("A B", mode="global", reclaimers=1, changes="mkdir:B")),
    Entry("interrupted-walk-leak",
          "the cursor's reference pins a removed group after a walk stops early",
          "v3.19-v4.3 (strong cursor)", "6df38689e0e9 (weak cursor, v4.4)",
          "reference_safety", "strong-cursor", "weak-cursor:version=4.4", race="pinned",
          config=config("R A:R B:R", mode="limit", target="R", reclaimers=1, goal=2,
                        changes="rmdir:A")),
    Entry("v1-nonhierarchical-uaf",
          "cgroup v1 non-hierarchical: the root's iterator keeps a freed group",
          "v4.4-v5.3", "Miles Chen 2019 (invalidate the root's iterators too; with "
          "be2657752e9e, 2018, the dead group's own)",
          "reference_safety", "weak-cursor:version=4.8", "weak-cursor:version=4.8,uaf_fix=on",
          config(3, use_hierarchy=False, mode="global", reclaimers=2, walks=2,
                 changes="rmdir:A")),
    Entry("premature-oom-shared-walks",
          "more reclaimers than groups: each partial walk of the shared cursor sees too few "
          "groups, and a call gives up with pages left (premature OOM)",
          "v3.9-v5.4 (shared cookie for limit reclaim)",
          "1ba6fc9af35b (full walks without a cookie, v5.5)", "no_premature_oom",
          "weak-cursor:version=4.8", "weak-cursor:version=5.5", _OOM),
    Entry("premature-oom-partial-walks",
          "the same premature OOM once partial walks came back, without the full-walk "
          "retry before giving up", "6be5e186fd65 without its retry (never released so)",
          "6be5e186fd65's memcg_full_walk retry (v6.11)", "no_premature_oom",
          "current:full_walk_retry=off", "current", _OOM),
    Entry("cas-loser-reclaims",
          "2024: the loser of the cmpxchg reclaims the winner's group too",
          "v3.19-v6.11", "Kinsey Ho 2024 (v6.12): restart on a lost cmpxchg",
          "unique_claim", "current:restart_on_lost_cas=off", "current",
          config(3, mode="global", reclaimers=2, goal=1)),
    Entry("wrap-without-bump",
          "2024: a new walker wraps without a generation bump: two traversals in one",
          "v3.19-v6.11", "Kinsey Ho 2024 (v6.12): bump the generation before restarting",
          "unique_per_lap", "current:bump_before_restart=off", "current", _FLAT3_GLOBAL),
    Entry("plain-generation",
          "2024: the plain generation++ loses a bump",
          "v3.3-v6.11", "Kinsey Ho 2024 (v6.12): atomic_t generation",
          "generation_monotonic", "current:atomic_generation=off", "current",
          _FLAT3_GLOBAL),
)


def entry(entry_id: str) -> Entry:
    for e in ENTRIES:
        if e.id == entry_id:
            return e
    raise KeyError(entry_id)
