"""The one error tree. Each error says what went wrong and how to fix it.

Only `cli.main` turns these into exit codes (each class names its own, by what a
caller can do about it); library code raises, never exits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """`ipwhl`'s exit codes; the README lists them."""

    OK = 0
    FAILED = 1  # the work ran and some of it failed: a job, a gate, a verification
    INPUT = 2  # recipes, platforms, locks, arguments or a tree's inputs are wrong
    NETWORK = 3  # a download, PyPI, a gateway or an IPFS node failed or refused
    INTEGRITY = 4  # bytes are not what they claim: a store blob, a tree, a CAR, an sdist
    ENVIRONMENT = 5  # this machine lacks something: an interpreter, a tool, a package
    BUG = 70  # the farm contradicted itself (EX_SOFTWARE): report it


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

    exit_code = ExitCode.FAILED

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

    exit_code = ExitCode.INPUT

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

    exit_code = ExitCode.NETWORK


class ChecksumMismatch(FetchError):
    """Downloaded bytes are not the bytes the recipe pinned."""

    exit_code = ExitCode.INTEGRITY


class UnsafeArchive(FetchError):
    """An sdist tries to write outside its own directory."""

    exit_code = ExitCode.INTEGRITY


class LockError(IpwhlError):
    """The build lock does not cover, or contradicts, a build requirement."""

    exit_code = ExitCode.INPUT


class InterpreterNotFound(IpwhlError):
    """This machine has no interpreter for a platform."""

    exit_code = ExitCode.ENVIRONMENT


class BuildError(IpwhlError):
    """The build backend failed."""

    exit_code = ExitCode.FAILED


class RepairError(IpwhlError):
    """auditwheel (or delocate, delvewheel) refused the wheel."""

    exit_code = ExitCode.FAILED


class WheelTestError(IpwhlError):
    """The built wheel did not install or did not pass its recipe's tests."""

    exit_code = ExitCode.FAILED


class StoreError(IpwhlError):
    """The local store is inconsistent or cannot be written."""

    exit_code = ExitCode.INTEGRITY


class UnixfsError(IpwhlError):
    """A tree cannot be turned into a UnixFS DAG the way kubo would build it."""

    exit_code = ExitCode.INPUT


class CarError(IpwhlError):
    """A CAR file is malformed, or its blocks do not match their CIDs."""

    exit_code = ExitCode.INTEGRITY


class PyPIError(IpwhlError):
    """PyPI has no usable release, or cannot be reached."""

    exit_code = ExitCode.NETWORK


class CurationError(IpwhlError):
    """A recipe cannot be written or updated from upstream as asked."""

    exit_code = ExitCode.INPUT


class GatewayError(IpwhlError):
    """An IPFS gateway or RPC address is malformed, unreachable, or cannot serve a file."""

    exit_code = ExitCode.NETWORK


class PublishError(IpwhlError):
    """The IPFS node did not take, pin or name the tree; nothing is reported as published."""

    exit_code = ExitCode.NETWORK


class PylockError(IpwhlError):
    """A pylock.toml cannot be made: a project or dependency is not in the tree."""

    exit_code = ExitCode.INPUT


class CibuildwheelError(BuildError):
    """cibuildwheel could not be configured for, or could not build, a job."""

    exit_code = ExitCode.FAILED


class DataError(IpwhlError):
    """A data file of the farm (builder/data/*.toml) is malformed."""

    exit_code = ExitCode.INPUT


class SystemPackagesMissing(IpwhlError):
    """Debian packages a recipe needs are not installed on this machine."""

    exit_code = ExitCode.ENVIRONMENT


class AssembleError(IpwhlError):
    """The collection cannot be laid out as one consistent tree."""

    exit_code = ExitCode.INPUT


class TamperedError(IpwhlError):
    """A file of the tree is not the file its manifest names."""

    exit_code = ExitCode.INTEGRITY


class UnpackError(IpwhlError):
    """The blocks do not form a complete UnixFS tree."""

    exit_code = ExitCode.INTEGRITY


class MetadataError(IpwhlError):
    """A wheel has no readable METADATA, or more than one."""

    exit_code = ExitCode.INTEGRITY


class ScheduleError(IpwhlError):
    """The executor told the schedule something impossible: a bug in the farm."""

    exit_code = ExitCode.BUG

    def __init__(self, message: str) -> None:
        super().__init__(message, fix="this is a bug in the farm; report it with the output")


class SdistError(IpwhlError):
    """An sdist is not what its recipe says: unreadable, malformed, or another project's."""

    exit_code = ExitCode.INPUT


class SandboxError(IpwhlError):
    """No sandbox can be made here, and builds do not run without one unless told to."""

    exit_code = ExitCode.ENVIRONMENT


class BuildRootError(IpwhlError):
    """The build root is not this user's own: another user could plant links in it."""

    exit_code = ExitCode.ENVIRONMENT
