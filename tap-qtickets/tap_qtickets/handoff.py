"""Parent → child hand-over through the SDK's child context, in batches.

`shows`, `inventory` (children of `events`) and `sales` (child of `orders`) are fed from their parent's
payload: the parent collects what its children need from each record and passes a batch of it in one child
context (`generate_child_contexts`), not one context per record — each child sync costs a SCHEMA message, a
STATE message and log lines, which used to be most of a run with many events. The child takes the payload
out of the context in `preprocess_context` (the SDK's hook for dropping large parent payloads), before the
SDK freezes the context and writes it into its log lines and metrics; only the batch number stays.
"""

from __future__ import annotations

import typing as t

from singer_sdk.streams import Stream

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from singer_sdk.helpers.types import Context

PAYLOAD_KEY = "payload"
BATCH_KEY = "batch"


class Handover:
    """Parent side: items pile up per record and leave in one context per batch (or at the last record)."""

    def __init__(self, batch_weight: int) -> None:
        self.batch_weight = batch_weight
        self.items: list[t.Any] = []
        self.weight = 0
        self.batches = 0
        self.at_last_record = False

    def add(self, item: t.Any, weight: int = 1) -> None:
        self.items.append(item)
        self.weight += weight

    def contexts(self) -> tuple[dict, ...]:
        """Zero or one child context for the record being processed."""
        if not self.items or (not self.at_last_record and self.weight < self.batch_weight):
            return ()
        self.batches += 1
        items, self.items, self.weight = self.items, [], 0
        return ({BATCH_KEY: self.batches, PAYLOAD_KEY: items},)

    def marking_the_last(self, records: Iterable[dict]) -> Iterator[dict]:
        """`records` with `at_last_record` set while the last one is processed (one-record look-ahead), so
        the last batch leaves with it. The parent must not drop records in `post_process`."""
        self.at_last_record = False
        previous = None
        for record in records:
            if previous is not None:
                yield previous
            previous = record
        if previous is not None:
            self.at_last_record = True
            yield previous
        self.at_last_record = False


class HandedOver(Stream):
    """Child side: the batch handed over in the context, available as `self.handed` during its sync."""

    state_partitioning_keys: t.ClassVar[list[str]] = []  # one state for the stream, not one per batch

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.handed: list[t.Any] = []

    def preprocess_context(self, context: Context) -> Context:
        self.handed = list(context.get(PAYLOAD_KEY) or ())
        return {key: value for key, value in context.items() if key != PAYLOAD_KEY}

    def take_handed(self) -> list[t.Any]:
        handed, self.handed = self.handed, []
        return handed


def handed_context(items: Iterable[t.Any], batch: int = 1) -> Mapping[str, t.Any]:
    """The context a parent would pass (tests, and syncing a child on its own)."""
    return {BATCH_KEY: batch, PAYLOAD_KEY: list(items)}
