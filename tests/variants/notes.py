"""A walk that never reaches an interleaving point: it only ever yields notes."""

from memcglab.kernel.iter_css_id import CssIdIter
from memcglab.runtime.ops import note


class NotesForever(CssIdIter):
    name = "notes-forever"

    def mem_cgroup_iter(self, root, prev, reclaim):
        while True:
            yield note("spin")
