"""Per-partition fencing of checkpoint commits (private helper of :mod:`connectors.runtime`).

Apache Kafka fences a worker that still believes it owns a partition after the group gave it
to another worker: ``send_offsets_to_transaction`` carries the consumer-group generation and
the coordinator rejects a stale one (KIP-447), so the stale worker's transaction aborts. The
embedded test broker does not check the generation, and it completes a rebalance without a
member that is still busy in a rebalance callback, so two workers can briefly process and
commit the same partition there (``docs/kafka.md``, "Fencing per partition").

The safeguard uses only standard offset commits: every committed checkpoint of a partition
moves the group's committed offset on the partition's checkpoint-topic partition (the
pointer) to a new value, and only that partition's owner writes it. A worker remembers the
pointer it restored the partition from or last committed itself; right before committing a
transaction it reads the committed pointers of the partitions in it. A pointer that moved
forward means another worker committed the partition in between: the transaction is aborted
and the partition is *yielded* (dropped without a commit). It is taken up again, restored from the
then committed checkpoint, after the next rebalance callback of this worker (the broker has
settled the ownership by then) or after ``reclaim_after`` seconds. On Apache Kafka the check
never fires in normal operation (stale commits are rejected by the broker first).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from connectors.checkpoint import CheckpointTopic

TP = tuple[str, int]


class PartitionFence:
    """Committed checkpoint pointers of the owned partitions, and the yielded partitions.

    Parameters
    ----------
    ckpt : CheckpointTopic
        Maps input partitions to checkpoint-topic partitions.
    reclaim_after : float
        Seconds after which a yielded partition that is still assigned is taken up again
        even without a rebalance.
    """

    def __init__(self, ckpt: CheckpointTopic, reclaim_after: float = 10.0) -> None:
        self.ckpt = ckpt
        self.reclaim_after = reclaim_after
        self.pointers: dict[TP, int] = {}
        self.yielded: dict[TP, float] = {}
        #: set by the rebalance callbacks; yielded partitions are reclaimed after one
        self.rebalanced = False

    def remember(self, tp: TP, pointer: int) -> None:
        """``tp`` was restored from, or committed with, checkpoint pointer ``pointer``
        (``-1``: no checkpoint)."""
        self.pointers[tp] = pointer
        self.yielded.pop(tp, None)

    def forget(self, tps: Iterable[TP]) -> None:
        """The partitions left this worker (revoked or lost)."""
        for tp in tps:
            self.pointers.pop(tp, None)
            self.yielded.pop(tp, None)
        self.rebalanced = True

    def moved(self, committed: Callable[[list[TP]], dict[TP, int]],
              tps: Sequence[TP]) -> list[TP]:
        """The partitions among ``tps`` whose committed pointer moved past the remembered one
        (``committed``: reads the group's committed offsets, -1 for none).

        Only a pointer *beyond* the remembered one means another writer: its snapshot was
        appended to the same checkpoint partition after the one this worker committed. A
        pointer *behind* it is the test broker applying a transaction's offsets late (see
        ``connectors/_confirm.py``); this worker's commit then simply puts the pointer back.
        """
        ck = {tp: (self.ckpt.name, self.ckpt.index(*tp)) for tp in tps}
        now = committed(list(ck.values()))
        return [tp for tp in tps if now[ck[tp]] > self.pointers.get(tp, now[ck[tp]])]

    def yield_(self, tps: Iterable[TP]) -> None:
        """Give up ``tps`` until :meth:`due` returns them."""
        t = time.monotonic()
        for tp in tps:
            self.pointers.pop(tp, None)
            self.yielded[tp] = t
        self.rebalanced = False

    def due(self, assigned: set[TP]) -> list[TP]:
        """Yielded partitions to take up again now: still assigned, and a rebalance callback
        ran since they were yielded or ``reclaim_after`` seconds passed."""
        for tp in [tp for tp in self.yielded if tp not in assigned]:
            del self.yielded[tp]
        if not self.yielded:
            return []
        limit = time.monotonic() - self.reclaim_after
        out = [tp for tp, t in self.yielded.items() if self.rebalanced or t <= limit]
        for tp in out:
            del self.yielded[tp]
        if not self.yielded:
            self.rebalanced = False
        return out
