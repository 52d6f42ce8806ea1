"""``struct page_counter`` and its functions, from mm/page_counter.c of Linux v6.18.

Read in a v6.18.y tree (6952350/linux-6.18.y @ f3fce0151d48, v6.18.19; docs/research/
v6-reclaim.md section 2, lines [PC] there). Modelled, in pages:

* ``page_counter_try_charge()``: charge every level from the counter up; the first level whose
  new usage exceeds ``max`` fails (``new > c->max``: usage may reach max exactly), every level
  charged so far is cancelled, and the failing counter is returned;
* ``page_counter_charge()`` (the ``force`` path), ``page_counter_cancel()``,
  ``page_counter_uncharge()``;
* ``propagate_protected_usage()``: ``min_usage`` / ``low_usage`` and the parent's
  ``children_min_usage`` / ``children_low_usage``, on every charge and uncharge;
* ``effective_protection()`` and ``page_counter_calculate_protection()``: the effective
  ``emin`` / ``elow`` written top-down during a reclaim walk, in the kernel's unsigned integer
  arithmetic (multiply before divide, floors).

The charge is atomic per level in the kernel (``atomic_long_add_return``); here a whole
charge runs in one step of the simulation (a racing charger never sees a half-charged chain),
a simplification of the speculative overshoot the kernel's comment describes.
"""

from __future__ import annotations

PAGE_COUNTER_MAX = 1 << 62  # LONG_MAX / PAGE_SIZE: "max" unset


class PageCounter:
    """The fields of ``struct page_counter`` ([PCH]:10-43) that memory reclaim reads."""

    __slots__ = ("children_low_usage", "children_min_usage", "elow", "emin", "high", "low",
                 "low_usage", "max", "min", "min_usage", "parent", "protection_support",
                 "usage", "watermark")

    def __init__(self, parent: PageCounter | None, protection_support: bool) -> None:
        self.usage = 0
        self.emin = self.min_usage = self.children_min_usage = 0
        self.elow = self.low_usage = self.children_low_usage = 0
        self.watermark = 0
        self.min = self.low = 0
        self.high = self.max = PAGE_COUNTER_MAX
        self.parent = parent
        self.protection_support = protection_support


def page_counter_read(counter: PageCounter) -> int:
    """include/linux/page_counter.h: ``atomic_long_read(&counter->usage)``."""
    return counter.usage


def propagate_protected_usage(c: PageCounter, usage: int) -> None:
    if not c.protection_support:
        return
    parent = c.parent
    if parent is None:
        return
    protected = min(usage, c.min)
    if protected != c.min_usage:
        parent.children_min_usage += protected - c.min_usage
        c.min_usage = protected
    protected = min(usage, c.low)
    if protected != c.low_usage:
        parent.children_low_usage += protected - c.low_usage
        c.low_usage = protected


def page_counter_cancel(counter: PageCounter, nr_pages: int) -> None:
    new = counter.usage - nr_pages
    # More uncharges than charges? The kernel warns and clamps to 0.
    if new < 0:
        new = 0
    counter.usage = new
    propagate_protected_usage(counter, new)


def page_counter_charge(counter: PageCounter, nr_pages: int) -> None:
    """Charge every level without a limit test (try_charge_memcg's ``force:`` path)."""
    c: PageCounter | None = counter
    while c is not None:
        new = c.usage + nr_pages
        c.usage = new
        propagate_protected_usage(c, new)
        if new > c.watermark:
            c.watermark = new
        c = c.parent


def page_counter_try_charge(counter: PageCounter, nr_pages: int) -> PageCounter | None:
    """Returns None when charged, else the counter that would exceed its ``max``."""
    c: PageCounter | None = counter
    while c is not None:
        new = c.usage + nr_pages
        if new > c.max:
            # Undo this level and every level below it that was charged.
            x: PageCounter | None = counter
            while x is not c:
                assert x is not None
                page_counter_cancel(x, nr_pages)
                x = x.parent
            return c
        c.usage = new
        propagate_protected_usage(c, new)
        if new > c.watermark:
            c.watermark = new
        c = c.parent
    return None


def page_counter_uncharge(counter: PageCounter, nr_pages: int) -> None:
    c: PageCounter | None = counter
    while c is not None:
        page_counter_cancel(c, nr_pages)
        c = c.parent


def _propagate_up(counter: PageCounter) -> None:
    """``for (c = counter; c; c = c->parent) propagate_protected_usage(c, usage)``, the loop
    both setters end with."""
    c: PageCounter | None = counter
    while c is not None:
        propagate_protected_usage(c, c.usage)
        c = c.parent


def page_counter_set_min(counter: PageCounter, nr_pages: int) -> None:
    counter.min = nr_pages
    _propagate_up(counter)


def page_counter_set_low(counter: PageCounter, nr_pages: int) -> None:
    counter.low = nr_pages
    _propagate_up(counter)


def effective_protection(usage: int, parent_usage: int, setting: int,
                         parent_effective: int, siblings_protected: int,
                         recursive_protection: bool) -> int:
    """[PC]:337-410: a child's share of its parent's effective protection."""
    protected = min(usage, setting)
    # If the children claim more than the parent has, distribute it in proportion to each
    # child's protected usage.
    if siblings_protected > parent_effective:
        return protected * parent_effective // siblings_protected
    ep = protected
    # memory_recursiveprot: the unclaimed part of the parent's protection goes to the
    # children in proportion to their unprotected usage.
    if (recursive_protection and parent_effective > siblings_protected
            and parent_usage > siblings_protected and usage > protected):
        unclaimed = parent_effective - siblings_protected
        unclaimed *= usage - protected
        unclaimed //= parent_usage - siblings_protected
        ep += unclaimed
    return ep


def page_counter_calculate_protection(root: PageCounter, counter: PageCounter,
                                      recursive_protection: bool) -> None:
    """[PC]:424-464. "This function is not stateless! It can only be used as part of a
    top-down tree iteration": the parent's emin/elow are what the last walk wrote."""
    if root is counter:
        return  # the reclaim target's own values are left alone
    usage = counter.usage
    if not usage:
        return  # an empty counter keeps its old emin / elow
    parent = counter.parent
    assert parent is not None
    if parent is root:
        counter.emin = counter.min
        counter.elow = counter.low
        return
    parent_usage = parent.usage
    counter.emin = effective_protection(usage, parent_usage, counter.min, parent.emin,
                                        parent.children_min_usage, recursive_protection)
    counter.elow = effective_protection(usage, parent_usage, counter.low, parent.elow,
                                        parent.children_low_usage, recursive_protection)
