"""A least-recently-used cache bounded in bytes, for what is computed from live text and loaded runs.

Caches bounded by a number of entries are unbounded in memory when one entry's size depends on
its input: one introspection of a long review once weighed ~15 MB, so 64 entries could hold a
gigabyte. :class:`ByteLRU` keeps entries until their estimated size (:func:`size_of`) passes a
byte budget, then drops the least recently used ones; an entry larger than the whole budget is
returned but not kept. :func:`text_key` turns a (possibly megabyte-long) text into a short key so
keys do not weigh more than values.

What it is not: a disk cache, a cache shared between processes, or an exact memory meter
(:func:`size_of` estimates the payload: arrays, strings, containers; allocator overhead is not counted).
Values are shared, not copied: callers must not modify what they get back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import threading
import types
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

V = TypeVar("V")
_SHARED = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def text_key(text: str) -> tuple[int, str]:
    """A short, collision-safe key for ``text``: its length and a 128-bit BLAKE2 digest."""
    data = text.encode("utf-8", "surrogatepass")  # a lone surrogate (from a clipboard) must not raise here
    return len(text), hashlib.blake2b(data, digest_size=16).hexdigest()


def size_of(obj: Any) -> int:
    """Estimated bytes held by ``obj`` and everything it references (each object counted once).

    Knows numpy arrays (``nbytes``), torch tensors and modules (their storage), pandas objects
    (``memory_usage(deep=True)``), strings and bytes, containers, dataclasses and plain objects.
    """
    seen: set[int] = set()
    total = 0
    stack = [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        total += _own_size(o, stack)
    return total


def _own_size(o: Any, stack: list[Any]) -> int:
    """The bytes of ``o`` itself; what it references goes onto ``stack``."""
    if isinstance(o, (str, bytes, bytearray, int, float, complex, bool)) or o is None:
        return sys.getsizeof(o)
    mod = type(o).__module__.split(".")[0]
    if mod == "numpy" and hasattr(o, "nbytes"):
        return int(o.nbytes) + 112  # the array header
    if mod == "torch":
        import torch

        if isinstance(o, torch.Tensor):
            return o.element_size() * o.nelement() + 80
        if isinstance(o, torch.nn.Module):
            return sum(t.element_size() * t.nelement() for t in (*o.parameters(), *o.buffers())) + 1000
    if mod == "pandas" and hasattr(o, "memory_usage"):
        usage = o.memory_usage(deep=True)  # a Series of column sizes for a frame, an int for a series
        return int(usage.sum()) if hasattr(usage, "sum") else int(usage)
    if isinstance(o, _SHARED):  # code and modules belong to the program, not to the value
        return 0
    size = sys.getsizeof(o, 64)
    if isinstance(o, dict):
        stack.extend(o.keys())
        stack.extend(o.values())
    elif isinstance(o, (list, tuple, set, frozenset)):
        stack.extend(o)
    if dataclasses.is_dataclass(o):  # by field: vars() would give each instance a dict it may not have had
        stack.extend(getattr(o, f.name, None) for f in dataclasses.fields(o))
    elif hasattr(o, "__dict__"):
        stack.append(vars(o))
    for name in getattr(type(o), "__slots__", ()):
        if hasattr(o, name):
            stack.append(getattr(o, name))
    return size


class ByteLRU:
    """A thread-safe LRU cache that keeps at most ``max_bytes`` of values (estimated by ``sizer``).

    ``get`` / ``put`` / ``get_or_compute``; ``nbytes`` is the estimated size held now. Computing
    happens outside the lock, so two threads asking for the same missing key may both compute it
    (the second result replaces the first): simpler than per-key locks, and harmless for pure results.
    """

    def __init__(self, max_bytes: int, sizer: Callable[[Any], int] = size_of) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self._sizer = sizer
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()  # key -> (value, bytes)
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key][0]

    def put(self, key: Hashable, value: V) -> V:
        """Keep ``value`` under ``key`` (dropping the oldest entries to fit) and return it."""
        size = self._sizer(value) + size_of(key)
        with self._lock:
            if key in self._items:
                self._bytes -= self._items.pop(key)[1]
            if size > self.max_bytes:  # would evict everything and still not fit: hand it back uncached
                return value
            while self._items and self._bytes + size > self.max_bytes:
                self._bytes -= self._items.popitem(last=False)[1][1]
            self._items[key] = (value, size)
            self._bytes += size
        return value

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The cached value of ``key``, or ``compute()`` kept under it (exceptions are not cached)."""
        missing = object()
        value = self.get(key, missing)
        return self.put(key, compute()) if value is missing else value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
