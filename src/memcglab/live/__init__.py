"""The live kernel side of memcglab (issue 7): what this machine offers for recording real
memcg reclaim. Only ``probe`` exists so far: it reads files and changes nothing."""
