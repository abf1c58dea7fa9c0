"""File facts: existence, softlinks, size, mtime and a short content hash, never raising."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from dataclasses import dataclass

HASH_FULL_LIMIT = 64 * 1024 * 1024  # hash whole files up to this size; sample bigger ones


@dataclass(frozen=True)
class FileFacts:
    path: str
    exists: bool
    is_link: bool = False
    link_target: str | None = None  # readlink() text, as written in the link
    real_path: str | None = None
    broken_link: bool = False
    is_file: bool = False
    is_dir: bool = False
    size: int | None = None
    mtime: float | None = None
    short_hash: str | None = None
    error: str | None = None  # permission denied and friends, already phrased for a user

    @property
    def mtime_text(self) -> str:
        if self.mtime is None:
            return "?"
        return _dt.datetime.fromtimestamp(self.mtime).strftime("%Y-%m-%d %H:%M:%S")

    def describe(self) -> str:
        if self.error:
            return self.error
        if self.broken_link:
            return f"broken softlink -> {self.link_target}"
        if not self.exists:
            return "missing"
        parts = []
        if self.is_link:
            parts.append(f"-> {self.link_target}")
        if self.size is not None:
            parts.append(human_size(self.size))
        parts.append(self.mtime_text)
        if self.short_hash:
            parts.append(f"sha256:{self.short_hash}")
        return ", ".join(parts)


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def short_hash(path: str, size: int | None = None) -> str | None:
    """sha256 prefix of the content; files over 64 MiB hash head+tail+size (marked with '~')."""
    try:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            if size is not None and size > HASH_FULL_LIMIT:
                h.update(f.read(1 << 20))
                f.seek(max(0, size - (1 << 20)))
                h.update(f.read(1 << 20))
                h.update(str(size).encode())
                return "~" + h.hexdigest()[:11]
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()[:12]
    except OSError:
        return None


def file_facts(path: str, *, want_hash: bool = True) -> FileFacts:
    """Everything a check wants to say about one path; errors become text, never exceptions."""
    try:
        st_l = os.lstat(path)
    except FileNotFoundError:
        return FileFacts(path, exists=False)
    except PermissionError:
        return FileFacts(path, exists=False, error=f"permission denied: {path}")
    except OSError as exc:
        return FileFacts(path, exists=False, error=f"{path}: {exc.strerror or exc}")
    is_link = os.path.islink(path)
    target = None
    if is_link:
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return FileFacts(path, exists=False, is_link=True, link_target=target, broken_link=True)
    except PermissionError:
        return FileFacts(path, exists=True, is_link=is_link, link_target=target,
                         error=f"permission denied: {path}")
    except OSError as exc:
        return FileFacts(path, exists=True, is_link=is_link, link_target=target,
                         error=f"{path}: {exc.strerror or exc}")
    del st_l
    import stat as _stat

    is_file = _stat.S_ISREG(st.st_mode)
    is_dir = _stat.S_ISDIR(st.st_mode)
    digest = short_hash(path, st.st_size) if (want_hash and is_file) else None
    err = None
    if want_hash and is_file and digest is None:
        err = f"cannot read {path} (permission denied?)"
    return FileFacts(
        path=path, exists=True, is_link=is_link, link_target=target,
        real_path=os.path.realpath(path), is_file=is_file, is_dir=is_dir,
        size=st.st_size, mtime=st.st_mtime, short_hash=digest, error=err,
    )


def dir_problem(path: str | None, what: str) -> str | None:
    """A user-facing sentence if ``path`` is not a readable folder, else None."""
    if not path:
        return f"{what} is not configured"
    if not os.path.exists(path):
        return f"{what} {path} does not exist"
    if not os.path.isdir(path):
        return f"{what} {path} is not a folder"
    if not os.access(path, os.R_OK | os.X_OK):
        return f"{what} {path} is not readable (permission denied)"
    return None
