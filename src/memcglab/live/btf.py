"""A small reader of the kernel's BTF, and the struct layout the bpftrace recorder needs.

Why this exists: the bpftrace recorder (:mod:`memcglab.live.bpf`) reaches the reclaim root
and its shared iterator through raw byte offsets, because bpftrace 0.17 cannot resolve
``mem_cgroup_per_node.iter`` nor index the flexible array ``mem_cgroup.nodeinfo[]``
(docs/kernel-observability.md §4.2). Those offsets and the ``enum vm_event_item`` numbers
change with every kernel build and config, so they are read at run time from the running
kernel's own type information, ``/sys/kernel/btf/vmlinux`` (``CONFIG_DEBUG_INFO_BTF=y``).
No maintained PyPI library reads BTF (the ones that exist are bcc/libbpf bindings that need
a compiler or shared libraries this machine lacks), so this module parses the format
itself. It needs only the standard library.

The format (the kernel's Documentation/bpf/btf.rst and include/uapi/linux/btf.h):

* a header ``{u16 magic = 0xeB9F; u8 version = 1; u8 flags; u32 hdr_len; u32 type_off,
  type_len, str_off, str_len}``; the offsets count from the end of the header (``hdr_len``,
  which may grow in later versions);
* the type section: ``struct btf_type {u32 name_off; u32 info; u32 size_or_type}`` per type,
  type ids counting from 1 (0 is ``void``), ``info`` holding ``vlen`` (bits 0-15), the kind
  (bits 24-28) and ``kind_flag`` (bit 31), each followed by kind-specific data: INT one u32,
  ARRAY ``{type, index_type, nelems}``, STRUCT/UNION ``vlen`` x ``{name_off, type, offset}``
  (with ``kind_flag`` set, ``offset`` is ``bitfield_size << 24 | bit_offset``), ENUM ``vlen``
  x ``{name_off, s32 val}``, ENUM64 ``vlen`` x ``{name_off, lo32, hi32}`` (``kind_flag``: the
  values are signed), FUNC_PROTO ``vlen`` x ``{name_off, type}``, VAR one u32, DATASEC
  ``vlen`` x ``{type, offset, size}``, DECL_TAG one s32, and nothing for the others;
* the string section: NUL-terminated names, addressed by byte offset.

Every record is a multiple of 4 bytes, so the type section is read as one array of u32
words; one pass records where each type starts and indexes structs, unions and enums by name
(about 0.1 s for the 5.5 MB vmlinux BTF of Linux 6.18 on this machine). Members and
enumerators are decoded only when asked for.

:func:`kernel_layout` then reads what the recorder needs on Linux 6.18:

* ``offsetof(struct scan_control, reclaim_state)`` (mm/vmscan.c): every reclaim entry point
  stores ``&sc.reclaim_state`` in ``current->reclaim_state``, so a tracepoint inside reclaim
  gets back to ``sc`` (and ``sc->target_mem_cgroup``, the reclaim root) by subtracting it;
* ``offsetof(struct mem_cgroup, nodeinfo)`` (include/linux/memcontrol.h), the flexible array
  of per-node pointers, and ``offsetof(struct mem_cgroup_per_node, iter)``, the root's shared
  reclaim cursor ``struct mem_cgroup_reclaim_iter {struct mem_cgroup *position; atomic_t
  generation;}`` (``position`` and ``generation.counter`` inside it);
* the ``enum vm_event_item`` values ``PGSTEAL_*`` / ``PGSCAN_*``: the ``item`` of
  ``memcg:count_memcg_events`` (include/trace/events/memcg.h), which says which reclaimer
  did the scan (mm/vmscan.c ``shrink_inactive_list``: ``item = PGSCAN_KSWAPD +
  reclaimer_offset(sc)``).
"""

from __future__ import annotations

import struct
import sys
from array import array
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

from memcglab.errors import LiveError
from memcglab.live.records import RECLAIMERS, Reclaimer

VMLINUX = Path("/sys/kernel/btf/vmlinux")

BTF_MAGIC = 0xEB9F
BTF_VERSION = 1
HEADER = struct.Struct("<HBBIIIII")  # magic, version, flags, hdr_len, type/str off+len

# BTF_KIND_* (include/uapi/linux/btf.h)
KIND_INT, KIND_PTR, KIND_ARRAY, KIND_STRUCT, KIND_UNION, KIND_ENUM = 1, 2, 3, 4, 5, 6
KIND_FWD, KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT = 7, 8, 9, 10, 11
KIND_FUNC, KIND_FUNC_PROTO, KIND_VAR, KIND_DATASEC, KIND_FLOAT = 12, 13, 14, 15, 16
KIND_DECL_TAG, KIND_TYPE_TAG, KIND_ENUM64 = 17, 18, 19
KIND_NAMES = ("UNKN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF",
              "VOLATILE", "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT",
              "DECL_TAG", "TYPE_TAG", "ENUM64")

# u32 words after the 3-word btf_type: (fixed, per vlen item); None = kind unknown to us
_EXTRA: tuple[tuple[int, int], ...] = (
    (0, 0),  # UNKN (not valid in a type section, rejected below)
    (1, 0),  # INT: encoding/offset/bits
    (0, 0),  # PTR
    (3, 0),  # ARRAY: btf_array
    (0, 3),  # STRUCT: btf_member
    (0, 3),  # UNION: btf_member
    (0, 2),  # ENUM: btf_enum
    (0, 0),  # FWD
    (0, 0),  # TYPEDEF
    (0, 0),  # VOLATILE
    (0, 0),  # CONST
    (0, 0),  # RESTRICT
    (0, 0),  # FUNC (vlen is the linkage, not a count)
    (0, 2),  # FUNC_PROTO: btf_param
    (1, 0),  # VAR: btf_var
    (0, 3),  # DATASEC: btf_var_secinfo
    (0, 0),  # FLOAT
    (1, 0),  # DECL_TAG: btf_decl_tag
    (0, 0),  # TYPE_TAG
    (0, 3),  # ENUM64: btf_enum64
)
# kinds that only qualify another type: looked through when following a member's type
_MODIFIERS = frozenset({KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_TYPE_TAG})


@dataclass(frozen=True, slots=True)
class Member:
    """A struct/union member found by :meth:`Btf.member`, with its offset from the start of
    the outermost struct (anonymous members and dotted paths already added up)."""

    name: str
    type_id: int
    bit_offset: int
    bitfield_size: int  # 0: not a bitfield

    @property
    def byte_offset(self) -> int | None:
        """The offset in bytes; None for a bitfield or a member not on a byte boundary."""
        if self.bitfield_size or self.bit_offset % 8:
            return None
        return self.bit_offset // 8


class Btf:
    """Parsed BTF: types addressed by id, structs/unions and enums indexed by name.

    Build it with :func:`read_btf` (or :meth:`from_bytes` for a blob made in memory)."""

    def __init__(self, data: bytes, source: str) -> None:
        self.source = source
        if len(data) < HEADER.size:
            raise LiveError(f"{source}: truncated BTF: {len(data)} bytes, expected a "
                            f"{HEADER.size}-byte header at least")
        magic = int.from_bytes(data[:2], "little")
        if magic == BTF_MAGIC:
            order = "<"
        elif magic == int.from_bytes(BTF_MAGIC.to_bytes(2, "little"), "big"):
            order = ">"  # BTF of a big-endian kernel: it is written in the kernel's byte order
        else:
            raise LiveError(f"{source}: not BTF: magic 0x{magic:04x}, expected 0x{BTF_MAGIC:04x}")
        _, version, _, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            order + HEADER.format[1:], data)
        if version != BTF_VERSION:
            raise LiveError(f"{source}: BTF version {version}, expected {BTF_VERSION}")
        if hdr_len < HEADER.size:
            raise LiveError(f"{source}: BTF header length {hdr_len}, expected >= {HEADER.size}")
        for what, off, length in (("type", type_off, type_len), ("string", str_off, str_len)):
            if hdr_len + off + length > len(data):
                raise LiveError(
                    f"{source}: truncated BTF: the {what} section ends at byte "
                    f"{hdr_len + off + length}, the file has {len(data)} bytes")
        if type_len % 4 or type_off % 4:
            raise LiveError(f"{source}: BTF type section at {type_off} of {type_len} bytes, "
                            "expected both to be multiples of 4")
        start = hdr_len + type_off
        words = array("I", data[start:start + type_len])
        if (order == "<") != (sys.byteorder == "little"):
            words.byteswap()
        self._words = words
        self._strings = data[hdr_len + str_off:hdr_len + str_off + str_len]
        self._starts: list[int] = [-1]  # word index of each type id; id 0 is void
        self._composites: dict[str, list[int]] = {}
        self._enums: dict[str, list[int]] = {}
        self._scan()

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bytes>") -> Btf:
        return cls(data, source)

    # --- the one pass over the type section --------------------------------------------

    def _scan(self) -> None:
        words, starts, extra = self._words, self._starts, _EXTRA
        n = len(words)
        named: list[tuple[int, int, int]] = []  # (type id, kind, name_off)
        i = 0
        while i < n:
            if i + 3 > n:
                self._truncated(len(starts), i)
            info = words[i + 1]
            kind = (info >> 24) & 0x1F
            if kind == 0 or kind >= len(extra):
                raise LiveError(
                    f"{self.source}: BTF type {len(starts)} has kind {kind}, expected 1.."
                    f"{len(extra) - 1} (a BTF kind newer than this reader, or a corrupt file)")
            if kind in (KIND_STRUCT, KIND_UNION, KIND_ENUM, KIND_ENUM64) and words[i]:
                named.append((len(starts), kind, words[i]))
            starts.append(i)
            fixed, per = extra[kind]
            i += 3 + fixed + per * (info & 0xFFFF)
        if i > n:
            self._truncated(len(starts) - 1, starts[-1])
        for tid, kind, name_off in named:
            index = self._enums if kind in (KIND_ENUM, KIND_ENUM64) else self._composites
            index.setdefault(self.name_at(name_off), []).append(tid)

    def _truncated(self, tid: int, word: int) -> None:
        raise LiveError(f"{self.source}: truncated BTF: type {tid} at byte {4 * word} of the "
                        f"type section runs past its end ({4 * len(self._words)} bytes)")

    # --- low-level access ------------------------------------------------------------------

    @property
    def type_count(self) -> int:
        """Number of types, void excluded (the largest type id)."""
        return len(self._starts) - 1

    def name_at(self, off: int) -> str:
        if off >= len(self._strings):
            raise LiveError(f"{self.source}: BTF name offset {off} is past the string section "
                            f"({len(self._strings)} bytes)")
        end = self._strings.find(b"\0", off)
        return self._strings[off:end if end >= 0 else None].decode("utf-8", "replace")

    def kind(self, tid: int) -> int:
        return (self._words[self._start(tid) + 1] >> 24) & 0x1F

    def _start(self, tid: int) -> int:
        if not 0 < tid < len(self._starts):
            raise LiveError(f"{self.source}: BTF type id {tid} out of range 1..{self.type_count}")
        return self._starts[tid]

    def type_name(self, tid: int) -> str:
        return self.name_at(self._words[self._start(tid)]) if tid else "void"

    def resolve(self, tid: int) -> int:
        """Follow typedef/const/volatile/restrict/type_tag to the underlying type id."""
        for _ in range(64):  # a loop in a typedef chain would be a corrupt file
            if tid == 0 or self.kind(tid) not in _MODIFIERS:
                return tid
            tid = self._words[self._start(tid) + 2]
        raise LiveError(f"{self.source}: BTF type {tid}: typedef chain longer than 64")

    def _members(self, tid: int) -> list[tuple[str, int, int, int]]:
        """(name, type id, bit offset, bitfield size) of a struct/union's own members."""
        i = self._start(tid)
        info = self._words[i + 1]
        kflag = info >> 31
        out = []
        for k in range(info & 0xFFFF):
            name_off, mtype, off = self._words[i + 3 + 3 * k:i + 6 + 3 * k]
            name = self.name_at(name_off) if name_off else ""
            if kflag:
                out.append((name, mtype, off & 0xFFFFFF, off >> 24))
            else:
                out.append((name, mtype, off, 0))
        return out

    # --- lookups ---------------------------------------------------------------------------

    def _composite(self, name: str) -> list[int]:
        ids = self._composites.get(name)
        if not ids:
            raise LiveError(f"{self.source}: no struct or union named {name!r} in BTF")
        return ids

    def struct_size(self, name: str) -> int:
        """``sizeof(struct name)`` (or union) in bytes."""
        return int(self._words[self._start(self._composite(name)[0]) + 2])

    def member(self, struct: str, member: str) -> Member:
        """The member ``member`` (``a`` or a path ``a.b.c``) of struct/union ``struct``,
        looking through anonymous struct/union members as C does. A name may belong to
        several BTF types (deduplication rarely keeps variants); the first with the member
        wins."""
        errors: list[str] = []
        for tid in self._composite(struct):
            try:
                return self._member_path(tid, struct, member)
            except LiveError as e:
                errors.append(str(e))
        raise LiveError(errors[0])

    def _member_path(self, tid: int, struct_name: str, path: str) -> Member:
        bit = 0
        found: Member | None = None
        where = struct_name
        for part in path.split("."):
            if found is not None:
                tid = self.resolve(found.type_id)
                if self.kind(tid) not in (KIND_STRUCT, KIND_UNION):
                    raise LiveError(
                        f"{self.source}: {where} has kind {KIND_NAMES[self.kind(tid)]}, not a "
                        f"struct or union, so it has no member {part!r}")
            hit = self._find(tid, part)
            if hit is None:
                names = ", ".join(self.member_names(tid)) or "(none)"
                raise LiveError(f"{self.source}: struct {where} has no member {part!r}; its "
                                f"members are: {names}")
            mtype, moff, bits = hit
            bit += moff
            found = Member(part, mtype, bit, bits)
            where = f"{where}.{part}"
        assert found is not None  # path.split never returns an empty list
        return found

    def _find(self, tid: int, name: str) -> tuple[int, int, int] | None:
        """(type id, bit offset, bitfield size) of ``name`` in struct/union ``tid``,
        searching anonymous members depth first (C's rule for anonymous struct/union)."""
        for mname, mtype, off, bits in self._members(tid):
            if mname == name:
                return mtype, off, bits
            if not mname:
                inner = self.resolve(mtype)
                if inner and self.kind(inner) in (KIND_STRUCT, KIND_UNION):
                    hit = self._find(inner, name)
                    if hit is not None:
                        return hit[0], off + hit[1], hit[2]
        return None

    def member_names(self, tid: int) -> list[str]:
        """Names reachable as ``.name`` in struct/union ``tid`` (anonymous members opened)."""
        out: list[str] = []
        for mname, mtype, _, _ in self._members(tid):
            if mname:
                out.append(mname)
            else:
                inner = self.resolve(mtype)
                if inner and self.kind(inner) in (KIND_STRUCT, KIND_UNION):
                    out += self.member_names(inner)
        return out

    def member_bit_offset(self, struct: str, member: str) -> int:
        """``offsetof`` in bits; also right for bitfields (see :meth:`member` for the size)."""
        return self.member(struct, member).bit_offset

    def member_offset(self, struct: str, member: str) -> int:
        """``offsetof(struct struct, member)`` in bytes (``member`` may be a path ``a.b``).
        A bitfield has no byte offset: that raises, use :meth:`member_bit_offset`."""
        m = self.member(struct, member)
        if m.byte_offset is None:
            raise LiveError(
                f"{self.source}: {struct}.{member} is a bitfield ({m.bitfield_size} bits at "
                f"bit {m.bit_offset}); it has no byte offset, use member_bit_offset")
        return m.byte_offset

    def enum_values(self, enum: str) -> dict[str, int]:
        """All enumerators of ``enum enum`` (ENUM or ENUM64), name -> value."""
        ids = self._enums.get(enum)
        if not ids:
            raise LiveError(f"{self.source}: no enum named {enum!r} in BTF")
        out: dict[str, int] = {}
        for tid in ids:
            i = self._start(tid)
            info = self._words[i + 1]
            signed = bool(info >> 31)  # kind_flag on ENUM/ENUM64: the values are signed
            if (info >> 24) & 0x1F == KIND_ENUM:
                for k in range(info & 0xFFFF):
                    name_off, raw = self._words[i + 3 + 2 * k:i + 5 + 2 * k]
                    val = raw - (1 << 32) if signed and raw >> 31 else raw
                    out.setdefault(self.name_at(name_off), int(val))
            else:
                for k in range(info & 0xFFFF):
                    name_off, lo, hi = self._words[i + 3 + 3 * k:i + 6 + 3 * k]
                    val = hi << 32 | lo
                    if signed and val >> 63:
                        val -= 1 << 64
                    out.setdefault(self.name_at(name_off), int(val))
        return out

    def enum_value(self, enum: str, name: str) -> int:
        """The value of enumerator ``name`` of ``enum enum``."""
        values = self.enum_values(enum)
        if name not in values:
            raise LiveError(f"{self.source}: enum {enum} has no enumerator {name!r} "
                            f"({len(values)} enumerators)")
        return values[name]


def read_btf(path: Path = VMLINUX) -> Btf:
    """Read and index a BTF file (by default the running kernel's)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise LiveError(f"{path}: cannot read BTF: {e.strerror or e} (the kernel needs "
                        "CONFIG_DEBUG_INFO_BTF=y)") from e
    return Btf(data, str(path))


# --- what the recorder needs ---------------------------------------------------------------

Counter = Literal["scan", "steal"]
# enum vm_event_item names, in RECLAIMERS order (include/linux/vm_event_item.h); the
# khugepaged and proactive ones are newer (v6.3 / v6.14, [inferred]): only those present
# are used.
STEAL_ITEMS = tuple(f"PGSTEAL_{r.upper()}" for r in RECLAIMERS)
SCAN_ITEMS = tuple(f"PGSCAN_{r.upper()}" for r in RECLAIMERS)


@dataclass(frozen=True)
class KernelLayout:
    """Byte offsets and event numbers of one kernel build, read from its BTF."""

    scan_control_reclaim_state: int  # offsetof(struct scan_control, reclaim_state)
    mem_cgroup_nodeinfo: int  # offsetof(struct mem_cgroup, nodeinfo)
    per_node_iter: int  # offsetof(struct mem_cgroup_per_node, iter)
    iter_position: int  # offsetof(struct mem_cgroup_reclaim_iter, position)
    iter_generation: int  # offsetof(struct mem_cgroup_reclaim_iter, generation.counter)
    vm_events: dict[str, int] = field(default_factory=dict)  # PGSTEAL_*/PGSCAN_* present

    def classify(self, item: int) -> tuple[Counter, Reclaimer] | None:
        """("scan" | "steal", reclaimer) for a ``count_memcg_events`` item; None if the item
        is not a PGSCAN_*/PGSTEAL_* counter of this kernel."""
        return self._by_item.get(item)

    @cached_property
    def _by_item(self) -> dict[int, tuple[Counter, Reclaimer]]:
        out: dict[int, tuple[Counter, Reclaimer]] = {}
        kinds: tuple[tuple[Counter, tuple[str, ...]], ...] = (
            ("scan", SCAN_ITEMS), ("steal", STEAL_ITEMS))
        for counter, names in kinds:
            for name, reclaimer in zip(names, RECLAIMERS, strict=True):
                if name in self.vm_events:
                    out[self.vm_events[name]] = (counter, reclaimer)
        return out

    @property
    def items(self) -> dict[int, tuple[Counter, Reclaimer]]:
        """Every PGSCAN_*/PGSTEAL_* item number of this kernel -> ("scan"|"steal",
        reclaimer): the ``items`` mapping :func:`memcglab.live.tracefs.parse` takes."""
        return dict(self._by_item)

    def item_range(self) -> tuple[int, int]:
        """(smallest, largest) PGSCAN_*/PGSTEAL_* item number, for a tracefs range filter.
        The items are contiguous on 6.18 (28..35); check :attr:`items` before relying on
        a range elsewhere."""
        return min(self._by_item), max(self._by_item)

    @property
    def scan_items(self) -> dict[int, Reclaimer]:
        """PGSCAN_* item number -> reclaimer, for the items this kernel has."""
        return {v: r for name, r in zip(SCAN_ITEMS, RECLAIMERS, strict=True)
                if (v := self.vm_events.get(name)) is not None}


def kernel_layout(btf: Btf) -> KernelLayout:
    """Read the recorder's offsets and event numbers; LiveError names what is missing."""
    values = btf.enum_values("vm_event_item")
    events = {n: values[n] for n in STEAL_ITEMS + SCAN_ITEMS if n in values}
    # kswapd and direct reclaim exist on every kernel with memcg reclaim; without them the
    # recorder could not classify anything, so their absence is an error, not a skip.
    for need in ("PGSCAN_KSWAPD", "PGSCAN_DIRECT", "PGSTEAL_KSWAPD", "PGSTEAL_DIRECT"):
        if need not in events:
            raise LiveError(f"{btf.source}: enum vm_event_item has no {need}")
    return KernelLayout(
        scan_control_reclaim_state=btf.member_offset("scan_control", "reclaim_state"),
        mem_cgroup_nodeinfo=btf.member_offset("mem_cgroup", "nodeinfo"),
        per_node_iter=btf.member_offset("mem_cgroup_per_node", "iter"),
        iter_position=btf.member_offset("mem_cgroup_reclaim_iter", "position"),
        # generation became atomic_t in v6.12 (Kinsey Ho's series); before, a plain int
        iter_generation=_generation_offset(btf),
        vm_events=events,
    )


def _generation_offset(btf: Btf) -> int:
    gen = btf.member("mem_cgroup_reclaim_iter", "generation")
    inner = btf.resolve(gen.type_id)
    if btf.kind(inner) == KIND_STRUCT:  # atomic_t = struct { int counter; }
        return btf.member_offset("mem_cgroup_reclaim_iter", "generation.counter")
    return btf.member_offset("mem_cgroup_reclaim_iter", "generation")
