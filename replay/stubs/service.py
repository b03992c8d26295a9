"""What the fakes refuse: everything that needs the ML service itself.

Management operations (workspaces, compute targets, registering, submitting) do not
belong inside a step; on the cloud they fail there with `401 InvalidOrExpiredToken`.
During a replay they fail at once with `NotAvailable`, which says what to do instead.
Names the fakes do not know are served as placeholders that fail the same way when
used, so `from azureml.core.authentication import X` does not break a step that never
uses X. Placeholders named like exceptions are exception classes, so `except X:` works.
"""

from __future__ import annotations

from typing import Any, NoReturn, TypeVar

from replay.errors import ReplayError

ADVICE = (
    "management operations (workspaces, compute targets, registering models or datasets, "
    "submitting runs) need the ML service: do them from the submitting client, not inside a step; "
    "for other upstream calls, declare a boundary (@replay.boundary or [tool.replay] boundaries) "
    "so the capture records them"
)


S = TypeVar("S", bound="ServiceObject")


class NotAvailable(ReplayError):
    """A platform call that needs the ML service was made during a replay or local run."""


class AzureMLException(Exception):
    """Base of the SDK's exceptions (`azureml.exceptions`)."""


class UserErrorException(AzureMLException):
    """The SDK's error for a bad request (an unknown dataset name)."""


def refuse(what: str) -> NoReturn:
    from replay.stubs.platform import where

    raise NotAvailable(f"{what} is not available {where()}: {ADVICE}")


class _ServiceMeta(type):
    """Class attributes a fake does not define are service calls: refuse them when used."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Refused(f"{cls.__name__}.{name}")


class _Refused:
    """An SDK attribute the fakes lack: calling it, or going further
    (`Dataset.Tabular.from_delimited_files(...)`), refuses with its full name."""

    def __init__(self, what: str) -> None:
        self._what = what

    def __call__(self, *args: object, **kwargs: object) -> NoReturn:
        refuse(self._what)

    def __getattr__(self, name: str) -> _Refused:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Refused(f"{self._what}.{name}")

    def __repr__(self) -> str:
        return f"<{self._what}: not available during replay>"


class ServiceObject(metaclass=_ServiceMeta):
    """Base of the fakes: constructing one from user code, and any attribute the fake
    does not define, is a service call. Fakes build instances with `_make`."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        refuse(f"{type(self).__name__}(...)")

    @classmethod
    def _make(cls: type[S], **attrs: Any) -> S:
        obj = object.__new__(cls)
        obj.__dict__.update(attrs)
        return obj

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        refuse(f"{type(self).__name__}.{name}")


class Workspace(ServiceObject):
    """`run.experiment.workspace` works (it carries the name); everything else refuses."""

    name: str | None

    def __repr__(self) -> str:
        return f"Workspace(name={self.name!r})"


class ComputeTarget(ServiceObject):
    pass


def placeholder(qualified: str) -> type:
    """A stand-in for an SDK name the fakes do not provide."""
    short = qualified.rpartition(".")[2]
    if short.endswith(("Exception", "Error")):
        return type(short, (AzureMLException,), {"__module__": qualified.rpartition(".")[0]})
    return _ServiceMeta(short, (ServiceObject,), {"__module__": qualified.rpartition(".")[0]})
