"""A registry of named entries (model families, runtime plug-ins) with a stack of active
registries, so that a test can work on a copy (:meth:`Stack.using`) without touching the one
the package uses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, Protocol, TypeVar

from .errors import UsageError

T = TypeVar("T")
R = TypeVar("R", bound="Registry[Any]")


class Registry(Generic[T]):
    """Entries by their ``name``, in registration order. Subclasses name what they hold
    (``kind``) and add their own checks in :meth:`check`."""

    kind = "entry"

    def __init__(self, entries: dict[str, T] | None = None) -> None:
        self._entries: dict[str, T] = dict(entries or {})

    def copy(self: R) -> R:
        return type(self)(self._entries)

    def check(self, entry: T) -> None:
        """Raise ValueError when ``entry`` clashes with a registered one."""

    def register(self, entry: T) -> T:
        name = entry.name  # type: ignore[attr-defined]
        if name in self._entries and self._entries[name] is not entry:
            raise ValueError(f"{self.kind} {name!r} is registered already")
        self.check(entry)
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        return list(self._entries)

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._entries.values()))

    def get(self, name: str, *, what: str | None = None) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UsageError(f"unknown {what or self.kind} {name!r} (known: "
                             f"{', '.join(self._entries) or 'none'})") from None


class Stack(Generic[R]):
    """The active registry: the package's own, or a copy pushed by :meth:`using`."""

    def __init__(self, base: R) -> None:
        self.base = base
        self._active: list[R] = [base]

    def current(self) -> R:
        return self._active[-1]

    @contextmanager
    def using(self, registry: R) -> Iterator[R]:
        """Make ``registry`` the one every lookup consults, for the ``with`` block (tests)."""
        self._active.append(registry)
        try:
            yield registry
        finally:
            self._active.remove(registry)


class Late(Generic[T]):
    """A provider a higher layer installs, so that a lower one can consult it at run time
    without importing upward (the contract asks the runtime registry for names this way:
    the arrow of the import graph stays pointing down)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._provider: Callable[[], T] | None = None

    def install(self, provider: Callable[[], T]) -> None:
        self._provider = provider

    def __call__(self) -> T:
        if self._provider is None:
            raise RuntimeError(f"no {self.what} is installed (edgekit/__init__.py installs it)")
        return self._provider()


class RuntimeCatalog(Protocol):
    """What the contract layer needs from the runtime registry (edgekit.runtimes)."""

    def runtime_names(self, *, deployable: bool | None = None) -> list[str]: ...

    def get_runtime(self, name: str) -> Any: ...


#: the runtime registry, as the contract (bundle, profiles) sees it; installed by the package
RUNTIMES: Late[RuntimeCatalog] = Late("runtime registry")
