"""Execution machinery: operations, the machine that applies them, thread programs.

Model code is written as generators that *yield* every shared-memory access as an
:class:`~memcglab.runtime.ops.Op`; the machine performs it and sends back the result. So
every access is an interleaving point a scheduler can use, and model code never touches
shared state directly.
"""
