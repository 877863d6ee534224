"""Subgraphs of the exported ONNX graph that belong to an attention site, computed
exactly from tap tensors (no scope-string guessing).

A site's region is every node that is an ancestor of its output tap but not an ancestor
of (nor the producer of) any of its input boundary tensors. The RT-DETR decoder region is
every node downstream of the decoder's query input.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any


class GraphIndex:
    def __init__(self, model: Any) -> None:
        self.nodes = list(model.graph.node)
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = defaultdict(list)
        for i, n in enumerate(self.nodes):
            for o in n.output:
                self.producer[o] = i
            for t in n.input:
                self.consumers[t].append(i)

    def ancestors(self, tensors: list[str]) -> set[int]:
        seen: set[int] = set()
        stack = [self.producer[t] for t in tensors if t in self.producer]
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            stack += [self.producer[t] for t in self.nodes[i].input if t in self.producer]
        return seen

    def descendants(self, tensors: list[str]) -> set[int]:
        seen: set[int] = set()
        stack = [c for t in tensors for c in self.consumers.get(t, [])]
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            stack += [c for t in self.nodes[i].output for c in self.consumers.get(t, [])]
        return seen

    def region(self, output: str, inputs: list[str]) -> set[int]:
        return self.ancestors([output]) - self.ancestors(inputs)

    def names(self, idx: set[int]) -> list[str]:
        return [self.nodes[i].name for i in sorted(idx)]

    def op_types(self, idx: set[int]) -> list[str]:
        return [self.nodes[i].op_type for i in sorted(idx)]
