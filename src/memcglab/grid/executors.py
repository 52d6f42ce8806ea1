"""Where a sweep's cells run: in this process, in a local process pool, or as Ray tasks.

Every executor hands each finished cell to ``done`` in the driver (this process), which is
the only writer of the results store. Ctrl-C is drained, not dropped: while a sweep runs,
the first SIGINT only sets a flag (:func:`sigint_drains`; raised as KeyboardInterrupt it
could land anywhere, in the middle of writing a result), the executors stop starting cells
and wait for those running, so their results are written and nothing is computed twice
when the sweep is resumed; a second SIGINT raises KeyboardInterrupt and abandons them.
SIGTERM (memcglab's ``Terminated``) abandons at once. Workers ignore SIGINT: a terminal's
Ctrl-C reaches the whole process group, and the driver decides.

Ray (an optional extra, ``pip install 'memcglab[ray]'``): ``address=None`` starts a local
instance for the run and stops it at the end; an address joins an existing cluster. Cells
go out in batches of about ``batch_seconds`` of work (estimated from the cells done so
far) as streaming generator tasks, so each cell still comes back, and is written, as soon
as it is finished.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from memcglab.errors import ConfigError, MemcglabError, Terminated
from memcglab.grid.cells import Job, Outcome, run_job
from memcglab.report.outdir import signals_deferred

RAY_MISSING = ("--ray: Ray is not installed; install memcglab's Ray extra: pip install "
               "'memcglab[ray]' (or run without --ray: the local pool)")
Done = Callable[[Outcome], None]
Say = Callable[[str], None]


POLL_S = 0.2  # how soon a waiting driver notices the first Ctrl-C


class Stop:
    """The first Ctrl-C of a sweep: stop starting cells, finish the running ones."""

    def __init__(self) -> None:
        self.requested = False


@contextlib.contextmanager
def sigint_drains() -> Iterator[Stop]:
    """While the block runs (in the main thread), the first SIGINT sets ``requested`` and
    the second raises KeyboardInterrupt."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, old)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_serial(jobs: Sequence[Job], done: Done, say: Say, stop: Stop | None = None) -> None:
    """In this process, one after another; a Ctrl-C lets the running cell finish."""
    for job in jobs:
        if stop is not None and stop.requested:
            say("interrupted: the running cell was finished and written")
            raise KeyboardInterrupt
        done(run_job(job))
    if stop is not None and stop.requested:
        raise KeyboardInterrupt


def run_pool(jobs: Sequence[Job], done: Done, say: Say, workers: int,
             stop: Stop | None = None) -> None:
    """A local process pool. Forked: a spawned or forkserver worker imports the main
    module again, which re-runs a user's script that has no ``if __name__ ==
    "__main__":`` guard; a fork does not, and memcglab's driver runs no thread of its own
    at that moment (its progress bar refreshes from the callbacks, not from a thread), so
    no lock is copied held. A fork pool starts all its workers at the first submit. At most
    ``workers`` + 1 cells are in flight at a time: one running per worker and the one the
    pool queues for the next free worker (so that no worker waits for the driver between
    two cells; the pool would start any more it held, so a drain could not stop them). A
    Ctrl-C stops submitting and waits for those."""
    stop = stop or Stop()
    ctx = multiprocessing.get_context("fork")
    pool = cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_ignore_sigint)
    queue = list(reversed(jobs))
    running: set[cf.Future[Outcome]] = set()
    draining = False
    try:
        def refill() -> None:
            while queue and not stop.requested and len(running) < workers + 1:
                running.add(pool.submit(run_job, queue.pop()))

        while running or (queue and not draining):
            refill()
            finished, running = cf.wait(running, timeout=POLL_S,
                                        return_when=cf.FIRST_COMPLETED)
            broken = False
            try:
                refill()  # before writing what finished: no worker waits for the writes
            except cf.process.BrokenProcessPool:
                broken = True  # a worker died: reported below, after writing what finished
            if stop.requested and not draining:
                draining = True
                say(f"interrupted: finishing the {len(running)} cells handed to the workers "
                    "(Ctrl-C again to abandon them)")
            failed = [f for f in finished if f.exception() is not None]
            for f in finished:
                if f.exception() is None:
                    done(f.result())
            if failed or broken:  # after writing what did finish: the sweep ends
                e = failed[0].exception() if failed else None
                if broken or isinstance(e, cf.process.BrokenProcessPool):
                    raise MemcglabError(
                        "a worker of the local pool died (killed by a signal or by the "
                        "kernel's OOM killer: fewer --jobs or a lower --max-memory may help); "
                        "the cells finished so far are written: run the same command again "
                        "to resume") from None
                failed[0].result()
        if draining:
            raise KeyboardInterrupt
    except BaseException:  # a second Ctrl-C, SIGTERM, a failed cell: abandon the rest
        _kill(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _kill(pool: cf.ProcessPoolExecutor) -> None:
    for p in list(getattr(pool, "_processes", {}).values()):
        p.kill()


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def run_ray(jobs: Sequence[Job], done: Done, say: Say, address: str | None, cpus: int,
            batch_seconds: float = 1.0, stop: Stop | None = None) -> None:
    """Model cells first, then live-kernel cells (so these have their machine to
    themselves: one at a time per node, by a lock file, and after the simulations)."""
    with ray_session(address, cpus) as ray:
        total_cpus = int(ray.cluster_resources().get("CPU", cpus)) or 1
        for part in ([j for j in jobs if j.source != "kernel"],
                     [j for j in jobs if j.source == "kernel"]):
            if part:
                ray_cells(ray, part, done, say, total_cpus, batch_seconds, stop)


@contextlib.contextmanager
def ray_session(address: str | None, cpus: int) -> Iterator[Any]:
    """Ray, started locally with ``cpus`` CPUs (``address`` None) or joined at
    ``address``, and shut down (its temporary folder removed) at the end."""
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no telemetry leaves the machine
    # ray.init replaces the SIGTERM handler and does not put it back (measured); memcglab's
    # own (it unwinds the run) is installed again after it.
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    temp: str | None = None
    started = False
    try:
        started = True  # from here on, shut Ray down whatever happens
        try:
            if address is None:
                # A short folder: Ray's sockets live under it and AF_UNIX paths are at most
                # 107 bytes; it is removed at the end (Ray leaves its session logs there).
                temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
                ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                         configure_logging=False, object_store_memory=80 << 20,
                         _temp_dir=temp)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        except SystemExit as e:
            # ray.init's own SIGTERM handler, installed while it starts, calls sys.exit.
            if e.code == signal.SIGTERM:
                raise Terminated("SIGTERM") from None
            raise
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ConfigError(f"--ray {address or ''}: cannot start or join Ray: {e} (a "
                              "cluster with token authentication needs RAY_AUTH_MODE=token "
                              "and its token: docs/sweep.md, \"Executors\")") from None
        for s, h in handlers.items():
            signal.signal(s, h)
        yield ray
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
        with signals_deferred():  # a Ctrl-C here would leave Ray's processes and files
            if started:
                ray.shutdown()
            if temp is not None:
                _remove(temp)


def _remove(folder: str) -> None:
    """Remove Ray's folder; its processes may still write their last logs for a moment."""
    for _ in range(20):
        shutil.rmtree(folder, ignore_errors=True)
        if not os.path.exists(folder):
            return
        time.sleep(0.1)


def _ray_batch(jobs: list[Job]) -> Any:
    """A Ray generator task: each cell's outcome is yielded (and returned to the driver)
    as soon as it is done."""
    for job in jobs:
        yield run_job(job)


def ray_cells(ray: Any, jobs: Sequence[Job], done: Done, say: Say, cpus: int,
              batch_seconds: float, stop: Stop | None = None) -> None:
    stop = stop or Stop()
    task = ray.remote(num_cpus=1)(_ray_batch)
    queue = list(reversed(jobs))
    walls: list[float] = []
    running: dict[Any, int] = {}  # generator -> cells still to come
    draining = False

    def next_batch() -> list[Job]:
        # One cell per task until some have come back, then about batch_seconds of work.
        size = 1 if not walls else max(1, min(256, round(batch_seconds * len(walls)
                                                           / max(sum(walls), 1e-6))))
        return [queue.pop() for _ in range(min(size, len(queue)))]

    while running or (queue and not draining):
        # At most one task per CPU: Ray would start any queued one, past a Ctrl-C.
        while queue and not stop.requested and len(running) < cpus:
            batch = next_batch()
            running[task.remote(batch)] = len(batch)
        try:
            ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
        except KeyboardInterrupt:  # the second Ctrl-C, or SIGTERM
            for g in running:
                ray.cancel(g, force=True)
            raise
        if stop.requested and not draining:
            draining = True
            say(f"interrupted: finishing the {sum(running.values())} cells of the "
                f"{len(running)} running tasks (Ctrl-C again to abandon them)")
        for gen in ready:
            try:
                out = ray.get(next(gen))
            except StopIteration:
                running.pop(gen, None)
                continue
            except ray.exceptions.RayError as e:
                # Ray already retried the task (a lost node, a killed worker): give up with
                # what is written kept, rather than as a memcglab bug.
                for g in running:
                    ray.cancel(g, force=True)
                raise MemcglabError(
                    f"--ray: a task failed after Ray's retries ({type(e).__name__}: "
                    f"{str(e).splitlines()[0] if str(e) else ''}); the cells finished so far "
                    "are written: run the same command again to resume") from None
            walls.append(out.wall_s)
            done(out)
            running[gen] -= 1
            if running[gen] == 0:
                running.pop(gen)
    if draining:
        raise KeyboardInterrupt


__all__ = ["RAY_MISSING", "Done", "Stop", "ray_available", "ray_cells", "ray_session",
           "run_pool", "run_ray", "run_serial", "sigint_drains"]
