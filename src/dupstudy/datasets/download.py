"""Fetch an archive with resume and checksum, and read tar archives without extracting them.

A download goes to `<file>.part`; an interrupted one is continued with an HTTP Range
request on the next call. Only once the md5 matches is the `.part` renamed to its final
name, so nothing downstream ever parses bytes that were not verified.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import BadInput

CHUNK = 1 << 20


class DownloadError(BadInput, RuntimeError):
    """The transfer failed; the `.part` file is kept so that the next call resumes it."""


class ChecksumError(BadInput, ValueError):
    """The downloaded bytes do not match the expected md5; the bad file has been deleted."""


class UnsafeArchiveError(BadInput, ValueError):
    """An archive member that must not be read (path escape, link, device...)."""


class CorruptArchiveError(BadInput, ValueError):
    """The archive cannot be read to its end: truncated, corrupt, or not a tar archive."""


def md5sum(path: str | os.PathLike) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def sha256sum(path: str | os.PathLike) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def download(url: str, dest: str | os.PathLike, md5: str, *, retries: int = 0, timeout: float = 60.0,
             progress: bool = True) -> Path:
    """Download `url` to `dest` unless a verified copy is already there; return `dest`.

    A failed transfer is resumed up to `retries` times within this call (and on any later
    call). Raises DownloadError when the transfer cannot be completed, ChecksumError when
    the complete file has the wrong md5 (the file is deleted first).
    """
    dest = Path(dest)
    md5 = md5.lower()
    if dest.exists():
        if md5sum(dest) == md5:
            return dest
        # A complete file with the wrong bytes cannot be resumed: start over.
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            _fetch(url, part, timeout, progress)
            break
        except DownloadError:
            if attempt == retries:
                raise
    actual = md5sum(part)
    if actual != md5:
        part.unlink()
        raise ChecksumError(
            f"{dest.name}: md5 mismatch: expected {md5}, got {actual} (downloaded from {url}). "
            f"The bad download was deleted; run again to download it afresh. If it fails again, "
            f"the file at the URL has changed: check the URL and the expected checksum.")
    os.replace(part, dest)
    return dest


def _fetch(url: str, part: Path, timeout: float, progress: bool) -> None:
    """Append the rest of `url` to `part`, asking only for the bytes not yet there."""
    from tqdm import tqdm

    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:
            return  # the .part is already whole (a previous run died before verifying)
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        raise DownloadError(f"{url}: {err}; run again to retry") from None
    with response:
        if have and response.status != 206:
            have = 0  # the server ignored the Range header and sends everything
        elif have and not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            part.unlink()
            raise DownloadError(f"{url}: server resumed at the wrong offset "
                                f"({response.headers.get('Content-Range')!r}); partial file removed, run again")
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        got = 0
        with open(part, "ab" if have else "wb") as f, tqdm(
                total=have + expected if expected is not None else None, initial=have, unit="B",
                unit_scale=True, unit_divisor=1024, desc=part.name[:-5], disable=not progress) as bar:
            try:
                while block := response.read(CHUNK):
                    f.write(block)
                    got += len(block)
                    bar.update(len(block))
            except (OSError, ValueError) as err:  # reset, timeout, http.client.IncompleteRead
                raise DownloadError(f"{url}: transfer broke off after {have + got} bytes ({err}); "
                                    f"run again to resume") from None
    # http.client returns b'' when the connection closes early instead of raising.
    if expected is not None and got < expected:
        raise DownloadError(f"{url}: transfer ended early: {have + got} of {have + expected} bytes; "
                            f"run again to resume")


def member_problem(member: tarfile.TarInfo) -> str | None:
    """Why `member` must not be read, or None when it is a plain file at a safe path."""
    parts = member.name.replace("\\", "/").split("/")
    if member.name.startswith(("/", "\\")) or ".." in parts:
        return "unsafe path in archive (absolute or contains '..')"
    if not member.isfile():
        kind = "symlink" if member.issym() else "hard link" if member.islnk() else "special file"
        return f"not a regular file ({kind})"
    return None


# tarfile reads a long-name or pax header whole into memory before it returns the member it
# describes; real ones hold a path and a few fields, so anything bigger is an attack on memory.
MAX_HEADER_BYTES = 1 << 20
_HEADER_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
                 tarfile.SOLARIS_XHDTYPE)


class _HeaderRefused(tarfile.TarError):
    pass


class _BoundedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses, before tarfile reads them, extended headers past MAX_HEADER_BYTES
    and GNU sparse members, whose block maps tarfile collects in a list as long as the archive says."""

    def _proc_member(self, tar):
        if self.type in _HEADER_TYPES and self.size > MAX_HEADER_BYTES:
            raise _HeaderRefused(f"extended header of {self.size:,} bytes, past the {mib(MAX_HEADER_BYTES)} cap")
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise _HeaderRefused("GNU sparse member (not supported)")
        return super()._proc_member(tar)

    def _proc_gnusparse_10(self, next, pax_headers, tar):  # noqa: A002 (tarfile's own names)
        raise _HeaderRefused("GNU sparse member (not supported)")


def mib(n: int) -> str:
    """A cap for messages: '64 MiB', or '384 bytes' below one MiB."""
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def iter_tar_members(path: str | os.PathLike, refused: list[tuple[str, str]] | None = None, *,
                     max_bytes: int | None = None, max_members: int | None = None
                     ) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """Yield (name, read) of each regular file in a tar archive, in archive order, never extracted:
    `read()` returns the member's bytes and works until the next member is yielded, so members
    nobody reads are skipped without being held in memory.

    Directories are skipped. A member that is not a plain file at a safe path, or is larger than
    `max_bytes`, raises UnsafeArchiveError or, when a `refused` list is given, is appended to it
    as (name, reason). Past `max_members` members (directories included), the same happens to the
    next one and reading stops there.
    """
    try:
        with tarfile.open(path, "r:*", tarinfo=_BoundedTarInfo) as tar:
            for count, member in enumerate(_members(tar), 1):
                if max_members is not None and count > max_members:
                    _refuse(path, member, f"archive holds more than {max_members:,} members: this one and "
                                          f"the rest were not read", refused)
                    return
                if member.isdir():
                    continue
                problem = member_problem(member)
                if not problem and max_bytes is not None and member.size > max_bytes:
                    problem = f"member expands to {member.size:,} bytes, past the {mib(max_bytes)} cap"
                if problem:
                    _refuse(path, member, problem, refused)
                    continue
                yield member.name, lambda member=member: _read(path, tar, member)
            # Read past the end-of-archive blocks to the end of the stream, so a compressed
            # archive cut short after its last member still fails its length and CRC check.
            while tar.fileobj.read(1 << 20):
                pass
    except _HeaderRefused as err:
        raise UnsafeArchiveError(f"{path}: refusing the archive: {err}") from None
    except _READ_ERRORS as err:
        raise _corrupt(path, err) from err


def iter_tar_files(path: str | os.PathLike, refused: list[tuple[str, str]] | None = None, *,
                   max_bytes: int | None = None) -> Iterator[tuple[str, bytes]]:
    """Yield (name, bytes) of each regular file, as iter_tar_members does."""
    for name, read in iter_tar_members(path, refused, max_bytes=max_bytes):
        yield name, read()


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Each member in turn, without the list of all members read so far that tarfile keeps
    (it grows with the archive, and nothing here looks members up by name)."""
    while (member := tar.next()) is not None:
        tar.members.clear()
        yield member


def _refuse(path, member: tarfile.TarInfo, problem: str, refused: list | None) -> None:
    if refused is None:
        raise UnsafeArchiveError(f"{path}: refusing member {member.name!r}: {problem}")
    refused.append((member.name, problem))


def _read(path, tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    try:
        f = tar.extractfile(member)
        return f.read() if f is not None else b""
    except _READ_ERRORS as err:
        raise _corrupt(path, err) from err


_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)  # gzip/bz2/lzma errors are OSError/EOFError


def _corrupt(path, err: Exception) -> CorruptArchiveError:
    return CorruptArchiveError(f"{path}: truncated or corrupt archive ({type(err).__name__}: {err}); "
                               f"nothing was written: fetch or build the archive again")
