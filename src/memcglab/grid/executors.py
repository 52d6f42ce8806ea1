"""Where a sweep's cells run: in this process, in a local process pool, or as Ray tasks.

Every executor hands each finished cell to ``done`` in the driver (this process), which is
the only writer of the results store. Ctrl-C is drained, not dropped: the first one stops
new cells from starting and waits for those running, so their results are written and
nothing is computed twice when the sweep is resumed; a second one abandons them. SIGTERM
(memcglab's ``Terminated``) abandons at once. Workers ignore SIGINT: a terminal's Ctrl-C
reaches the whole process group, and the driver decides.

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
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from memcglab.errors import ConfigError, Terminated
from memcglab.grid.cells import Job, Outcome, run_batch, run_job

Done = Callable[[Outcome], None]
Say = Callable[[str], None]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_serial(jobs: Sequence[Job], done: Done, say: Say) -> None:
    for job in jobs:
        done(run_job(job))


def run_pool(jobs: Sequence[Job], done: Done, say: Say, workers: int) -> None:
    """A local process pool. Forked: a spawned or forkserver worker imports the main
    module again, which re-runs a user's script that has no ``if __name__ ==
    "__main__":`` guard; a fork does not, and memcglab's driver runs no thread of its own
    at that moment (its progress bar refreshes from the callbacks, not from a thread), so
    no lock is copied held. A fork pool starts all its workers at the first submit. At most
    2 x ``workers`` cells are submitted at a time, so a drain waits for at most one cell
    per worker."""
    ctx = multiprocessing.get_context("fork")
    pool = cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_ignore_sigint)
    queue = list(reversed(jobs))
    running: set[cf.Future[Outcome]] = set()
    draining = False
    try:
        while running or (queue and not draining):
            while queue and not draining and len(running) < 2 * workers:
                running.add(pool.submit(run_job, queue.pop()))
            try:
                finished, running = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            except KeyboardInterrupt as e:
                if draining or isinstance(e, Terminated):  # SIGTERM: abandon at once
                    raise
                draining = True
                running = {f for f in running if not f.cancel()}
                say(f"interrupted: finishing the {len(running)} running cells (Ctrl-C again "
                    "to abandon them)")
                continue
            for f in finished:
                done(f.result())  # a cell that raised ends the sweep (cells done are kept)
        if draining:
            raise KeyboardInterrupt
    except (KeyboardInterrupt, Terminated):
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
            batch_seconds: float = 1.0) -> None:
    with ray_session(address, cpus) as ray:
        total_cpus = int(ray.cluster_resources().get("CPU", cpus)) or 1
        ray_cells(ray, jobs, done, say, total_cpus, batch_seconds)


@contextlib.contextmanager
def ray_session(address: str | None, cpus: int) -> Iterator[Any]:
    """Ray, started locally with ``cpus`` CPUs (``address`` None) or joined at
    ``address``, and shut down (its temporary folder removed) at the end."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray: Ray is not installed; install memcglab's Ray extra: "
                          "pip install 'memcglab[ray]' (or run without --ray: the local "
                          "pool)") from None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no telemetry leaves the machine
    # ray.init replaces the SIGTERM handler and does not put it back (measured); memcglab's
    # own (it unwinds the run) is installed again after it.
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    temp: str | None = None
    started = False
    try:
        if address is None:
            # A short folder: Ray's sockets live under it and AF_UNIX paths are at most 107
            # bytes; it is removed at the end (Ray leaves its session logs there).
            temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                     configure_logging=False, object_store_memory=80 << 20, _temp_dir=temp)
        else:
            try:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise ConfigError(f"--ray {address}: cannot join the cluster: {e} (a cluster "
                                  "with token authentication needs RAY_AUTH_MODE=token and "
                                  "its token: docs/sweep.md, \"Executors\")") from None
        started = True
        for s, h in handlers.items():
            signal.signal(s, h)
        yield ray
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
        if started:
            ray.shutdown()
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


def _ray_batch(jobs: list[Job]) -> Any:
    """A Ray generator task: each cell's outcome is yielded (and returned to the driver)
    as soon as it is done."""
    for job in jobs:
        yield run_job(job)


def ray_cells(ray: Any, jobs: Sequence[Job], done: Done, say: Say, cpus: int,
              batch_seconds: float) -> None:
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
        while queue and not draining and len(running) < 2 * cpus:
            batch = next_batch()
            running[task.remote(batch)] = len(batch)
        try:
            ready, _ = ray.wait(list(running), num_returns=1, timeout=None)
        except KeyboardInterrupt as e:
            if draining or isinstance(e, Terminated):
                for g in running:
                    ray.cancel(g, force=True)
                raise
            draining = True
            say(f"interrupted: finishing the {sum(running.values())} cells of the "
                f"{len(running)} running tasks (Ctrl-C again to abandon them)")
            continue
        for gen in ready:
            try:
                out = ray.get(next(gen))
            except StopIteration:
                running.pop(gen, None)
                continue
            walls.append(out.wall_s)
            done(out)
            running[gen] -= 1
            if running[gen] == 0:
                running.pop(gen)
    if draining:
        raise KeyboardInterrupt


__all__ = ["Done", "ray_available", "ray_cells", "ray_session", "run_batch", "run_pool",
           "run_ray", "run_serial"]
