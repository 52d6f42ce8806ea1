"""The command line: ``memcglab check`` and ``memcglab demo``."""
