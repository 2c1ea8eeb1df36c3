"""The one error tree. Each error says what went wrong and how to fix it.

Only `cli.main` turns these into exit codes; library code raises, never exits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One thing wrong with one field of one input file."""

    code: str
    file: Path
    field: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.code} {self.message}\n    fix: {self.fix}"


class IpwhlError(Exception):
    """Base of every error the farm reports to a user."""

    def __init__(self, message: str, *, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}\n    fix: {self.fix}" if self.fix else self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Jobs run in worker processes; keep `fix` when an error crosses back.
        return (_restore, (type(self), self.message, self.fix))


def _restore(cls: type[IpwhlError], message: str, fix: str) -> IpwhlError:
    error = IpwhlError.__new__(cls)
    IpwhlError.__init__(error, message, fix=fix)
    return error


class InputError(IpwhlError):
    """Recipes or platforms are malformed; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (str(p.file), p.field, p.code))
        count = len(self.problems)
        lines = [f"{count} problem{'s' if count != 1 else ''} in the farm's input files:"]
        lines += [str(p) for p in self.problems]
        super().__init__("\n".join(lines))

    def __str__(self) -> str:
        return self.message


class FetchError(IpwhlError):
    """An sdist could not be downloaded."""


class ChecksumMismatch(FetchError):
    """Downloaded bytes are not the bytes the recipe pinned."""


class UnsafeArchive(FetchError):
    """An sdist tries to write outside its own directory."""


class LockError(IpwhlError):
    """The build lock does not cover, or contradicts, a build requirement."""


class InterpreterNotFound(IpwhlError):
    """This machine has no interpreter for a platform."""


class BuildError(IpwhlError):
    """The build backend failed."""


class RepairError(IpwhlError):
    """auditwheel (or delocate, delvewheel) refused the wheel."""


class WheelTestError(IpwhlError):
    """The built wheel did not install or did not pass its recipe's tests."""


class StoreError(IpwhlError):
    """The local store is inconsistent or cannot be written."""


class UnixfsError(IpwhlError):
    """A tree cannot be turned into a UnixFS DAG the way kubo would build it."""


class CarError(IpwhlError):
    """A CAR file is malformed, or its blocks do not match their CIDs."""


class PyPIError(IpwhlError):
    """PyPI has no usable release, or cannot be reached."""


class CurationError(IpwhlError):
    """A recipe cannot be written or updated from upstream as asked."""


class GatewayError(IpwhlError):
    """An IPFS gateway or RPC address is malformed, unreachable, or cannot serve a file."""


class PublishError(IpwhlError):
    """The IPFS node did not take, pin or name the tree; nothing is reported as published."""


class PylockError(IpwhlError):
    """A pylock.toml cannot be made: a project or dependency is not in the tree."""


class CibuildwheelError(BuildError):
    """cibuildwheel could not be configured for, or could not build, a job."""
