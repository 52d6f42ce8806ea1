"""The interleaving explorer behind ``memcglab check``.

:mod:`.config` (what to check), :mod:`.system` (the system: threads, steps, states),
:mod:`.visibility` (which operations need to be interleaving points), :mod:`.search`
(strategies: exhaustive, random, PCT, replay), :mod:`.races` (naming known races),
:mod:`.schedule` (replayable schedules), :mod:`.result` (what a check returns).
"""
