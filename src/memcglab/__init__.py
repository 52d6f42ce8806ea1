"""memcglab: the Linux memory-cgroup reclaim iterator (``mem_cgroup_iter``), modelled,
explored and simulated.

Layers (pure core first, I/O at the edges):

* :mod:`memcglab.model`    - kernel constants and the static shape of a configuration;
* :mod:`memcglab.runtime`  - operations, the machine that applies them, thread programs;
* :mod:`memcglab.kernel`   - kernel-mirror code: cgroup core, iterator variants, vmscan;
* :mod:`memcglab.explore`  - the interleaving explorer (``memcglab check``);
* :mod:`memcglab.report`, :mod:`memcglab.scenario`, :mod:`memcglab.cli` - the shell.
"""

__version__ = "0.1.0"
