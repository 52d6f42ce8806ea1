"""memcglab: the Linux memory-cgroup reclaim iterator (``mem_cgroup_iter``), modelled,
explored and simulated.

Layers (pure core first, I/O at the edges):

* :mod:`memcglab.model`    - kernel constants and the static shape of a configuration;
* :mod:`memcglab.runtime`  - operations, the machine that applies them, thread programs;
* :mod:`memcglab.kernel`   - kernel-mirror code: cgroup core, iterator variants, vmscan;
* :mod:`memcglab.explore`  - the interleaving explorer (``memcglab check``);
* :mod:`memcglab.report`, :mod:`memcglab.scenario`, :mod:`memcglab.cli` - the shell;
* :mod:`memcglab.grid` - sweeps as work: cells, the results store, local pool and Ray.

From Python: ``memcglab.run(scenario) -> Result`` and ``memcglab.sweep(spec, out)``
(:mod:`memcglab.api`, imported on first use: the command line does not pay for it).
"""

from typing import Any

__version__ = "0.1.0"
_API = ("run", "sweep", "results", "Result", "SweepResult")


def __getattr__(name: str) -> Any:
    if name in _API:
        from memcglab import api

        return getattr(api, name)
    raise AttributeError(f"module 'memcglab' has no attribute {name!r}")
