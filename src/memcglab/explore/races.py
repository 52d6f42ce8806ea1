"""Naming the known races in a counterexample trace.

The seed patch (<1353955671-14385-2-git-send-email-mhocko@suse.cz>) describes two races of
the unlocked v3.7 iterator; both break ``unique_claim``:

* race 1: "Two racing reclaimers can see the same iter->position and so bang on the same
  group": the two hand-outs of the group come from loads of ``iter->position`` that read the
  same value with no store to it in between;
* race 2: "a reclaimer can see an updated iter->position with and old generation so the
  iteration might be restarted from the root of the hierarchy": the second hand-out comes
  from a load of the reset position (0) stored by a reclaimer that had not yet bumped the
  generation when the second reclaimer read it.

A third pattern follows from race 1: the slower of two readers stores a stale position
after the faster one advanced it (a *rewind*), and a group comes round again. A trace that
matches none of these keeps the property name alone. A fourth follows from race 2's
tear: a starting walker reads the position of the old round and the generation of the new
one (the cookie generation is read after the position store), and the group comes again.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from memcglab.explore.system import TraceEntry
from memcglab.model.layout import IterSlots
from memcglab.runtime.machine import REFERENCE_SAFETY, UNIQUE_CLAIM, Violation
from memcglab.runtime.ops import Kind


@dataclass(frozen=True, slots=True)
class Race:
    id: str
    title: str
    description: str


RACE_1 = Race("race-1", "race 1: same position",
              "two reclaimers read the same iter->position and reclaim the same group")
RACE_2 = Race("race-2", "race 2: restart from the root",
              "a reclaimer sees the reset iter->position with the old iter->generation and "
              "restarts the walk from the root inside the old round")
REWIND = Race("rewind", "race 1 variant: position rewound",
              "two reclaimers read the same iter->position; the slower one stores it after "
              "the other has moved on, so the cursor moves back and a group comes again")
LATE_GENERATION = Race(
    "late-generation", "race 2 variant: generation recorded late",
    "a starting reclaimer takes a group of the old round but reads iter->generation after "
    "another reclaimer bumped it, so the group counts for the new round and comes again")
NEW_ROUND = Race(
    "old-generation", "race 2 variant: old generation, new round",
    "a reclaimer passes the check with the old iter->generation, then reads the position of "
    "the round another reclaimer has just begun, and hands its group out again as old")
# Today's iterator (v6.12+, variant current): the hand-out is a successful cmpxchg.
LATE_BUMP = Race(
    "late-bump", "race 2 today: the reset is seen before the bump",
    "the winner of the wrap stores NULL in iter->position and bumps iter->generation in a "
    "second step; a starting reclaimer reads the old generation and the reset position in "
    "between and hands the walk's first group out again as part of the old round")
STALE_CURSOR = Race(
    "stale-cursor", "ABA: a cursor that came round again",
    "a reclaimer's cmpxchg succeeds because iter->position came back to the value it read "
    "after another reclaimer went round the tree; it hands out a group of the next lap under "
    "its old cookie generation")
INVALIDATED = Race(
    "invalidated", "a released group resets the position",
    "the release of a removed group resets iter->position to NULL without bumping "
    "iter->generation (css_released -> invalidate_reclaim_iterators), so the walk restarts "
    "from the root inside the same round")
# The dead_count iterator of v3.10-v3.18 (variant dead-count): a use after free of the cached
# pointer, told apart by how the reader got the (pointer, count) pair it trusted.
STALE_POINTER = Race(
    "stale-pointer", "stale pointer: loaded before its count was compared",
    "the reader loads iter->last_visited before it compares iter->last_dead_count (the "
    "v3.10-rc order), another reclaimer stores a new pair in between, and the old pointer "
    "passes with the new count")
TORN_UPDATE = Race(
    "torn-update", "torn update: the pointer and the count of two writers",
    "two reclaimers update the iterator at once (each stores last_visited, then "
    "last_dead_count, with no lock); the pair left behind is one's pointer with the other's "
    "count, so a pointer to a group removed in between passes the dead_count check")
# A removed group that is never released: a reference nobody will put (an iterator's).
PINNED = Race(
    "pinned", "a removed group pinned for ever",
    "a removed group keeps a css reference that nothing will put (the iterator's cached "
    "one): it is never released or freed")
KNOWN_RACES = (RACE_1, RACE_2)
ALL_RACES = (RACE_1, RACE_2, REWIND, LATE_GENERATION, NEW_ROUND, LATE_BUMP, STALE_CURSOR,
             INVALIDATED, STALE_POINTER, TORN_UPDATE, PINNED)


def _classify_dead_count(trace: Sequence[TraceEntry]) -> Race | None:
    """A use after free through ``iter->last_visited`` of the dead_count iterator."""
    tid = trace[-1].tid

    def last(end: int, pred: Callable[[TraceEntry], bool]) -> int | None:
        return next((i for i in range(end - 1, -1, -1) if pred(trace[i])), None)

    def is_load(e: TraceEntry, text: str) -> bool:
        return e.tid == tid and e.op.kind is Kind.LOAD and e.op.text == text

    end = len(trace)
    ptr = last(end, lambda e: is_load(e, "position = iter->last_visited"))
    cnt = last(end, lambda e: is_load(e, "iter->last_dead_count"))
    if ptr is None or cnt is None:
        return None
    # Who wrote each half of the pair the reader trusted?
    pw = last(ptr, lambda e: e.op.kind is Kind.STORE and e.op.a == trace[ptr].op.a)
    cw = last(cnt, lambda e: e.op.kind is Kind.STORE and e.op.a == trace[cnt].op.a)
    if pw is not None and cw is not None and trace[pw].tid != trace[cw].tid:
        return TORN_UPDATE
    if ptr < cnt and any(trace[i].op.kind is Kind.STORE and trace[i].op.a == trace[cnt].op.a
                         and trace[i].tid != tid for i in range(ptr + 1, cnt)):
        # The pointer first (v3.10-rc): a count stored by another reclaimer in between.
        return STALE_POINTER
    return None


def classify(trace: Sequence[TraceEntry], violation: Violation) -> Race | None:
    if violation.prop == REFERENCE_SAFETY and trace and "use after free" in violation.message:
        return _classify_dead_count(trace)
    if violation.prop == REFERENCE_SAFETY and ("is never freed" in violation.message or
                                               "release work never runs" in violation.message):
        return PINNED
    if violation.prop != UNIQUE_CLAIM or not trace or trace[-1].op.kind is not Kind.CLAIM:
        return None
    last = trace[-1]
    it: IterSlots = last.op.a
    if "position" not in it.fields or "generation" not in it.fields:
        return None
    pos_slot, gen_slot = it.position, it.generation
    first_idx = next((i for i, e in enumerate(trace[:-1])
                      if e.op.kind is Kind.CLAIM and e.op.a is it and e.op.b[:2] == last.op.b[:2]),
                     None)
    if first_idx is None:
        return None

    if any(e.op.kind is Kind.CMPXCHG and e.op.a == pos_slot for e in trace):
        return _classify_cmpxchg(trace, first_idx, pos_slot, gen_slot)

    def position_load(end: int, tid: int) -> int | None:
        for i in range(end - 1, -1, -1):
            e = trace[i]
            if e.tid == tid and e.op.kind is Kind.LOAD and e.op.a == pos_slot:
                return i
        return None

    a = position_load(first_idx, trace[first_idx].tid)
    b = position_load(len(trace) - 1, last.tid)
    if a is None or b is None:
        return None
    # Race 1: both hand-outs read the same position with no store to it between the loads.
    lo, hi = sorted((a, b))
    if trace[a].result == trace[b].result and not any(
            e.op.kind is Kind.STORE and e.op.a == pos_slot for e in trace[lo + 1:hi]):
        return RACE_1
    # Race 2: b read a reset position stored by another CPU whose generation bump came after
    # b's read of the generation.
    if trace[b].result == 0:
        reset = next((i for i in range(b - 1, -1, -1)
                      if trace[i].op.kind is Kind.STORE and trace[i].op.a == pos_slot), None)
        if reset is not None and trace[reset].op.b == 0 and trace[reset].tid != last.tid:
            writer = trace[reset].tid
            bump = next((i for i in range(reset + 1, len(trace))
                         if trace[i].tid == writer and trace[i].op.kind is Kind.STORE
                         and trace[i].op.a == gen_slot), None)
            call = next((i for i in range(b, -1, -1) if trace[i].tid == last.tid
                         and trace[i].op.kind is Kind.NOTE
                         and trace[i].op.text.startswith("mem_cgroup_iter(")), 0)
            gen_reads = [i for i in range(call, len(trace) - 1)
                         if trace[i].tid == last.tid and trace[i].op.kind is Kind.LOAD
                         and trace[i].op.a == gen_slot]
            if gen_reads and (bump is None or bump > min(gen_reads)):
                return RACE_2
    # Late generation: a starting walker's cookie load saw a bump made after its position load.
    for claim in (first_idx, len(trace) - 1):
        tid = trace[claim].tid
        pos = position_load(claim, tid)
        cookie = next((i for i in range(claim - 1, -1, -1) if trace[i].tid == tid
                       and trace[i].op.kind is Kind.LOAD and trace[i].op.a == gen_slot
                       and trace[i].op.text.startswith("cookie->")), None)
        if pos is not None and cookie is not None and cookie > pos and any(
                e.tid != tid and e.op.kind is Kind.STORE and e.op.a == gen_slot
                for e in trace[pos + 1:cookie]):
            return LATE_GENERATION
    # Old generation, new round: b's generation check came before another CPU reset the
    # position, and b's position load after it.
    check = next((i for i in range(b - 1, -1, -1) if trace[i].tid == last.tid
                  and trace[i].op.kind is Kind.LOAD and trace[i].op.a == gen_slot), None)
    if check is not None and any(
            e.tid != last.tid and e.op.kind is Kind.STORE and e.op.a == pos_slot and e.op.b == 0
            for e in trace[check + 1:b]):
        return NEW_ROUND
    # Rewind: before b's load a store moved the position back (not a wrap to 0).
    stores = [e.op.b for e in trace[:b] if e.op.kind is Kind.STORE and e.op.a == pos_slot]
    if any(0 < new < old for old, new in itertools.pairwise(stores)):
        return REWIND
    return None


def _classify_cmpxchg(trace: Sequence[TraceEntry], first_idx: int, pos_slot: int,
                      gen_slot: int) -> Race | None:
    """The v6.12+ iterator's ways of handing a group out twice in one cookie generation,
    tried on the second hand-out, then on the first."""

    def last_before(end: int, tid: int | None, kind: Kind, slot: int) -> int | None:
        return next((i for i in range(end - 1, -1, -1) if trace[i].op.kind is kind
                     and trace[i].op.a == slot and (tid is None or trace[i].tid == tid)), None)

    for claim in (len(trace) - 1, first_idx):
        tid = trace[claim].tid
        cookie_gen = trace[claim].op.b[0]
        cas = next((i for i in range(claim - 1, -1, -1) if trace[i].tid == tid
                    and trace[i].op.kind is Kind.CMPXCHG and trace[i].op.a == pos_slot
                    and trace[i].result == trace[i].op.b[0]), None)
        if cas is None:
            continue
        read = last_before(cas, tid, Kind.READ_ONCE, pos_slot)
        gen_read = last_before(read, tid, Kind.READ_ONCE, gen_slot) if read is not None else None
        if read is not None and trace[read].result == 0:
            reset = next((i for i in range(read - 1, -1, -1)
                          if trace[i].op.kind is Kind.CMPXCHG and trace[i].op.a == pos_slot
                          and trace[i].op.b[1] == 0 and trace[i].result == trace[i].op.b[0]),
                         None)
            if reset is not None and trace[reset].op.text.startswith(
                    "__invalidate_reclaim_iterators"):
                return INVALIDATED
            if reset is not None and gen_read is not None:
                bump = next((i for i in range(reset + 1, len(trace))
                             if trace[i].tid == trace[reset].tid
                             and trace[i].op.kind is Kind.ATOMIC_INC
                             and trace[i].op.a == gen_slot), None)
                if bump is None or bump > gen_read:
                    return LATE_BUMP
        bumps = sum(1 for e in trace[:cas]
                    if e.op.kind is Kind.ATOMIC_INC and e.op.a == gen_slot)
        # ABA: other walkers moved the position away and back between this walker's read and
        # its cmpxchg (with or without the bump of the wrap already made).
        moved = read is not None and any(
            e.tid != tid and e.op.kind is Kind.CMPXCHG and e.op.a == pos_slot
            and e.result == e.op.b[0] for e in trace[read + 1:cas])
        if bumps > cookie_gen or moved:
            return STALE_CURSOR
    return None
