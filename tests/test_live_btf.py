"""The BTF reader (:mod:`memcglab.live.btf`): synthetic blobs built here with every kind the
reader must step over, bad files, and the running kernel's BTF when there is one."""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import pytest

from memcglab.errors import LiveError
from memcglab.live.btf import (
    KIND_ARRAY,
    KIND_CONST,
    KIND_DATASEC,
    KIND_DECL_TAG,
    KIND_ENUM,
    KIND_ENUM64,
    KIND_FLOAT,
    KIND_FUNC,
    KIND_FUNC_PROTO,
    KIND_FWD,
    KIND_INT,
    KIND_PTR,
    KIND_STRUCT,
    KIND_TYPE_TAG,
    KIND_TYPEDEF,
    KIND_UNION,
    KIND_VAR,
    KIND_VOLATILE,
    VMLINUX,
    Btf,
    KernelLayout,
    kernel_layout,
    read_btf,
)

# (name, type id, bit offset, bitfield size)
MemberSpec = tuple[str, int, int, int]


class BtfBuilder:
    """Writes a BTF blob: header, type section, string section (include/uapi/linux/btf.h)."""

    def __init__(self, order: str = "<") -> None:
        self.order = order
        self.strings = bytearray(b"\0")
        self.words: list[int] = []
        self.count = 0

    def name(self, s: str) -> int:
        if not s:
            return 0
        off = len(self.strings)
        self.strings += s.encode() + b"\0"
        return off

    def add(self, name: str, kind: int, vlen: int, size_or_type: int, extra: list[int],
            kflag: bool = False) -> int:
        info = (int(kflag) << 31) | (kind << 24) | vlen
        self.words += [self.name(name), info, size_or_type, *extra]
        self.count += 1
        return self.count

    def int_(self, name: str, size: int, signed: bool = True) -> int:
        return self.add(name, KIND_INT, 0, size, [(int(signed) << 24) | (size * 8)])

    def struct(self, name: str, size: int, members: list[MemberSpec],
               union: bool = False) -> int:
        kflag = any(bits for _, _, _, bits in members)
        extra: list[int] = []
        for mname, mtype, off, bits in members:
            extra += [self.name(mname), mtype, (bits << 24 | off) if kflag else off]
        return self.add(name, KIND_UNION if union else KIND_STRUCT, len(members), size, extra,
                        kflag)

    def enum(self, name: str, values: list[tuple[str, int]], signed: bool = False) -> int:
        extra: list[int] = []
        for n, v in values:
            extra += [self.name(n), v & 0xFFFFFFFF]
        return self.add(name, KIND_ENUM, len(values), 4, extra, signed)

    def enum64(self, name: str, values: list[tuple[str, int]], signed: bool = False) -> int:
        extra: list[int] = []
        for n, v in values:
            v &= (1 << 64) - 1
            extra += [self.name(n), v & 0xFFFFFFFF, v >> 32]
        return self.add(name, KIND_ENUM64, len(values), 8, extra, signed)

    def blob(self, version: int = 1, magic: int = 0xEB9F) -> bytes:
        types = struct.pack(f"{self.order}{len(self.words)}I", *self.words)
        header = struct.pack(f"{self.order}HBBIIIII", magic, version, 0, 24, 0, len(types),
                             len(types), len(self.strings))
        return header + types + bytes(self.strings)


def filler(b: BtfBuilder) -> int:
    """One type of every kind that carries extra data (or none), so that a reader that
    sized any of them wrong would misplace everything after it. Returns the int type id."""
    i32 = b.int_("int", 4)
    b.int_("unsigned long", 8, signed=False)
    b.add("", KIND_PTR, 0, i32, [])
    b.add("", KIND_ARRAY, 0, 0, [i32, i32, 16])
    b.add("fwd_thing", KIND_FWD, 0, 0, [])
    b.add("", KIND_CONST, 0, i32, [])
    b.add("", KIND_VOLATILE, 0, i32, [])
    proto = b.add("", KIND_FUNC_PROTO, 2, i32, [b.name("x"), i32, b.name("y"), i32])
    b.add("some_func", KIND_FUNC, 1, proto, [])
    var = b.add("some_var", KIND_VAR, 0, i32, [1])
    b.add(".data", KIND_DATASEC, 1, 4, [var, 0, 4])
    b.add("double", KIND_FLOAT, 0, 8, [])
    b.add("tag", KIND_DECL_TAG, 0, var, [0xFFFFFFFF])
    b.add("user", KIND_TYPE_TAG, 0, i32, [])
    return i32


def sample(order: str = "<") -> bytes:
    b = BtfBuilder(order)
    i32 = filler(b)
    u64 = b.int_("u64", 8, signed=False)
    i16 = b.int_("short", 2)
    u32 = b.int_("unsigned int", 4, signed=False)
    ptr = b.add("", KIND_PTR, 0, 0, [])
    atomic_body = b.struct("", 4, [("counter", i32, 0, 0)])
    atomic = b.add("atomic_t", KIND_TYPEDEF, 0, atomic_body, [])
    it = b.struct("iter", 16, [("position", ptr, 0, 0), ("generation", atomic, 64, 0)])
    halves = b.struct("", 4, [("lo", i16, 0, 0), ("hi", i16, 16, 0)])
    anon = b.struct("", 4, [("a", i32, 0, 0), ("", halves, 0, 0)], union=True)
    const_it = b.add("", KIND_CONST, 0, it, [])
    b.struct("sc", 48, [("nr", u64, 0, 0), ("", anon, 64, 0), ("flag1", u32, 96, 1),
                        ("flag2", u32, 97, 3), ("it", const_it, 128, 0), ("tail", u64, 320, 0)])
    b.struct("u", 8, [("x", i32, 0, 0), ("y", u64, 0, 0)], union=True)
    b.enum("colour", [("RED", 0), ("GREEN", 1), ("NEG", -5)], signed=True)
    b.enum("flags", [("HIGH", 0xFFFFFFF0)])
    b.enum64("wide", [("BIG", 1 << 40), ("MINUS", -2)], signed=True)
    return b.blob()


@pytest.fixture
def btf() -> Btf:
    return Btf.from_bytes(sample(), "sample.btf")


def test_offsets_through_anonymous_members_typedefs_and_paths(btf: Btf) -> None:
    assert btf.member_offset("sc", "nr") == 0
    assert btf.member_offset("sc", "a") == 8  # in the anonymous union
    assert btf.member_offset("sc", "hi") == 10  # anonymous struct in the anonymous union
    assert btf.member_offset("sc", "it") == 16
    assert btf.member_offset("sc", "it.generation") == 24  # through const
    assert btf.member_offset("sc", "it.generation.counter") == 24  # typedef to anon struct
    assert btf.member_offset("iter", "generation") == 8
    assert btf.member_offset("sc", "tail") == 40
    assert btf.member_offset("u", "y") == 0
    assert btf.struct_size("sc") == 48 and btf.struct_size("u") == 8
    assert btf.member_names(btf._composite("sc")[0]) == [
        "nr", "a", "lo", "hi", "flag1", "flag2", "it", "tail"]


def test_bitfields(btf: Btf) -> None:
    m = btf.member("sc", "flag2")
    assert (m.bit_offset, m.bitfield_size, m.byte_offset) == (97, 3, None)
    assert btf.member_bit_offset("sc", "flag1") == 96
    assert btf.member_bit_offset("sc", "tail") == 320  # plain members in a kflag struct
    with pytest.raises(LiveError, match=r"sc\.flag2 is a bitfield \(3 bits at bit 97\)"):
        btf.member_offset("sc", "flag2")


def test_enums(btf: Btf) -> None:
    assert btf.enum_value("colour", "GREEN") == 1
    assert btf.enum_value("colour", "NEG") == -5  # kind_flag: signed
    assert btf.enum_value("flags", "HIGH") == 0xFFFFFFF0  # no kind_flag: unsigned
    assert btf.enum_values("wide") == {"BIG": 1 << 40, "MINUS": -2}


def test_missing_things_are_named(btf: Btf) -> None:
    with pytest.raises(LiveError, match=r"struct sc has no member 'nope'; its members are: "
                                        r"nr, a, lo, hi, flag1, flag2, it, tail"):
        btf.member_offset("sc", "nope")
    with pytest.raises(LiveError, match=r"struct sc\.it has no member 'x'; its members are: "
                                        r"position, generation"):
        btf.member_offset("sc", "it.x")
    with pytest.raises(LiveError, match=r"sc\.nr has kind INT, not a struct or union"):
        btf.member_offset("sc", "nr.x")
    with pytest.raises(LiveError, match="no struct or union named 'colour'"):
        btf.struct_size("colour")
    with pytest.raises(LiveError, match="no enum named 'sc'"):
        btf.enum_value("sc", "RED")
    with pytest.raises(LiveError, match="enum colour has no enumerator 'BLUE'"):
        btf.enum_value("colour", "BLUE")


def test_big_endian_blob() -> None:
    btf = Btf.from_bytes(sample(">"), "be.btf")
    assert btf.member_offset("sc", "hi") == 10
    assert btf.enum_value("colour", "NEG") == -5


@pytest.mark.parametrize(("blob", "message"), [
    (b"", r"bad\.btf: truncated BTF: 0 bytes, expected a 24-byte header"),
    (b"\x7fELF" + bytes(40), r"bad\.btf: not BTF: magic 0x457f, expected 0xeb9f"),
    (sample()[:200], r"bad\.btf: truncated BTF: the type section ends at byte \d+, "
                     r"the file has 200 bytes"),
    (sample()[:-3], r"truncated BTF: the string section ends at byte \d+, "
                    r"the file has \d+ bytes"),
    (BtfBuilder().blob(version=2), r"BTF version 2, expected 1"),
])
def test_bad_files(tmp_path: Path, blob: bytes, message: str) -> None:
    path = tmp_path / "bad.btf"
    path.write_bytes(blob)
    with pytest.raises(LiveError, match=message):
        read_btf(path)


def test_record_cut_by_the_type_section_and_unknown_kinds() -> None:
    b = BtfBuilder()
    b.int_("int", 4)
    b.struct("s", 8, [("a", 1, 0, 0), ("b", 1, 32, 0)])
    blob = bytearray(b.blob())
    struct.pack_into("<I", blob, 12, 12 + 12 + 12)  # type_len: the struct's 2nd member cut
    with pytest.raises(LiveError, match=r"truncated BTF: type 2 at byte 16 of the type "
                                        r"section runs past its end \(36 bytes\)"):
        Btf.from_bytes(bytes(blob), "cut.btf")
    b = BtfBuilder()
    b.int_("int", 4)
    b.add("future", 25, 0, 0, [])
    with pytest.raises(LiveError, match=r"BTF type 2 has kind 25, expected 1\.\.19"):
        Btf.from_bytes(b.blob(), "new.btf")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(LiveError, match=r"missing: cannot read BTF: .*CONFIG_DEBUG_INFO_BTF"):
        read_btf(tmp_path / "missing")


# --- kernel_layout on a synthetic kernel ----------------------------------------------------


def fake_kernel(items: list[tuple[str, int]], atomic_generation: bool = True) -> Btf:
    b = BtfBuilder()
    i32 = filler(b)
    ptr = b.add("", KIND_PTR, 0, 0, [])
    rs = b.struct("reclaim_state", 8, [("reclaimed", ptr, 0, 0)])
    b.struct("scan_control", 120, [("nr_to_reclaim", ptr, 0, 0), ("proactive", i32, 8, 1),
                                   ("reclaim_state", rs, 896, 0)])
    arr = b.add("", KIND_ARRAY, 0, 0, [ptr, i32, 0])
    b.struct("mem_cgroup", 2144, [("css", ptr, 0, 0), ("nodeinfo", arr, 2136 * 8, 0)])
    gen = i32
    if atomic_generation:
        gen = b.add("atomic_t", KIND_TYPEDEF, 0, b.struct("", 4, [("counter", i32, 0, 0)]), [])
    it = b.struct("mem_cgroup_reclaim_iter", 16, [("position", ptr, 0, 0),
                                                  ("generation", gen, 64, 0)])
    b.struct("mem_cgroup_per_node", 512, [("memcg", ptr, 0, 0), ("iter", it, 456 * 8, 0)])
    b.enum("vm_event_item", [("PGPGIN", 0), *items])
    return Btf.from_bytes(b.blob(), "fake.btf")


ALL_ITEMS = [("PGSTEAL_KSWAPD", 28), ("PGSTEAL_DIRECT", 29), ("PGSTEAL_KHUGEPAGED", 30),
             ("PGSTEAL_PROACTIVE", 31), ("PGSCAN_KSWAPD", 32), ("PGSCAN_DIRECT", 33),
             ("PGSCAN_KHUGEPAGED", 34), ("PGSCAN_PROACTIVE", 35)]


def test_kernel_layout_of_a_synthetic_kernel() -> None:
    layout = kernel_layout(fake_kernel(ALL_ITEMS))
    assert (layout.scan_control_reclaim_state, layout.mem_cgroup_nodeinfo,
            layout.per_node_iter, layout.iter_position, layout.iter_generation) == (
        112, 2136, 456, 0, 8)
    assert layout.vm_events == dict(ALL_ITEMS)
    assert layout.classify(29) == ("steal", "direct")
    assert layout.classify(32) == ("scan", "kswapd")
    assert layout.classify(35) == ("scan", "proactive")
    assert layout.classify(0) is None and layout.classify(36) is None
    assert layout.scan_items == {32: "kswapd", 33: "direct", 34: "khugepaged", 35: "proactive"}
    assert layout.item_range() == (28, 35)
    assert layout.items[30] == ("steal", "khugepaged")


def test_older_kernel_without_khugepaged_and_proactive() -> None:
    old = [("PGSTEAL_KSWAPD", 40), ("PGSTEAL_DIRECT", 41), ("PGSCAN_KSWAPD", 42),
           ("PGSCAN_DIRECT", 43)]
    layout = kernel_layout(fake_kernel(old, atomic_generation=False))
    assert layout.iter_generation == 8  # a plain int before v6.12
    assert layout.vm_events == dict(old)
    assert layout.scan_items == {42: "kswapd", 43: "direct"}
    assert layout.classify(43) == ("scan", "direct")


def test_kernel_without_direct_reclaim_counters_is_refused() -> None:
    with pytest.raises(LiveError, match="enum vm_event_item has no PGSCAN_DIRECT"):
        kernel_layout(fake_kernel([("PGSCAN_KSWAPD", 1), ("PGSTEAL_KSWAPD", 2),
                                   ("PGSTEAL_DIRECT", 3)]))


def test_layout_missing_member_says_which() -> None:
    b = BtfBuilder()
    i32 = filler(b)
    b.struct("scan_control", 8, [("priority", i32, 0, 0)])
    b.enum("vm_event_item", ALL_ITEMS)
    with pytest.raises(LiveError, match=r"struct scan_control has no member 'reclaim_state'"
                                        r"; its members are: priority"):
        kernel_layout(Btf.from_bytes(b.blob(), "k.btf"))


# --- this machine -----------------------------------------------------------------------


needs_btf = pytest.mark.skipif(not os.access(VMLINUX, os.R_OK),
                               reason=f"{VMLINUX} is not readable (no CONFIG_DEBUG_INFO_BTF)")


@needs_btf
def test_running_kernel_layout_is_consistent() -> None:
    t0 = time.perf_counter()
    btf = read_btf()
    parse_s = time.perf_counter() - t0
    assert parse_s < 2.0, f"parsing {VMLINUX} took {parse_s:.2f} s"  # ~0.1 s measured
    layout = kernel_layout(btf)
    assert layout.scan_control_reclaim_state > 0
    assert layout.mem_cgroup_nodeinfo > 0
    assert layout.per_node_iter > 0
    assert layout.iter_position >= 0 and layout.iter_generation > layout.iter_position
    assert layout.scan_control_reclaim_state < btf.struct_size("scan_control")
    assert layout.mem_cgroup_nodeinfo <= btf.struct_size("mem_cgroup")
    ev = layout.vm_events
    assert ev["PGSCAN_DIRECT"] == ev["PGSCAN_KSWAPD"] + 1
    assert ev["PGSTEAL_DIRECT"] == ev["PGSTEAL_KSWAPD"] + 1
    for r in ("KHUGEPAGED", "PROACTIVE"):
        if f"PGSCAN_{r}" in ev:
            assert layout.classify(ev[f"PGSCAN_{r}"]) == ("scan", r.lower())
    assert btf.member("scan_control", "memcg_full_walk").bitfield_size == 1


@needs_btf
@pytest.mark.skipif(not os.uname().release.startswith("6.18.44"),
                    reason="the pinned numbers are those of the 6.18.44 build")
def test_running_kernel_layout_pinned_on_6_18_44() -> None:
    layout = kernel_layout(read_btf())
    assert layout == KernelLayout(
        scan_control_reclaim_state=112, mem_cgroup_nodeinfo=2136, per_node_iter=456,
        iter_position=0, iter_generation=8,
        vm_events={"PGSTEAL_KSWAPD": 28, "PGSTEAL_DIRECT": 29, "PGSTEAL_KHUGEPAGED": 30,
                   "PGSTEAL_PROACTIVE": 31, "PGSCAN_KSWAPD": 32, "PGSCAN_DIRECT": 33,
                   "PGSCAN_KHUGEPAGED": 34, "PGSCAN_PROACTIVE": 35})
