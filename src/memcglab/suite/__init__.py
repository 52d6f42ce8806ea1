"""The race suite: the real bugs of ``mem_cgroup_iter()`` from 2012 to 2024, each as a
"before" and an "after" configuration of the explorer (``memcglab suite``)."""
