"""One workload process of ``memcglab kernel run``: touches pages of its own file or anonymous
mapping at a fixed rate on the real kernel, as a ``memcglab run`` process does in the
simulator (:mod:`memcglab.sim.workloads`).

Run as ``python -m memcglab.live.worker [SPEC]``. Only the standard library is imported (and
``memcglab/__init__.py``, ``memcglab/live/__init__.py``, ``memcglab/model/__init__.py``,
which hold docstrings only, and :mod:`memcglab.model.pacing`, the schedule it shares with the
simulator), so the process is ready within a few tens of ms; :func:`parse_spec` validates
everything first.

Protocol (stdin / stdout, one line each, UTF-8):

1. The spec, a JSON object, as ``argv[1]`` or else as the first line of stdin:
   ``pattern`` (``stream`` | ``loop`` | ``random``), ``anon`` (bool), ``path`` (the file;
   null for anon), ``pages``, one of ``interval_ns`` (between touches, as the simulator's
   ``ProcessSpec.interval_ns``) or ``rate`` (bytes per second, turned into an interval as
   ``memcglab run`` does: pages rounded up, ``10**9 // pages_per_second``), ``seed`` (random
   pattern: the per-process seed, see :func:`process_seed`), ``readahead`` (``default`` |
   ``sequential`` | ``off``; file only), ``duration_ns``, and optionally ``chunk`` (the most
   pages one tick touches; by default 4 ticks' worth at the rate, 16 to 1024), ``tick_ns``
   (1 ms), ``max_lag_ns`` (100 ms) and ``page_size`` (must be 4096). A bad spec: a message
   on stderr and exit 2, before ``ready``.
2. Start-up: open the file (``O_RDONLY``) or map ``pages`` of anonymous memory
   (``MAP_PRIVATE | MAP_ANONYMOUS``: private, so it is anon memory, not shmem, and not
   populated: no page exists until it is touched; ``MADV_NOHUGEPAGE`` so that a touch
   faults one 4 KiB page even where THP is ``always``, as in the simulator), allocate and
   fault in the read buffer and the map of touched pages, apply ``posix_fadvise`` for
   readahead, then write ``ready`` and block until stdin says ``go``.
3. The parent moves the worker into its cgroup between ``ready`` and ``go``. Everything the
   worker allocated before ``go`` (interpreter, heap, buffers, the map of touched pages,
   their page tables) stays charged to the cgroup it was started in: cgroup v2 never
   moves charges, and v1 moves them only with ``memory.move_charge_at_immigrate``, which
   is 0 unless someone sets it (memcglab does not). So the group is charged for the pages
   the workload touches (and the page tables of its anonymous mapping, one page per
   2 MiB), plus at most a few pages of the worker's own heap that Python may grow after
   ``go``.
   ``go`` starts now; ``go T`` starts at CLOCK_MONOTONIC time ``T`` ns (the parent can
   release every worker against one time base; touches are due from ``T`` on, so a
   ``T`` in the past is caught up, within ``max_lag_ns``). EOF before ``go``: exit 1.
4. After ``go``: touch pages at the rate for ``duration_ns``, then print one JSON line
   (:meth:`Worker.run` lists its fields) and exit 0. SIGTERM or SIGINT stops the run early but
   gracefully: the tick in progress ends, and the result is printed with
   ``"stopped": "signal"``.

Touching. A file touch is ``os.preadv`` of 4096 bytes at ``page * 4096`` into the one
preallocated buffer: a buffered read, which finds the page in the page cache or reads it,
and readahead, from disk, charging the new page-cache pages to the reader's memcg. An anon
touch writes one byte into the page (the first write faults in a zeroed page, charged to
the memcg; later writes find it, or fault it back from swap). The page is not
same-filled, so zram stores it (compressed to a few bytes) instead of only marking it.
Page sequences (:func:`page_indices`) are the simulator's: ``stream`` and ``loop`` touch
0, 1, ..., pages-1 and again; ``random`` draws from the same 64-bit LCG as
``memcglab.sim.workloads.process`` (constants copied from there), so a live process with
the simulator's seed touches the simulator's pages in the simulator's order.

Pacing (CLOCK_MONOTONIC). Touch ``k`` (from 0) is due at ``t0 + k * interval_ns``, so a run
of ``D`` ns owes ``ceil(D / interval_ns)`` touches, as many as the simulator makes between
its start and stop. The worker works in ticks: a tick touches every page due so far (at
most ``chunk``), then sleeps until the next tick (``tick_ns`` after this one) or the next
due touch, whichever is later. A slow tick (I/O, a preempted CPU) leaves touches owed that
the next ticks catch up without sleeping. The debt is bounded: touches more than
``max_lag_ns`` overdue are dropped (counted in ``dropped``; the page sequence itself is not
skipped, only the time is forgiven), so a rate the machine cannot reach runs flat out
rather than falling ever further behind, and the result says so (``kept_rate`` false,
``busy_fraction`` near 1, ``rate_pages_s`` what it achieved).

Readahead (``posix_fadvise(fd, 0, 0, advice)``, Linux v6.18 ``mm/fadvise.c``
``generic_fadvise``): ``default`` = ``POSIX_FADV_NORMAL`` (``f_ra.ra_pages =
bdi->ra_pages``, the device's ``read_ahead_kb``; clears ``FMODE_RANDOM``), ``sequential`` =
``POSIX_FADV_SEQUENTIAL`` (``f_ra.ra_pages = bdi->ra_pages * 2``: a window twice as large),
``off`` = ``POSIX_FADV_RANDOM`` (sets ``FMODE_RANDOM``; ``mm/readahead.c``
``page_cache_sync_ra`` then does ``force_page_cache_ra`` of only the requested range, one
page per 4 KiB read). The advice holds for this open file only, so it never changes what
other processes of the machine get.
"""

from __future__ import annotations

import json
import mmap
import os
import resource
import select
import signal
import sys
import time
from collections.abc import Iterator
from types import FrameType

from memcglab.model.pacing import MAX_LAG_NS, TICK_NS, default_chunk

PAGE_SIZE = 4096
PATTERNS = ("stream", "loop", "random")
READAHEAD = {
    "default": os.POSIX_FADV_NORMAL,
    "sequential": os.POSIX_FADV_SEQUENTIAL,
    "off": os.POSIX_FADV_RANDOM,
}
# kept_rate also asks that no touch was more than this late (10 ticks of 1 ms).
KEPT_LAG_NS = 10 * TICK_NS

# The 64-bit LCG of src/memcglab/sim/workloads.py (LCG_A, LCG_C, MASK): Knuth's MMIX
# constants; index = (x >> 33) % pages after each step. Copied, not imported, to keep this
# module's start-up light (workloads.py imports the kernel mirror); a test checks they agree.
LCG_A = 6364136223846793005
LCG_C = 1442695040888963407
MASK = (1 << 64) - 1

_SPEC_KEYS = frozenset({"pattern", "anon", "path", "pages", "interval_ns", "rate", "seed",
                        "readahead", "chunk", "duration_ns", "tick_ns", "max_lag_ns",
                        "page_size"})


class SpecError(ValueError):
    """The spec is not valid: the worker exits 2 with this message."""


class Spec:
    """A validated spec (see the module docstring)."""

    __slots__ = ("anon", "chunk", "duration_ns", "interval_ns", "max_lag_ns", "pages", "path",
                 "pattern", "readahead", "seed", "tick_ns")

    def __init__(self, pattern: str, anon: bool, path: str | None, pages: int,
                 interval_ns: int, seed: int, readahead: str, chunk: int, duration_ns: int,
                 tick_ns: int, max_lag_ns: int) -> None:
        self.pattern = pattern
        self.anon = anon
        self.path = path
        self.pages = pages
        self.interval_ns = interval_ns
        self.seed = seed
        self.readahead = readahead
        self.chunk = chunk
        self.duration_ns = duration_ns
        self.tick_ns = tick_ns
        self.max_lag_ns = max_lag_ns


def interval_from_rate(rate: int) -> int:
    """Bytes per second -> ns between touches, as ``memcglab run`` computes
    ``WorkloadPlan.interval_ns`` (src/memcglab/scenario/sim_scenario.py): the rate in pages
    rounded up, then ``max(1, 10**9 // pages)``."""
    pages = -(-rate // PAGE_SIZE)
    return max(1, 1_000_000_000 // pages)


def process_seed(run_seed: int, mapping: int) -> int:
    """The seed of the ``mapping``-th process (counted over all workloads, in file order, each
    workload's processes in turn) of a run seeded ``run_seed``, as
    ``memcglab.sim.engine.Simulation`` gives its ``ProcessSpec.seed``."""
    return (run_seed * 1_000_003 + mapping * 7919 + 1) & MASK


def page_indices(pattern: str, pages: int, seed: int) -> Iterator[int]:
    """The endless page sequence of a process, the simulator's (``memcglab.sim.workloads``
    ``process``): ``stream``/``loop`` 0, 1, ..., pages-1, 0, ...; ``random`` the LCG's
    ``(x >> 33) % pages`` after each step from ``x = seed``. The worker inlines the same
    arithmetic in its touch loop; this is the reference the tests compare against."""
    if pattern == "random":
        x = seed & MASK
        while True:
            x = (x * LCG_A + LCG_C) & MASK
            yield (x >> 33) % pages
    else:
        i = 0
        while True:
            yield i
            i = i + 1 if i + 1 < pages else 0


def _int(d: dict[str, object], key: str, default: int | None = None, low: int = 1) -> int:
    v = d.get(key, default)
    if v is None:
        raise SpecError(f"spec: {key!r} is required")
    if isinstance(v, bool) or not isinstance(v, int):
        raise SpecError(f"spec: {key!r}: expected an integer, got {v!r}")
    if v < low:
        raise SpecError(f"spec: {key!r}: expected at least {low}, got {v}")
    return v


def parse_spec(obj: object) -> Spec:
    """Validate a decoded JSON spec (strict: unknown keys and wrong types are refused)."""
    if not isinstance(obj, dict):
        raise SpecError(f"spec: expected a JSON object, got {type(obj).__name__}")
    d: dict[str, object] = obj
    unknown = sorted(set(d) - _SPEC_KEYS)
    if unknown:
        raise SpecError(f"spec: unknown keys {', '.join(unknown)}; "
                        f"known: {', '.join(sorted(_SPEC_KEYS))}")
    pattern = d.get("pattern")
    if pattern not in PATTERNS:
        raise SpecError(f"spec: 'pattern': expected one of {', '.join(PATTERNS)}, "
                        f"got {pattern!r}")
    assert isinstance(pattern, str)
    anon = d.get("anon", False)
    if not isinstance(anon, bool):
        raise SpecError(f"spec: 'anon': expected true or false, got {anon!r}")
    path = d.get("path")
    if anon and path is not None:
        raise SpecError("spec: 'path' must be null for an anon workload")
    if not anon and not (isinstance(path, str) and path):
        raise SpecError(f"spec: 'path': a file workload needs its file, got {path!r}")
    assert path is None or isinstance(path, str)
    readahead = d.get("readahead", "default")
    if readahead not in READAHEAD:
        raise SpecError(f"spec: 'readahead': expected one of {', '.join(READAHEAD)}, "
                        f"got {readahead!r}")
    assert isinstance(readahead, str)
    if anon and readahead != "default":
        raise SpecError("spec: 'readahead' applies to file workloads only")
    page_size = d.get("page_size", PAGE_SIZE)
    if isinstance(page_size, bool) or page_size != PAGE_SIZE:
        raise SpecError(f"spec: 'page_size': only {PAGE_SIZE} is supported, "
                        f"got {page_size!r}")
    if mmap.PAGESIZE != PAGE_SIZE:
        # A touch must be one page, as in the simulator.
        raise SpecError(f"this machine's page size is {mmap.PAGESIZE}, not {PAGE_SIZE}")
    if ("interval_ns" in d) == ("rate" in d):
        raise SpecError("spec: give exactly one of 'interval_ns' and 'rate'")
    interval = (_int(d, "interval_ns") if "interval_ns" in d
                else interval_from_rate(_int(d, "rate")))
    pages = _int(d, "pages")
    seed = _int(d, "seed", 0, low=0)
    tick = _int(d, "tick_ns", TICK_NS, low=1000)
    return Spec(pattern, anon, path, pages, interval, seed, readahead,
                _int(d, "chunk", default_chunk(interval, tick)), _int(d, "duration_ns"),
                tick, _int(d, "max_lag_ns", MAX_LAG_NS))


def read_proc_io(path: str = "/proc/self/io") -> dict[str, int] | None:
    """``/proc/self/io`` as a dict (``rchar``: bytes read by syscalls, cached or not;
    ``read_bytes``: bytes this task made the block layer fetch, readahead included), or None
    without CONFIG_TASK_IO_ACCOUNTING."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if value.strip().isdigit():
            out[key.strip()] = int(value)
    return out


class _Lines:
    """Lines from a file descriptor, read with os.read so that select() on the same
    descriptor tells the truth (a buffered reader could hold "go" unseen by select)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""

    def pending(self) -> bool:
        return b"\n" in self.buf

    def readline(self, wake_fd: int) -> bytes | None:
        """The next line; None on EOF or when ``wake_fd`` (the signal pipe) becomes readable
        before a line arrives."""
        while b"\n" not in self.buf:
            ready, _, _ = select.select([self.fd, wake_fd], [], [])
            if wake_fd in ready:
                return None
            data = os.read(self.fd, 4096)
            if not data:
                return None
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line


class Worker:
    """The prepared process: the file or mapping, the buffers, the signal pipe."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.stop = False
        self.fd = -1
        self.mm: mmap.mmap | None = None
        size = spec.pages * PAGE_SIZE
        if spec.anon:
            self.mm = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                                prot=mmap.PROT_READ | mmap.PROT_WRITE)
            if hasattr(mmap, "MADV_NOHUGEPAGE"):
                self.mm.madvise(mmap.MADV_NOHUGEPAGE)
        else:
            assert spec.path is not None
            self.fd = os.open(spec.path, os.O_RDONLY | os.O_CLOEXEC)
            have = os.fstat(self.fd).st_size
            if have < size:
                raise SpecError(f"spec: {spec.path}: {have} bytes, shorter than {spec.pages} "
                                f"pages ({size} bytes)")
            os.posix_fadvise(self.fd, 0, 0, READAHEAD[spec.readahead])
        # Allocated and written now, before "go", so these pages stay charged to the
        # parent's cgroup (bytearray(n) may come from untouched zero pages of an mmap).
        self.buf = bytearray(PAGE_SIZE)
        self.seen = bytearray(spec.pages)  # one byte per page: one store per touch
        for b in (self.buf, self.seen):
            for off in range(0, len(b), PAGE_SIZE):
                b[off] = 0
        # Signals: the handler only sets a flag; the wakeup fd makes select() return, so a
        # sleep or the wait for "go" ends at once instead of resuming (PEP 475).
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop = True

    def _sleep_until(self, t_ns: int) -> None:
        now = time.monotonic_ns()
        while t_ns > now and not self.stop:
            select.select([self.wake_r], [], [], (t_ns - now) / 1e9)
            now = time.monotonic_ns()

    def run(self, t0: int) -> dict[str, object]:
        """Touch pages from CLOCK_MONOTONIC ``t0`` for ``duration_ns`` or until a signal; the
        result fields:

        * ``touches``, ``distinct`` (pages touched at least once), ``due`` (touches owed by
          the end at the rate), ``dropped`` (owed touches forgiven, > ``max_lag_ns`` late),
          ``shortfall`` (``due - touches``);
        * ``t0_ns``, ``t_end_ns`` (CLOCK_MONOTONIC), ``elapsed_ns``, ``rate_pages_s``
          (achieved), ``interval_ns``, ``chunk``;
        * ``ticks``, ``late_ticks`` (ticks that ended with touches still owed),
          ``max_lag_ns`` (the most a touch was overdue when its tick began),
          ``busy_fraction`` (of the elapsed time not spent sleeping: near 1 = flat out),
          ``kept_rate`` (no shortfall and no touch more than 10 ms late);
        * ``stopped``: ``duration`` or ``signal``;
        * ``read_bytes``, ``rchar`` (increase over the run, from ``/proc/self/io``; None
          without task I/O accounting) and ``io_before``, ``io_after`` (the raw files);
          ``minflt``, ``majflt`` (increase, ``getrusage``).
        """
        s = self.spec
        io0 = read_proc_io()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        # The schedule is anchored at t0 itself, not at the (later) wake-up, so workers
        # released with one "go T" share one time base. A T already past is owed from T.
        self._sleep_until(t0)
        iv, pages, chunk, tick = s.interval_ns, s.pages, s.chunk, s.tick_ns
        end = t0 + s.duration_ns
        # A signal before the start (or before "go") leaves nothing due.
        total = 0 if self.stop else -(-s.duration_ns // iv)
        backlog_max = max(chunk, s.max_lag_ns // iv)
        rnd = s.pattern == "random"
        x = s.seed & MASK
        i = 0
        fd, bufs, mm, seen = self.fd, [self.buf], self.mm, self.seen
        preadv = os.preadv
        done = credited = dropped = ticks = late = 0
        max_lag = slept = 0
        stopped = "signal" if self.stop else "duration"
        while True:
            now = time.monotonic_ns()
            final = now >= end or self.stop
            if self.stop and stopped == "duration":
                # The last tick touches what was due when the signal came, then stops.
                stopped = "signal"
                total = min(total, (now - t0) // iv + 1)
            due = total if final else min(total, (now - t0) // iv + 1)
            owed = due - credited
            if owed > 0:
                lag = now - (t0 + credited * iv)
                if lag > max_lag:
                    max_lag = lag
            if owed > backlog_max:
                dropped += owed - backlog_max
                credited += owed - backlog_max
                owed = backlog_max
            n = owed if owed < chunk else chunk
            # The touch loop: the simulator's index arithmetic inline (page_indices).
            for _ in range(n):
                if rnd:
                    x = (x * LCG_A + LCG_C) & MASK
                    idx = (x >> 33) % pages
                else:
                    idx = i
                    i = i + 1 if i + 1 < pages else 0
                if mm is None:
                    if preadv(fd, bufs, idx * PAGE_SIZE) != PAGE_SIZE:
                        raise OSError(f"short read at page {idx}")
                else:
                    mm[idx * PAGE_SIZE] = 1
                seen[idx] = 1
            done += n
            credited += n
            ticks += 1
            if owed > n:
                late += 1
            if final:
                break
            if owed > n:
                continue  # behind: the next tick starts now
            before = time.monotonic_ns()
            self._sleep_until(min(end, max(now + tick, t0 + credited * iv)))
            slept += time.monotonic_ns() - before
        t_end = time.monotonic_ns()
        io1 = read_proc_io()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        elapsed = t_end - t0
        shortfall = total - done
        return {
            "touches": done,
            "distinct": pages - seen.count(0),
            "due": total,
            "dropped": dropped,
            "shortfall": shortfall,
            "t0_ns": t0,
            "t_end_ns": t_end,
            "elapsed_ns": elapsed,
            "rate_pages_s": round(done * 1e9 / elapsed, 1) if elapsed > 0 else 0.0,
            "interval_ns": iv,
            "chunk": chunk,
            "ticks": ticks,
            "late_ticks": late,
            "max_lag_ns": max_lag,
            "busy_fraction": round(1 - slept / elapsed, 4) if elapsed > 0 else 1.0,
            "kept_rate": shortfall == 0 and max_lag <= KEPT_LAG_NS,
            "stopped": stopped,
            "read_bytes": _delta(io0, io1, "read_bytes"),
            "rchar": _delta(io0, io1, "rchar"),
            "io_before": io0,
            "io_after": io1,
            "minflt": ru1.ru_minflt - ru0.ru_minflt,
            "majflt": ru1.ru_majflt - ru0.ru_majflt,
            "pid": os.getpid(),
        }


def _delta(a: dict[str, int] | None, b: dict[str, int] | None, key: str) -> int | None:
    if a is None or b is None or key not in a or key not in b:
        return None
    return b[key] - a[key]


def _parse_go(line: bytes) -> int:
    """``go`` -> now; ``go T`` -> T (CLOCK_MONOTONIC ns)."""
    words = line.split()
    if not words or words[0] != b"go" or len(words) > 2 or (
            len(words) == 2 and not words[1].isdigit()):
        raise SpecError(f"expected 'go' or 'go T' on stdin, got {line!r}")
    return int(words[1]) if len(words) == 2 else time.monotonic_ns()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = sys.stdout
    lines = _Lines(sys.stdin.fileno())
    try:
        if args:
            text = args[0].encode()
        else:
            # No signal pipe yet: a plain blocking read of the first line.
            while not lines.pending():
                data = os.read(lines.fd, 65536)
                if not data:
                    break
                lines.buf += data
            text, _, lines.buf = lines.buf.partition(b"\n")
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise SpecError(f"spec: not JSON: {e}") from None
        worker = Worker(parse_spec(obj))
    except (SpecError, OSError) as e:
        print(f"memcglab worker: {e}", file=sys.stderr)
        return 2
    out.write("ready\n")
    out.flush()
    line = lines.readline(worker.wake_r)
    if line is None and not worker.stop:
        print("memcglab worker: stdin closed before 'go'", file=sys.stderr)
        return 1
    try:
        t0 = time.monotonic_ns() if line is None else _parse_go(line)
    except SpecError as e:
        print(f"memcglab worker: {e}", file=sys.stderr)
        return 2
    try:
        result = worker.run(t0)
    except OSError as e:
        print(f"memcglab worker: {e}", file=sys.stderr)
        return 1
    try:
        out.write(json.dumps(result, separators=(",", ":")) + "\n")
        out.flush()
    except BrokenPipeError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
