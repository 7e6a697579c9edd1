"""Confirming that a committed checkpoint's offsets are readable (private helper of
:mod:`connectors.runtime`).

Recovery trusts the group's committed offsets: the committed offset of a partition's
checkpoint-topic partition (the pointer) names its committed snapshot, and the committed
source offset says where to continue. On Apache Kafka the offsets of a transaction become
readable when it commits: an ``OffsetFetch`` with ``require_stable`` (what librdkafka sends
for ``read_committed`` consumers) waits while a transaction's offsets are still pending.

The embedded test broker (Tansu 0.6, ``memory://`` storage) does not behave so; probed with
confluent-kafka 2.16 (``docs/kafka.md``, "Offsets of a committed transaction"):

1. ``EndTxn`` (commit) writes the COMMIT markers at once, so the transaction's records are
   committed, and answers success; but when another producer's transaction that wrote to one
   of the same partitions (e.g. a shared output partition) before is still open, the
   transaction's offsets (``TxnOffsetCommit``) are only *pending*. They are applied when a
   later ``EndTxn`` of an overlapping transaction finds no open one left. Until then
   ``committed()`` returns the previous offsets, and ``require_stable`` is ignored.
2. A producer's next transaction continues the pending one (the broker keeps one record per
   producer epoch): when that transaction is aborted, by ``abort_transaction`` or by
   ``init_transactions`` of the restarted worker (the transaction a SIGKILLed worker left
   open), the pending offsets are dropped for good, although the records they belong to
   stay committed.

A worker killed inside the transaction after such a commit thus left committed output whose
checkpoint pointer was lost; its successor restored the previous checkpoint (or none) and
produced that output a second time. The remedy uses only standard client calls: after every
commit the worker reads the committed offsets back and does not begin another transaction
until they are readable. A pending transaction is never continued, so nothing can drop its
offsets; the open transaction that holds it back ends at its owner's next checkpoint (or when
a dead owner's successor calls ``init_transactions``), which applies both. On Apache Kafka
the first read returns the committed values: one ``OffsetFetch`` per checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from connectors.errors import KafkaJobError

TP = tuple[str, int]

#: Seconds to wait for a committed transaction's offsets before the worker stops.
CONFIRM_TIMEOUT = 120.0


def wait_readable(committed: Callable[[list[TP]], dict[TP, int]], expected: Mapping[TP, int],
                  timeout: float = CONFIRM_TIMEOUT) -> float:
    """Block until the group's committed offsets reach the ones a transaction committed.

    Parameters
    ----------
    committed : callable
        Reads the group's committed offsets of a list of partitions (-1 for none), e.g.
        :meth:`connectors.kafka_source.KafkaSource.committed`.
    expected : mapping of (topic, partition) to int
        The offsets the transaction committed. A larger committed offset also counts (a
        later commit of the same partition).
    timeout : float
        Seconds to wait at most.

    Returns
    -------
    float
        Seconds waited: 0.0 when the first read already returned the committed offsets.

    Raises
    ------
    KafkaJobError
        If the offsets are not readable after ``timeout`` seconds (the transaction that
        holds them back belongs to a worker that died and was not restarted).
    """
    if not expected:
        return 0.0
    tps = list(expected)
    start = time.monotonic()
    delay = 0.0
    while True:
        now = committed(tps)
        behind = {tp: (now[tp], off) for tp, off in expected.items() if now[tp] < off}
        if not behind:
            return time.monotonic() - start if delay else 0.0
        if time.monotonic() - start > timeout:
            raise KafkaJobError(
                f"the offsets of a committed checkpoint are still not readable after "
                f"{timeout:.0f} s ((read, committed): {behind}); the broker holds them back "
                "behind another producer's open transaction (see docs/kafka.md)")
        delay = min(delay * 2 or 0.005, 0.1)
        time.sleep(delay)
