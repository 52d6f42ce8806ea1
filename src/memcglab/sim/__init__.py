"""The reclaim simulator behind ``memcglab run``: pages, LRU lists, workloads, time.

It drives the same kernel-mirror generators as ``memcglab check``; a scheduler picks one
interleaving instead of exploring them all.
"""
