"""memcglab.live.tracefs: parsing recorded trace_pipe text, sizing the buffer, the instance's
life cycle on a fake tracefs tree (everywhere), and live recordings of limit reclaim,
deferred and live (root on a cgroup v1 memory machine only).

Fixtures (tests/fixtures/tracefs/README.md): ``limit-reclaim*.txt`` are excerpts of real
recordings made with this module on Linux 6.18.44, where ``enum vm_event_item`` has
PGSTEAL_KSWAPD..PGSTEAL_PROACTIVE = 28..31 and PGSCAN_KSWAPD..PGSCAN_PROACTIVE = 32..35
(read from BTF then; they are fixture data here, not knowledge of the module).
``edge-cases.txt`` is hand-made from the events' ``print fmt``. ``join-limit-reclaim.txt``
is a whole deferred recording (its bpftrace half is tests/fixtures/bpf/join.txt).
"""

from __future__ import annotations

import os
import shutil
import struct
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from memcglab.errors import LiveError
from memcglab.live import tracefs as tf
from memcglab.live.records import (
    ActiveRecord,
    CgroupRecord,
    KswapdRecord,
    Lost,
    PassRecord,
    ShrinkRecord,
)
from tests.live_support import ENUM_618, MEMCG_V1, limit_reclaim, mem_available, run_dd_in

FIXTURES = Path(__file__).parent / "fixtures" / "tracefs"
ITEMS = tf.items_from_enum(ENUM_618)


def _fixture(name: str) -> tf.Parsed:
    return tf.parse_trace(tf.read_trace(FIXTURES / name), ITEMS)


def _shrinks(parsed: tf.Parsed) -> list[ShrinkRecord]:
    return [r for r in parsed.records if isinstance(r, ShrinkRecord)]


# --- what to enable -------------------------------------------------------------------------


def test_items_from_enum_and_range() -> None:
    assert ITEMS[33] == ("scan", "direct") and ITEMS[28] == ("steal", "kswapd")
    assert ITEMS[35] == ("scan", "proactive") and len(ITEMS) == 8
    assert tf.item_range(ITEMS) == (28, 35)
    with pytest.raises(LiveError, match="lacks PGSCAN_PROACTIVE"):
        tf.items_from_enum({k: v for k, v in ENUM_618.items() if k != "PGSCAN_PROACTIVE"})
    with pytest.raises(LiveError, match="is also"):
        tf.items_from_enum({**ENUM_618, "PGSCAN_PROACTIVE": 28})


def test_filters() -> None:
    assert tf.filters(28, 35) == {tf.MEMCG_EVENT: "item >= 28 && item <= 35"}
    f = tf.filters(28, 35, [8054, 8021], hierarchy=4)
    assert f[tf.MEMCG_EVENT] == "item >= 28 && item <= 35 && (id == 8021 || id == 8054)"
    assert f["cgroup/cgroup_mkdir"] == f["cgroup/cgroup_rmdir"] == "root == 4"
    assert set(f) <= set(tf.EVENTS)
    for bad in ((35, 28), (-1, 3), (True, 3)):
        with pytest.raises(LiveError):
            tf.filters(*bad)
    with pytest.raises(LiveError, match="cgroup_ids"):
        tf.filters(28, 35, [])


# --- parsing ------------------------------------------------------------------------------


def test_parse_line_fields_and_time() -> None:
    line = tf.parse_line("  my dd-worker-4242    [001] d..2.   100.000001: count_memcg_events: "
                         "memcg_id=50 item=33 val=4\n")
    assert line == tf.TraceLine("my dd-worker", 4242, 1, 100_000_001_000, "count_memcg_events",
                                "memcg_id=50 item=33 val=4")
    # tgid column, no irq-info column, a nanosecond fraction, the raw "counter" clock
    t = tf.parse_line("x-1-2 (   2) [000] 5.123456789: e: a=1")
    assert t is not None and (t.comm, t.pid, t.t_ns) == ("x-1", 2, 5_123_456_789)
    t = tf.parse_line("<...>-7 [003] .... 123456: e: ")
    assert t is not None and (t.comm, t.cpu, t.t_ns, t.fields) == ("<...>", 3, 123456, "")
    for bad in ("hello world", "dd-1 [000] d..2. 100.1 count_memcg_events: x",
                "dd [000] d..2. 100.1: e: a=1", "CPU:1 [LOST 3 EVENTS]"):
        assert tf.parse_line(bad) is None, bad


def test_real_single_reclaimer() -> None:
    """One dd in ``a`` under a 16M limit: limit reclaim by dd on a's LRU only."""
    parsed = _fixture("limit-reclaim.txt")
    assert (parsed.unparseable, parsed.unpaired, parsed.ignored, parsed.lost_events) == (0,) * 4
    shrinks = _shrinks(parsed)
    assert len(shrinks) == 21
    assert {(r.pid, r.comm, r.memcg, r.reclaimer, r.file, r.nid) for r in shrinks} == {
        (12002, "dd", 10166, "direct", True, 0)}
    assert all(0 <= r.priority <= 12 and 0 <= r.reclaimed <= r.scanned for r in shrinks)
    assert [r.t_ns for r in parsed.records] == sorted(r.t_ns for r in parsed.records)
    mkdir = [r for r in parsed.records if isinstance(r, CgroupRecord)]
    assert mkdir == [CgroupRecord(9707_740_521_000, "mkdir", 4, 10166, "/memcglab-tf-11998/a")]
    # Each memcg pass brackets its shrinks, and its nr_reclaimed is what they reclaimed
    # (nothing here came from slab shrinkers).
    passes = [r for r in parsed.records if isinstance(r, PassRecord)]
    assert [p.edge for p in passes] == ["begin", "end"] * 3
    assert {p.kind for p in passes} == {"memcg"}
    for begin, end in zip(passes[::2], passes[1::2], strict=True):
        inside = [r.reclaimed for r in shrinks if begin.t_ns <= r.t_ns <= end.t_ns]
        assert inside and sum(inside) == end.nr_reclaimed
    # priority steps down within a pass (docs §8: one walk per priority)
    first = [r.priority for r in shrinks if r.t_ns <= passes[1].t_ns]
    assert first == [11, 10, 9, 8, 7, 6, 6]


def test_real_two_reclaimers_interleaved() -> None:
    """Two dd in siblings ``a`` and ``b`` under one 16M limit: both reclaim from the shared
    parent, on two CPUs, their events interleaved line by line. Three windows of one
    recording; the first starts with comm ``<...>`` (not yet in saved_cmdlines)."""
    parsed = _fixture("limit-reclaim-two.txt")
    assert (parsed.unparseable, parsed.unpaired, parsed.lost_events) == (0, 0, 0)
    shrinks = _shrinks(parsed)
    assert Counter((r.pid, r.memcg) for r in shrinks) == {
        (12577, 10397): 20, (12577, 10364): 10, (12576, 10397): 5}
    assert {r.comm for r in shrinks if r.pid == 12577} == {"<...>", "dd"}
    actives = [r for r in parsed.records if isinstance(r, ActiveRecord)]
    assert [(a.pid, a.taken, a.deactivated, a.priority) for a in actives] == [
        (12577, 1, 1, 8), (12577, 3, 3, 7), (12577, 7, 7, 6), (12577, 15, 15, 5)]
    ids = {r.path.rsplit("/", 1)[1]: r.id for r in parsed.records
           if isinstance(r, CgroupRecord)}
    assert ids == {"a": 10364, "b": 10397}
    assert all(0 <= r.reclaimed <= r.scanned for r in shrinks)


def test_edge_cases() -> None:
    parsed = _fixture("edge-cases.txt")
    shrinks = _shrinks(parsed)
    got = [(r.pid, r.comm, r.memcg, r.reclaimer, r.file, r.priority, r.scanned, r.reclaimed)
           for r in shrinks]
    assert got == [
        (4242, "my dd-worker", 50, "direct", False, 12, 4, 2),  # comm with space and dash
        (5151, "x-123", 51, "kswapd", True, 3, 8, 8),  # comm that looks like comm-pid
        (6000, "lonely", 53, "direct", True, 11, 5, 1),  # not 52: its PGSCAN stood alone
        (9000, "dd", 61, "direct", True, 7, 2, 2),  # tgid column
        (9100, "dd", 62, "proactive", True, 6, 3, 3),  # no irq-info column
    ]
    assert shrinks[0].t_ns == 100_000_005_000  # the shrink_inactive line's time
    # lossy-7000 would pair (6/6) without the loss marker; 9200 likewise ([LOST EVENTS])
    assert not {7000, 7100, 7200, 7300, 7400, 7500, 9200, 9400, 9500} & {r.pid for r in shrinks}
    others = [r for r in parsed.records if not isinstance(r, ShrinkRecord)]
    assert others == [
        KswapdRecord(100_000_050_000, 77, "wake", 0),
        ActiveRecord(100_000_051_000, 77, 0, 32, 27, 12),
        KswapdRecord(100_000_052_000, 77, "sleep", 0),
        PassRecord(100_000_060_000, 8000, "cc1plus", "direct", "begin", None),
        PassRecord(100_000_061_000, 8000, "cc1plus", "direct", "end", 33),
        PassRecord(100_000_062_000, 8100, "tar", "softlimit", "begin", None),
        PassRecord(100_000_063_000, 8100, "tar", "softlimit", "end", 0),
        CgroupRecord(100_000_064_000, "mkdir", 4, 60, "/memcglab run/with space"),
        CgroupRecord(100_000_065_000, "rmdir", 4, 60, "/memcglab run/with space"),
    ]
    # unparseable: "hello world", two cut lines, flags=RECLAIM_WB_NONE, a binary line.
    # unpaired: 6000 (1), 7000 (3), 7100 (3), 7200 (1), 7300 (3), 7400 (2), 7500 (1),
    # 9200 (3), 9400 (2, its shrink was unparseable), 9500 (1, at the end of the trace).
    assert (parsed.unparseable, parsed.unpaired, parsed.scan_only) == (5, 20, 4)
    # ignored: 13 comment lines, PGREFILL (item 26), mm_vmscan_wakeup_kswapd
    assert (parsed.ignored, parsed.lost_markers, parsed.lost_events) == (15, 2, 17)
    records, unparseable = tf.parse(tf.read_trace(FIXTURES / "edge-cases.txt"), ITEMS)
    assert records == parsed.records and unparseable == 5


def test_parse_refuses_bad_items() -> None:
    with pytest.raises(ValueError, match="items"):
        tf.parse([], {28: ("steal", "kswapd"), 33: ("scan", "global")})


def test_parse_stats() -> None:
    text = ("entries: 3\noverrun: 5\ncommit overrun: 1\nbytes: 0\n"
            "oldest event ts:  9598.1\nnow ts:  9598.733183\ndropped events: 2\n"
            "read events: 40\n")
    assert tf.parse_stats(text) == (3, 6, 2, 40)
    assert tf.parse_stats("") == (0, 0, 0, 0)


def test_parse_whole_deferred_recording() -> None:
    """What TraceInstance.stop() copied out of a deferred recording: no comment lines, no
    loss markers, every triple paired."""
    parsed = _fixture("join-limit-reclaim.txt")
    assert (parsed.unparseable, parsed.unpaired, parsed.ignored, parsed.lost_markers) == (
        0, 0, 0, 0)
    shrinks = _shrinks(parsed)
    assert len(shrinks) == 98 and {(r.pid, r.memcg) for r in shrinks} == {(28971, 17426)}
    times = [r.t_ns for r in parsed.records]
    assert times == sorted(times)


# --- sizing the buffer (pure) ---------------------------------------------------------------

GiB = 1 << 30


def test_buffer_kb_for_grows_with_the_run() -> None:
    rate = tf.BUFFER_RATE_KB_S
    assert rate == 12 * 1024  # the design rate the module documents
    # (duration + 2 s slack) * rate, per CPU, whole pages
    assert tf.buffer_kb_for(10, 2, 24 * GiB) == 12 * rate
    assert tf.buffer_kb_for(0.5, 2, 24 * GiB) == int(2.5 * rate)
    assert tf.buffer_kb_for(0, 4, 24 * GiB) == 2 * rate
    assert tf.buffer_kb_for(60, 2, 64 * GiB) == 62 * rate
    assert tf.buffer_kb_for(1.0001, 1, 24 * GiB) % 4 == 0
    assert tf.buffer_kb_for(1.0001, 1, 24 * GiB) >= 3.0001 * rate
    # never less than the kernel's default
    assert tf.buffer_kb_for(0, 2, 24 * GiB) >= tf.BUFFER_MIN_KB


def test_buffer_kb_for_is_capped_by_memory() -> None:
    # all CPUs together at most 1/16 of MemAvailable
    kb = tf.buffer_kb_for(3600, 2, 24 * GiB)
    assert kb == 24 * GiB // 16 // 1024 // 2
    assert kb * 2 * 1024 <= 24 * GiB / 16
    assert tf.buffer_kb_for(3600, 8, 24 * GiB) == kb // 4
    # a small machine still gets the minimum
    assert tf.buffer_kb_for(60, 2, 64 << 20) == tf.BUFFER_MIN_KB
    # how long the capped buffer lasts: a longer run should record live
    assert 60 < tf.deferred_capacity_s(kb) < 65
    assert tf.deferred_capacity_s(tf.buffer_kb_for(10, 2, 24 * GiB)) == 10
    assert tf.deferred_capacity_s(1) == 0


@pytest.mark.parametrize("args", [(-1, 2, GiB), (float("nan"), 2, GiB), (float("inf"), 2, GiB),
                                  (True, 2, GiB), ("1", 2, GiB), (1, 0, GiB), (1, 2.0, GiB),
                                  (1, 2, 0), (1, 2, -5)])
def test_buffer_kb_for_refuses(args: tuple[object, object, object]) -> None:
    with pytest.raises(LiveError, match="buffer_kb_for"):
        tf.buffer_kb_for(*args)  # type: ignore[arg-type]


# --- the instance, on a fake tracefs tree (no root needed) --------------------------------


@pytest.fixture
def fake_tracefs(tmp_path: Path) -> Path:
    (tmp_path / "instances").mkdir()
    (tmp_path / "trace_clock").write_text("[local] global counter mono mono_raw boot\n")
    (tmp_path / "options").mkdir()
    (tmp_path / "options" / "overwrite").write_text("1\n")
    for event in tf.EVENTS:
        if event != "vmscan/mm_vmscan_kswapd_sleep":
            (tmp_path / "events" / event).mkdir(parents=True)
            (tmp_path / "events" / event / "enable").write_text("0\n")
    return tmp_path


def test_create_reports_missing_events_and_creates_nothing(fake_tracefs: Path) -> None:
    inst = tf.TraceInstance(fake_tracefs, "memcglab-t")
    with pytest.raises(LiveError, match=r"missing on this kernel .*: "
                                        r"vmscan/mm_vmscan_kswapd_sleep, nosuch/event \("):
        inst.create([*tf.EVENTS, "nosuch/event"], {})
    assert list((fake_tracefs / "instances").iterdir()) == []
    inst.remove()  # nothing to do, no error
    with pytest.raises(LiveError, match="no statistics"):
        inst.lost()


def test_create_refuses_what_is_not_ours(fake_tracefs: Path) -> None:
    (fake_tracefs / "instances" / "memcglab-t").mkdir()
    inst = tf.TraceInstance(fake_tracefs, "memcglab-t")
    with pytest.raises(LiveError, match="already exists: it is not this run's"):
        inst.create(["memcg/count_memcg_events"], {})
    inst.remove()
    assert (fake_tracefs / "instances" / "memcglab-t").is_dir()  # left alone
    with pytest.raises(LiveError, match="filters for events not enabled: cgroup/cgroup_mkdir"):
        tf.TraceInstance(fake_tracefs, "memcglab-u").create(
            ["memcg/count_memcg_events"], {"cgroup/cgroup_mkdir": "root == 4"})
    with pytest.raises(LiveError, match="trace_clock 'x86-tsc' not offered"):
        tf.TraceInstance(fake_tracefs, "memcglab-u").create([], {}, clock="x86-tsc")
    with pytest.raises(LiveError, match="expected 'system/event'"):
        tf.TraceInstance(fake_tracefs, "memcglab-u").create(["count_memcg_events"], {})


@pytest.mark.parametrize("name", ["other", "memcglab/../x", "", "memcglab x", ".."])
def test_instance_names(name: str, fake_tracefs: Path) -> None:
    with pytest.raises(LiveError, match="instance name"):
        tf.TraceInstance(fake_tracefs, name)
    with pytest.raises(LiveError, match="instance name"):
        tf.remove_instance(fake_tracefs, name)


def test_remove_instance_absent(fake_tracefs: Path) -> None:
    assert tf.remove_instance(fake_tracefs, "memcglab-gone") is False


FAKE_TRACE = ("              dd-7       [001] d..2.   100.000001: count_memcg_events: "
              "memcg_id=50 item=33 val=4\n"
              "              dd-7       [001] d..2.   100.000002: count_memcg_events: "
              "memcg_id=50 item=29 val=2\n"
              "              dd-7       [001] .....   100.000003: mm_vmscan_lru_shrink_inactive: "
              "nid=0 nr_scanned=4 nr_reclaimed=2 nr_dirty=0 nr_writeback=0 nr_congested=0 "
              "nr_immediate=0 nr_activate_anon=0 nr_activate_file=2 nr_ref_keep=0 "
              "nr_unmap_fail=0 priority=12 flags=RECLAIM_WB_FILE|RECLAIM_WB_ASYNC\n")


@pytest.fixture
def fake_kernel(fake_tracefs: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``mkdir instances/<name>`` makes what the kernel would (options/, events/, a
    per_cpu stats file, and a ``trace_pipe`` that is a plain file holding FAKE_TRACE: read to
    its end it returns b"" where the kernel returns EAGAIN); rmdir removes it all. (``tf.os``
    is the os module: every other call goes to the real functions.)"""
    real_mkdir, real_rmdir = os.mkdir, os.rmdir
    sleep = fake_tracefs / "events" / "vmscan" / "mm_vmscan_kswapd_sleep"
    sleep.mkdir()  # the one fake_tracefs leaves out
    (sleep / "enable").write_text("0\n")

    def mkdir(path: str | os.PathLike[str], mode: int = 0o777, **kw: int | None) -> None:
        real_mkdir(path, mode, **kw)
        inst = Path(path)
        if kw or inst.parent != fake_tracefs / "instances":
            return
        (inst / "options").mkdir()
        for opt in ("overwrite", "raw", "context-info"):
            (inst / "options" / opt).write_text("1\n")
        for event in tf.EVENTS:
            (inst / "events" / event).mkdir(parents=True)
            (inst / "events" / event / "enable").write_text("0\n")
            (inst / "events" / event / "filter").write_text("none\n")
        (inst / "events" / "enable").write_text("0\n")
        (inst / "per_cpu" / "cpu0").mkdir(parents=True)
        (inst / "per_cpu" / "cpu0" / "stats").write_text(
            "entries: 0\noverrun: 0\ncommit overrun: 0\ndropped events: 4\nread events: 3\n")
        (inst / "trace_pipe").write_text(FAKE_TRACE)

    def rmdir(path: str | os.PathLike[str], **kw: int | None) -> None:
        if not kw and Path(path).parent == fake_tracefs / "instances":
            shutil.rmtree(path)
        else:
            real_rmdir(path, **kw)

    monkeypatch.setattr(tf.os, "mkdir", mkdir)
    monkeypatch.setattr(tf.os, "rmdir", rmdir)
    return fake_tracefs


def test_deferred_recording_life_cycle(fake_kernel: Path, tmp_path: Path) -> None:
    inst = tf.TraceInstance(fake_kernel, "memcglab-t")
    inst.create(tf.EVENTS, tf.filters(28, 35), buffer_kb=12288)
    p = inst.path
    assert (p / "options" / "overwrite").read_text() == "0"  # a full buffer drops the new
    assert (fake_kernel / "options" / "overwrite").read_text() == "1\n"  # top: untouched
    assert (p / "buffer_size_kb").read_text() == "12288"
    assert (p / "trace_clock").read_text() == "mono"
    assert (p / "tracing_on").read_text() == "0"
    assert (p / "events" / tf.MEMCG_EVENT / "filter").read_text() == "item >= 28 && item <= 35"
    out = tmp_path / "out.trace"
    out.write_text("stale\n")
    assert inst.start(out) is None  # deferred: no reader process
    assert not inst.live
    assert out.read_text() == ""  # made empty at start
    assert (p / "tracing_on").read_text() == "1"
    with pytest.raises(LiveError, match="already started"):
        inst.start(out)
    inst.stop()
    assert (p / "tracing_on").read_text() == "0"
    assert (p / "events" / "enable").read_text() == "0"
    assert out.read_text() == FAKE_TRACE  # the buffer, copied whole
    assert inst.lost() == Lost("tracefs", 0, 4)
    inst.stop()  # again: nothing more
    assert out.read_text() == FAKE_TRACE
    with pytest.raises(LiveError, match="already started"):
        inst.start(out)  # an instance records once
    parsed = tf.parse_trace(tf.read_trace(out), ITEMS)
    assert [(r.memcg, r.scanned, r.reclaimed) for r in _shrinks(parsed)] == [(50, 4, 2)]
    inst.remove()
    assert not p.exists()
    assert inst.lost() == Lost("tracefs", 0, 4)


def test_overwrite_on_request(fake_kernel: Path) -> None:
    inst = tf.TraceInstance(fake_kernel, "memcglab-t")
    inst.create([tf.MEMCG_EVENT], {}, overwrite=True)
    assert (inst.path / "options" / "overwrite").read_text() == "1"
    inst.remove()
    with pytest.raises(LiveError, match="overwrite must be a bool"):
        tf.TraceInstance(fake_kernel, "memcglab-t").create(
            [tf.MEMCG_EVENT], {}, overwrite=1)  # type: ignore[arg-type]


def test_deferred_copy_gives_up_and_counts_what_stayed(fake_kernel: Path,
                                                      tmp_path: Path) -> None:
    """Events the kernel still counts in ``entries`` after the timeout are reported lost."""
    inst = tf.TraceInstance(fake_kernel, "memcglab-t")
    inst.create([tf.MEMCG_EVENT], {})
    inst.start(tmp_path / "out")
    (inst.path / "per_cpu" / "cpu0" / "stats").write_text("entries: 5\noverrun: 2\n")
    t0 = time.monotonic()
    inst.stop(timeout=0.2)
    assert time.monotonic() - t0 < 5
    assert inst.lost() == Lost("tracefs", 2, 5)
    inst.remove()


def test_start_before_create(fake_tracefs: Path, tmp_path: Path) -> None:
    with pytest.raises(LiveError, match="before create"):
        tf.TraceInstance(fake_tracefs, "memcglab-t").start(tmp_path / "out")


# --- live -------------------------------------------------------------------------------

BTF = Path("/sys/kernel/btf/vmlinux")


def _btf_enum(path: Path, name: str) -> dict[str, int]:
    """The values of one ``enum`` in a BTF blob (Documentation/bpf/btf.rst: header, then
    ``struct btf_type`` records each followed by kind-specific data)."""
    data = path.read_bytes()
    magic, _, _, hdr_len, type_off, type_len, str_off, _ = struct.unpack_from(
        "<HBBIIIII", data, 0)
    assert magic == 0xEB9F
    strs = hdr_len + str_off

    def text(off: int) -> str:
        return data[strs + off:data.index(b"\0", strs + off)].decode()

    # bytes after the 12-byte btf_type, per kind, for vlen members
    extra = {1: 4, 3: 12, 14: 4, 17: 4}
    per_member = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}
    pos, stop = hdr_len + type_off, hdr_len + type_off + type_len
    while pos < stop:
        name_off, info, _ = struct.unpack_from("<III", data, pos)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        pos += 12
        if kind == 6 and text(name_off) == name:
            return {text(n): v for n, v in
                    (struct.unpack_from("<Ii", data, pos + 8 * i) for i in range(vlen))}
        pos += extra.get(kind, 0) + per_member.get(kind, 0) * vlen
    raise KeyError(name)


def _memory_hierarchy() -> int:
    for row in Path("/proc/cgroups").read_text().splitlines():
        f = row.split()
        if f[:1] == ["memory"]:
            return int(f[1])
    raise AssertionError("no memory in /proc/cgroups")


@pytest.fixture
def live_tracefs() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("live tracefs test needs root (it mounts tracefs and makes memcgs)")
    if not (MEMCG_V1 / "memory.limit_in_bytes").exists():
        pytest.skip(f"no cgroup v1 memory controller at {MEMCG_V1}")
    if not BTF.exists():
        pytest.skip(f"no {BTF}: the vm_event_item numbers come from BTF")
    try:
        mounted = tf.ensure_mounted(tf.TRACEFS)
    except LiveError as e:
        pytest.skip(f"tracefs not mountable: {e}")
    try:
        yield tf.TRACEFS
    finally:
        if mounted:
            tf.unmount(tf.TRACEFS)


def _top_state(tracefs: Path) -> tuple[str, ...]:
    return tuple((tracefs / f).read_text() for f in
                 ("tracing_on", "current_tracer", "events/enable", "trace_clock",
                  "buffer_size_kb", "set_event", "options/overwrite"))


@pytest.mark.parametrize("live", [False, True], ids=["deferred", "live"])
def test_live_limit_reclaim(live_tracefs: Path, live: bool) -> None:
    """A real recording: dd reads 64M through a 16M limit (limit reclaim on ``a``), deferred
    (the default: the buffer copied out at stop) or with a live reader."""
    items = tf.items_from_enum(_btf_enum(BTF, "vm_event_item"))
    top = _top_state(live_tracefs)
    inst = tf.TraceInstance(live_tracefs, f"memcglab-test-{os.getpid()}")
    with limit_reclaim("memcglab-test-tracefs", 64,
                       make_child=False) as (tmp, parent, a, data):
        out = tmp / "trace"
        try:
            kb = tf.buffer_kb_for(5, os.cpu_count() or 1, mem_available())
            inst.create(tf.EVENTS, tf.filters(*tf.item_range(items)), buffer_kb=kb)
            assert (inst.path / "tracing_on").read_text() == "0\n"
            assert (inst.path / "options" / "overwrite").read_text() == "0\n"
            # the kernel rounds the size to whole sub-buffers (pages less their headers)
            assert 0 <= int((inst.path / "buffer_size_kb").read_text().split()[0]) - kb < kb / 100
            reader = inst.start(out, live=live)
            assert (reader is not None and reader > 0) if live else reader is None
            a.mkdir()  # after start: its cgroup_mkdir is in the trace
            t0 = time.monotonic_ns()
            dd = run_dd_in(a, data, quiet=False)
            t1 = time.monotonic_ns()
            if not live:
                assert out.stat().st_size == 0  # nothing is read while the workload runs
            t2 = time.monotonic()
            inst.stop()
            stop_s = time.monotonic() - t2
            lost = inst.lost()
            parsed = tf.parse_trace(tf.read_trace(out), items)
            print(f"\n{parsed.lines} events in {(t1 - t0) / 1e9:.3f} s of dd "
                  f"({parsed.lines / ((t1 - t0) / 1e9):.0f}/s), stop {stop_s:.3f} s, {lost}, "
                  f"dd: {dd.stderr.decode().splitlines()[-1]}")
            assert lost == Lost("tracefs", 0, 0) and lost.total == 0
            assert (parsed.unparseable, parsed.unpaired, parsed.lost_markers) == (0, 0, 0)
            assert parsed.ignored == 0  # trace_pipe: no "#" header lines
            ino = a.stat().st_ino
            mine = [r for r in _shrinks(parsed) if r.comm == "dd" and r.memcg == ino]
            assert mine, "no shrink_inactive on a"
            assert all(0 <= r.priority <= 12 and r.reclaimed <= r.scanned for r in mine)
            assert {r.reclaimer for r in mine} == {"direct"}  # limit reclaim counts as direct
            assert all(t0 - 1000 <= r.t_ns <= t1 + 1000 for r in mine)  # trace_clock = mono
            assert sum(r.reclaimed for r in mine) >= (64 - 16 - 8) * 256  # most of 64M went
            dd_pid = mine[0].pid
            assert all(r.memcg == ino for r in _shrinks(parsed) if r.pid == dd_pid)
            mkdirs = [r for r in parsed.records if isinstance(r, CgroupRecord) and r.id == ino]
            assert [(r.edge, r.hierarchy, r.path) for r in mkdirs] == [
                ("mkdir", _memory_hierarchy(), f"/{parent.name}/a")]
            passes = [(r.kind, r.edge) for r in parsed.records
                      if isinstance(r, PassRecord) and r.pid == dd_pid]
            assert passes.count(("memcg", "begin")) == passes.count(("memcg", "end")) > 0
            stats = [tf.parse_stats(f.read_text())
                     for f in inst.path.glob("per_cpu/cpu*/stats")]
            assert sum(s[0] for s in stats) == 0  # everything was read out of the buffer
            assert sum(s[3] for s in stats) == parsed.lines  # one line per event read
        finally:
            inst.remove()
    assert not (live_tracefs / "instances" / inst.name).exists()
    assert _top_state(live_tracefs) == top
    assert inst.lost() == lost  # the snapshot remove() kept
    inst.remove()  # idempotent


def test_live_full_buffer_keeps_the_beginning(live_tracefs: Path) -> None:
    """A deferred buffer far too small for the run: with ``options/overwrite`` 0 the kernel
    keeps what came first (the ``cgroup_mkdir`` of the group made right after start) and
    drops the rest, which :meth:`TraceInstance.lost` reports as dropped."""
    items = tf.items_from_enum(_btf_enum(BTF, "vm_event_item"))
    top = _top_state(live_tracefs)
    inst = tf.TraceInstance(live_tracefs, f"memcglab-test-full-{os.getpid()}")
    with limit_reclaim("memcglab-test-tracefs-full", 48,
                       make_child=False) as (tmp, _, a, data):
        try:
            inst.create(tf.EVENTS,
                        tf.filters(*tf.item_range(items), hierarchy=_memory_hierarchy()),
                        buffer_kb=64)  # a few pages per CPU
            inst.start(tmp / "trace")
            a.mkdir()
            run_dd_in(a, data)
            inst.stop()
            lost = inst.lost()
            parsed = tf.parse_trace(tf.read_trace(tmp / "trace"), items)
            print(f"\n{parsed.lines} events kept, {lost}")
            assert lost.overrun == 0 and lost.dropped > 0  # the new ones were dropped
            mkdirs = [r for r in parsed.records if isinstance(r, CgroupRecord)
                      and r.id == a.stat().st_ino]
            assert [r.edge for r in mkdirs] == ["mkdir"]  # the beginning is there
            assert parsed.lost_markers == 0  # nothing overwritten: no "[LOST n EVENTS]"
        finally:
            inst.remove()
    assert _top_state(live_tracefs) == top
