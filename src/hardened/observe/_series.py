"""A hard series budget per metric: cached label children, overflow to one bucket and a counter."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

__all__ = ["BoundedChildren"]

C = TypeVar("C")


class BoundedChildren(Generic[C]):
    """Label children of one metric, at most `budget` of them; the rest share the overflow child.

    A known label set costs one dict lookup. A new one past the budget is not remembered (so
    memory stays bounded too): it is counted in `overflowed` and observed on `overflow_labels`.
    """

    __slots__ = (
        "_budget",
        "_children",
        "_metric",
        "_overflow",
        "_overflow_counter",
        "name",
        "overflowed",
    )

    def __init__(self, metric: Any, name: str, budget: int, overflow_counter: Any) -> None:
        self._metric = metric
        self.name = name
        self._budget = budget
        self._children: dict[tuple[str, ...], C] = {}
        self._overflow: dict[tuple[str, ...], C] = {}
        self._overflow_counter = overflow_counter.labels(name)
        self.overflowed = 0

    def __len__(self) -> int:
        return len(self._children) + len(self._overflow)

    def __contains__(self, labels: object) -> bool:
        """Whether `labels` has its own child (within the budget)."""
        return labels in self._children

    def child(self, labels: tuple[str, ...], overflow_labels: tuple[str, ...]) -> C:
        """The child for `labels`, or the overflow child once the budget is spent."""
        found = self._children.get(labels)
        if found is not None:
            return found
        if len(self._children) < self._budget:
            created: C = self._metric.labels(*labels)
            self._children[labels] = created
            return created
        self._overflow_counter.inc()
        self.overflowed += 1
        overflow = self._overflow.get(overflow_labels)
        if overflow is None:
            overflow = self._metric.labels(*overflow_labels)
            self._overflow[overflow_labels] = overflow
        return overflow
