"""Kernel-mirror code of the v3.10-v3.18 era: the seed series as it landed (the cached
pointer of 542f85f9ae4a, then the dead_count iterator of 5f5781619718), the cgroup core
those iterators ran on, and the reclaim callers that walk until ``nr_to_reclaim``.
"""
