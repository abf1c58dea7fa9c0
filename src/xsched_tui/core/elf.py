"""Read what the dynamic loader sees in an ELF shared library, with pyelftools, never raising.

Only the parts the loader itself uses are read: the section headers, ``.dynamic``, ``.dynsym`` with
its string table, and the GNU version sections (``.gnu.version``, ``.gnu.version_d``,
``.gnu.version_r``). A 1 GB ``libtorch_cuda.so`` therefore costs a few MB of reads: its code,
data and debug sections are never touched.

pyelftools parses the file structure; the two big arrays (``.dynsym`` and ``.gnu.version``) are
unpacked here with :mod:`struct` from the section bytes, because pyelftools' per-symbol parsing is
slow for the ~100k symbols of a PyTorch library.

Symbol versioning in brief (FACTS §5.2): ``.gnu.version`` holds one 16-bit index per ``.dynsym``
entry. 0 = local, 1 = global/unversioned, >= 2 names a VERDEF node (for a definition) or a VERNEED
auxiliary entry (for a reference). Bit 15 marks a hidden (non-default) version: ``name@ver``
instead of the default ``name@@ver``.
"""

from __future__ import annotations

import os
import re
import stat
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice
from typing import BinaryIO

# pyelftools is imported lazily inside the readers so importing this module stays cheap.

MAX_SYMBOLS = 20_000  # kept per symbol list (exports, undefined, hidden); counts stay exact
MAX_SYMTAB_ENTRIES = 500_000  # a larger .symtab (unstripped libtorch) is not scanned for locals
MAX_SECTIONS = 4_096  # garbage e_shnum must not make us parse 65k bogus headers
MAX_DYN_TAGS = 10_000
MAX_VERSION_ENTRIES = 4_096  # vd_cnt/vn_cnt/sh_info from garbage must not loop for ever

SHN_UNDEF = 0
SHN_ABS = 0xFFF1

_BIND = {0: "LOCAL", 1: "GLOBAL", 2: "WEAK", 10: "GNU_UNIQUE"}
_TYPE = {0: "NOTYPE", 1: "OBJECT", 2: "FUNC", 3: "SECTION", 4: "FILE", 5: "COMMON", 6: "TLS",
         10: "GNU_IFUNC"}
_VIS = {0: "DEFAULT", 1: "INTERNAL", 2: "HIDDEN", 3: "PROTECTED"}
_EXPORT_BINDS = frozenset({"GLOBAL", "WEAK", "GNU_UNIQUE"})
_EXPORT_VIS = frozenset({"DEFAULT", "PROTECTED"})
_VER_FLG_BASE = 0x1


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DynSymbol:
    """One ``.dynsym`` (or ``.symtab``) entry with the version the loader attaches to it."""

    name: str
    defined: bool
    bind: str  # LOCAL / GLOBAL / WEAK / GNU_UNIQUE
    type: str  # FUNC / OBJECT / ...
    visibility: str  # DEFAULT / PROTECTED / HIDDEN / INTERNAL
    version: str | None = None  # version node name; None = unversioned
    hidden_version: bool = False  # name@ver (not the default) rather than name@@ver
    version_file: str | None = None  # references only: the file (soname) the version is from

    @property
    def exported(self) -> bool:
        """Other objects can bind to it: defined, global/weak and default/protected visibility."""
        return self.defined and self.bind in _EXPORT_BINDS and self.visibility in _EXPORT_VIS

    @property
    def spelled(self) -> str:
        """How ``nm -D``/``readelf`` write it: ``hipMalloc@@hip_4.2``, ``hipMalloc@hip_4.2``."""
        if self.version is None:
            return self.name
        sep = "@@" if (self.defined and not self.hidden_version) else "@"
        return f"{self.name}{sep}{self.version}"


@dataclass(frozen=True)
class VersionNeed:
    """One VERNEED entry: the versions this object needs from one needed file."""

    file: str
    versions: tuple[str, ...]


@dataclass(frozen=True)
class ElfInfo:
    """The loader-relevant facts of one ELF file."""

    path: str
    elf_class: int  # 32 or 64
    machine: str  # e.g. X86_64, AARCH64
    little_endian: bool
    elf_type: str  # DYN, EXEC, REL...
    soname: str | None
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    exports: tuple[DynSymbol, ...]  # defined, GLOBAL/WEAK, default visibility (capped)
    export_count: int  # exact, even when ``exports`` is capped
    undefined: tuple[DynSymbol, ...]  # references with the version they require (capped)
    undefined_count: int
    # Defined in .dynsym but local/hidden, so nobody can bind them (capped). Rare: ld usually
    # drops such symbols from .dynsym; find_symbols() still sees them in .symtab.
    hidden: tuple[DynSymbol, ...]
    version_defs: tuple[str, ...]  # VERDEF node names, base (file) node excluded
    version_needs: tuple[VersionNeed, ...]
    has_versym: bool
    truncated: bool = False  # some symbol list hit the cap
    notes: tuple[str, ...] = ()  # oddities worth a line (no section headers...)

    @property
    def versioned(self) -> bool:
        """The object defines version nodes (has a VERDEF)."""
        return bool(self.version_defs)

    def exports_named(self, name: str) -> tuple[DynSymbol, ...]:
        """Every exported definition of ``name`` (a versioned lib may export several)."""
        return tuple(s for s in self.exports if s.name == name)

    def export(self, name: str) -> DynSymbol | None:
        """The definition an unversioned reference would bind to (the default one)."""
        hits = self.exports_named(name)
        for s in hits:
            if not s.hidden_version:
                return s
        return hits[0] if hits else None

    def api_exports(self, prefixes: Iterable[str]) -> tuple[DynSymbol, ...]:
        """Exported functions named like the platform API (``hipMalloc``, ``cuLaunchKernel``)."""
        pre = tuple(prefixes)
        return tuple(s for s in self.exports if is_api_name(s.name, pre))

    def needs_from(self, files: Iterable[str]) -> tuple[str, ...]:
        """Version nodes this object needs from any of ``files`` (VERNEED), in file order."""
        want = set(files)
        out: list[str] = []
        for vn in self.version_needs:
            if vn.file in want:
                out += [v for v in vn.versions if v not in out]
        return tuple(out)

    def refs_from(self, files: Iterable[str]) -> tuple[DynSymbol, ...]:
        """Undefined symbols whose required version comes from one of ``files``."""
        want = set(files)
        return tuple(s for s in self.undefined if s.version_file in want)

    def describe(self) -> str:
        ver = ", ".join(self.version_defs) if self.version_defs else "unversioned"
        return (f"ELF{self.elf_class} {self.machine} {self.elf_type}, soname "
                f"{self.soname or '(none)'}, {self.export_count} exports, versions: {ver}")


@dataclass(frozen=True)
class ElfError:
    """Why a path could not be read as ELF; ``message`` is one line, ready for a user."""

    path: str
    message: str
    kind: str  # missing, directory, permission, not-elf, empty, truncated, corrupt, wrong-class, io

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class SymbolHit:
    """A defined symbol found by :func:`find_symbols`, with the table it came from."""

    name: str
    table: str  # ".dynsym" (the loader sees it) or ".symtab" (link-time table, may be local)
    bind: str
    type: str
    visibility: str

    @property
    def exported(self) -> bool:
        return (self.table == ".dynsym" and self.bind in _EXPORT_BINDS
                and self.visibility in _EXPORT_VIS)


@dataclass(frozen=True)
class TypeinfoSymbol:
    """A C++ typeinfo/vtable definition and whether other objects can bind to it."""

    name: str
    demangled: str
    exported: bool  # in .dynsym, GLOBAL/WEAK, default visibility
    table: str  # ".dynsym" or ".symtab" (".symtab" only = a local, e.g. hidden by `local: *;`)
    bind: str
    visibility: str


class _Corrupt(Exception):
    """Raised inside the parser for a structural problem we can phrase ourselves."""

    def __init__(self, message: str, kind: str = "corrupt") -> None:
        super().__init__(message)
        self.kind = kind


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def is_api_name(name: str, prefixes: Iterable[str]) -> bool:
    """``hipMalloc`` yes; ``hip_4.2`` (a version-node symbol) or ``cudart_x`` no.

    Driver APIs are camelCase after the prefix; requiring an upper-case letter there keeps ld's
    absolute version-node symbols and unrelated helpers out of the count.
    """
    return any(name.startswith(p) and len(name) > len(p) and name[len(p)].isupper()
               for p in prefixes)


def read_elf(
    path: str | os.PathLike[str],
    *,
    max_symbols: int = MAX_SYMBOLS,
    exports: bool = True,
    undefined: bool = True,
    expect_class: int | None = None,
) -> ElfInfo | ElfError:
    """Read the dynamic section, dynamic symbols and symbol versions of ``path``.

    Never raises: every failure (missing, folder, permission, not ELF, truncated, corrupt, wrong
    class) comes back as an :class:`ElfError`. ``exports=False``/``undefined=False`` skip building
    those lists (counts are still exact), which keeps big consumer libraries cheap.
    ``expect_class`` (32/64) turns a class mismatch into the loader's "wrong ELF class" error.
    """
    p = os.fspath(path)
    opened = _open(p)
    if isinstance(opened, ElfError):
        return opened
    with opened as f:
        try:
            return _parse(f, p, max_symbols=max(0, max_symbols), want_exports=exports,
                          want_undefined=undefined, expect_class=expect_class)
        except _Corrupt as exc:
            return ElfError(p, f"{p}: {exc}", exc.kind)
        # pyelftools raises ELFError, ELFParseError, struct.error, ValueError, IndexError,
        # KeyError, AssertionError, UnicodeDecodeError, MemoryError... on garbage input; a
        # diagnostic tool must turn every one of them into a message, never a traceback.
        except Exception as exc:
            return _failure(p, f, exc)


def find_symbols(
    path: str | os.PathLike[str],
    match: Callable[[str], bool],
    *,
    max_symtab: int = MAX_SYMTAB_ENTRIES,
    limit: int = 1_000,
) -> tuple[SymbolHit, ...] | ElfError:
    """Defined symbols whose name satisfies ``match``, from ``.dynsym`` and ``.symtab``.

    ``.symtab`` is where a symbol hidden by a version script (``local: *;``) still shows up (as
    ``nm``'s lower-case ``d``/``t``); it is skipped when larger than ``max_symtab`` entries (an
    unstripped multi-GB library) or absent (stripped: then only ``.dynsym`` is known).
    """
    p = os.fspath(path)
    opened = _open(p)
    if isinstance(opened, ElfError):
        return opened
    with opened as f:
        try:
            return _find_symbols(f, match, max_symtab=max_symtab, limit=limit)
        except _Corrupt as exc:
            return ElfError(p, f"{p}: {exc}", exc.kind)
        except Exception as exc:  # see read_elf: garbage must never escape as an exception
            return _failure(p, f, exc)


def find_typeinfo(
    path: str | os.PathLike[str],
    contains: str = "xsched",
    *,
    max_symtab: int = MAX_SYMTAB_ENTRIES,
) -> tuple[TypeinfoSymbol, ...] | ElfError:
    """C++ typeinfo (``_ZTI``) definitions mentioning ``contains``, exported or only local.

    The MI308X report (FIELD-NOTES §4 row 2) hid ``_ZTIN6xsched3hip10HipCommandE`` in
    ``libhalhip.so`` with ``local: *;``; the shim then failed with ``undefined symbol``. This shows
    the difference between ``nm``'s ``D`` (exported) and ``d`` (local only).
    """
    hits = find_symbols(path, lambda n: n.startswith("_ZTI") and contains in n,
                        max_symtab=max_symtab)
    if isinstance(hits, ElfError):
        return hits
    best: dict[str, TypeinfoSymbol] = {}
    for s in hits:
        t = TypeinfoSymbol(s.name, demangle_special(s.name) or s.name, s.exported, s.table,
                           s.bind, s.visibility)
        old = best.get(s.name)
        if old is None or (t.exported and not old.exported):
            best[s.name] = t
    return tuple(sorted(best.values(), key=lambda t: t.name))


def demangle_special(name: str) -> str | None:
    """Demangle the Itanium special names we report (typeinfo, vtable, typeinfo name).

    Only ``_ZT{I,V,S}`` followed by one (nested) class name; anything else gives None. Enough for
    ``_ZTIN6xsched3hip10HipCommandE`` -> ``typeinfo for xsched::hip::HipCommand`` without c++filt.
    """
    kinds = {"_ZTI": "typeinfo for", "_ZTV": "vtable for", "_ZTS": "typeinfo name for"}
    head = kinds.get(name[:4])
    if head is None:
        return None
    rest = name[4:]
    nested = rest.startswith("N")
    if nested:
        if not rest.endswith("E"):
            return None
        rest = rest[1:-1]
    parts: list[str] = []
    i = 0
    while i < len(rest):
        j = i
        while j < len(rest) and rest[j].isdigit():
            j += 1
        if j == i:
            return None
        n = int(rest[i:j])
        if n <= 0 or j + n > len(rest):
            return None
        parts.append(rest[j:j + n])
        i = j + n
    if not parts or (not nested and len(parts) != 1):
        return None
    return f"{head} {'::'.join(parts)}"


# --------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------


_SHORT_READ = re.compile(r"expected \d+, found \d+")  # construct's short-read message


def _failure(p: str, f: BinaryIO, exc: BaseException) -> ElfError:
    """A parser exception on garbage input, as a sentence (no exception class names)."""
    try:
        size = os.fstat(f.fileno()).st_size
    except (OSError, ValueError):
        size = -1
    text = " ".join(str(exc).split())
    # pyelftools appends a dump of the parsed structure to some messages ("...: Container({...})")
    text = re.sub(r"\s*(?:for the following|Container\().*$", "", text)
    if len(text) > 160:
        text = text[:157] + "..."
    if "past EOF" in text or _SHORT_READ.search(text):
        return ElfError(p, f"{p}: truncated or corrupt ELF: a structure it points to lies past the "
                        f"end of the file ({size} bytes)", "truncated")
    if "String Table not found" in text:
        return ElfError(p, f"{p}: corrupt ELF: the section name table (e_shstrndx) is missing or "
                        "not a string table", "corrupt")
    if isinstance(exc, (OSError, OverflowError)) or "offset-sized" in text:
        return ElfError(p, f"{p}: corrupt ELF: an offset points outside the file ({size} bytes)",
                        "corrupt")
    if isinstance(exc, MemoryError):
        return ElfError(p, f"{p}: corrupt ELF: a size field is implausibly large", "corrupt")
    if isinstance(exc, RecursionError):
        return ElfError(p, f"{p}: corrupt ELF: structures nested implausibly deep", "corrupt")
    if type(exc).__name__ in ("ELFError", "ELFParseError") and text:
        return ElfError(p, f"{p}: corrupt ELF: {text}", "corrupt")
    # IndexError, KeyError, struct.error, AssertionError... from inconsistent structures
    return ElfError(p, f"{p}: corrupt or truncated ELF: its structures are inconsistent"
                    + (f" ({text})" if text and not text.startswith("'") else ""), "corrupt")


def _open(p: str) -> BinaryIO | ElfError:
    """Open ``p`` for reading, or say in one line why not (and what it is instead)."""
    try:
        st = os.stat(p)
    except FileNotFoundError:
        if os.path.islink(p):
            return ElfError(p, f"{p}: broken softlink -> {_readlink(p)}", "missing")
        return ElfError(p, f"{p}: no such file", "missing")
    except PermissionError:
        return ElfError(p, f"{p}: permission denied", "permission")
    except OSError as exc:
        return ElfError(p, f"{p}: {exc.strerror or exc}", "io")
    if stat.S_ISDIR(st.st_mode):
        return ElfError(p, f"{p}: is a folder, not a library", "directory")
    if not stat.S_ISREG(st.st_mode):
        return ElfError(p, f"{p}: not a regular file", "not-elf")
    if st.st_size == 0:
        return ElfError(p, f"{p}: empty file (0 bytes), not an ELF library", "empty")
    try:
        f = open(p, "rb")  # noqa: SIM115 - the caller closes it with ``with``
    except PermissionError:
        return ElfError(p, f"{p}: permission denied", "permission")
    except OSError as exc:
        return ElfError(p, f"{p}: {exc.strerror or exc}", "io")
    try:
        head = f.read(64)
    except OSError as exc:
        f.close()
        return ElfError(p, f"{p}: cannot read ({exc.strerror or exc})", "io")
    problem = _magic_problem(p, head)
    if problem is not None:
        f.close()
        return problem
    f.seek(0)
    return f


def _readlink(p: str) -> str:
    try:
        return os.readlink(p)
    except OSError:
        return "?"


def _magic_problem(p: str, head: bytes) -> ElfError | None:
    if head[:4] != b"\x7fELF":
        if head.lstrip().startswith((b"/* GNU ld script", b"GROUP", b"INPUT", b"OUTPUT_FORMAT")):
            # Real-world case: /usr/lib/.../libc.so is a linker script, not a library.
            return ElfError(p, f"{p}: a GNU ld linker script, not an ELF library", "not-elf")
        if head and all(b in b"\t\n\r" or 32 <= b < 127 for b in head):
            return ElfError(p, f"{p}: a text file, not an ELF library", "not-elf")
        return ElfError(p, f"{p}: not an ELF file (bad magic {head[:4].hex() or 'none'})",
                        "not-elf")
    if len(head) < 5:
        return ElfError(p, f"{p}: truncated ELF header ({len(head)} bytes)", "truncated")
    if head[4] not in (1, 2):
        return ElfError(p, f"{p}: invalid ELF class byte {head[4]} (neither ELFCLASS32 nor 64)",
                        "wrong-class")
    need = 52 if head[4] == 1 else 64
    if len(head) < need:
        return ElfError(p, f"{p}: truncated ELF header ({len(head)} of {need} bytes)", "truncated")
    if head[5] not in (1, 2):
        return ElfError(p, f"{p}: invalid ELF data encoding byte {head[5]} (neither little- nor "
                        "big-endian)", "corrupt")
    return None


def _check_bounds(sec, file_size: int, what: str) -> None:
    """Raise unless the section lies inside the file (truncation, garbage sizes)."""
    off, size = int(sec["sh_offset"]), int(sec["sh_size"])
    if sec["sh_type"] != "SHT_NOBITS" and off + size > file_size:
        raise _Corrupt(f"truncated: {what} ends at byte {off + size} but the file has "
                       f"{file_size} bytes", "truncated")


def _section_bytes(sec, file_size: int, what: str) -> bytes:
    """Section data, after checking it lies inside the file (never a giant read of garbage)."""
    if sec["sh_type"] == "SHT_NOBITS":
        return b""
    _check_bounds(sec, file_size, what)
    size = int(sec["sh_size"])
    data = sec.data()
    if len(data) != size:
        raise _Corrupt(f"truncated: short read of {what}", "truncated")
    return data


def _cstr(table: bytes, off: int) -> str:
    if off < 0 or off >= len(table):
        return ""
    end = table.find(b"\0", off)
    return table[off:end if end >= 0 else len(table)].decode("utf-8", "replace")


def _sections(elf) -> list:
    """Every section header, after checking the header table lies inside the file."""
    hdr = elf.header
    shoff, shnum, shentsize = int(hdr["e_shoff"]), int(hdr["e_shnum"]), int(hdr["e_shentsize"])
    if shoff:
        want = 64 if elf.elfclass == 64 else 40
        if shentsize < want:
            raise _Corrupt(f"section header entry size is {shentsize} bytes, expected {want}")
        # e_shnum 0 with headers present: the count is in section 0 (extended numbering)
        end = shoff + max(shnum, 1) * shentsize
        if end > elf.stream_len:
            raise _Corrupt(f"truncated: the section headers end at byte {end} but the file has "
                           f"{elf.stream_len} bytes", "truncated")
    n = elf.num_sections()
    if n > MAX_SECTIONS:
        raise _Corrupt(f"implausible section count {n}")
    return [elf.get_section(i) for i in range(n)]


def _strtab_link(sec, sections: list, file_size: int, what: str):
    """The string table ``sec`` names in sh_link, checked to be one and inside the file."""
    link = int(sec["sh_link"])
    if not 0 < link < len(sections) or sections[link]["sh_type"] != "SHT_STRTAB":
        raise _Corrupt(f"{what} is not linked to a string table (sh_link {link})")
    _check_bounds(sections[link], file_size, f"string table of {what}")
    return sections[link]


def _linked_strtab(elf, sec, sections: list, file_size: int, what: str) -> bytes:
    return _section_bytes(_strtab_link(sec, sections, file_size, what), file_size,
                          f"string table of {what}")


def _iter_versions(sec):
    """pyelftools' verdef/verneed walk under one entry budget.

    pyelftools trusts sh_info, vd_cnt/vn_cnt and the next-offsets from the file; garbage there
    could mean millions of parses. A real entry takes at least 8 bytes, so the section size bounds
    how many can exist.
    """
    budget = min(MAX_VERSION_ENTRIES, int(sec["sh_size"]) // 8 + 1)
    for version, aux_iter in sec.iter_versions():
        budget -= 1
        if budget < 0:
            return
        auxes = list(islice(aux_iter, max(0, budget)))
        budget -= len(auxes)
        yield version, auxes


def _unpack_symbols(data: bytes, elf_class: int, little: bool):
    """Yield (name_off, info, other, shndx, value) per symbol; fast path over pyelftools."""
    order = "<" if little else ">"
    if elf_class == 64:
        fmt = struct.Struct(order + "IBBHQQ")
        for name, info, other, shndx, value, _size in fmt.iter_unpack(data):
            yield name, info, other, shndx, value
    else:
        fmt = struct.Struct(order + "IIIBBH")
        for name, value, _size, info, other, shndx in fmt.iter_unpack(data):
            yield name, info, other, shndx, value


def _symbol_table(sec, sections: list, elf, file_size: int, what: str) -> tuple[bytes, bytes]:
    ent = 24 if elf.elfclass == 64 else 16
    if int(sec["sh_entsize"]) not in (0, ent):
        raise _Corrupt(f"{what} has entry size {sec['sh_entsize']}, expected {ent}")
    data = _section_bytes(sec, file_size, what)
    data = data[: len(data) - len(data) % ent]
    return data, _linked_strtab(elf, sec, sections, file_size, what)


def _parse(f, p: str, *, max_symbols: int, want_exports: bool, want_undefined: bool,
           expect_class: int | None) -> ElfInfo:
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(f)
    size = elf.stream_len
    if expect_class is not None and elf.elfclass != expect_class:
        raise _Corrupt(f"wrong ELF class: ELFCLASS{elf.elfclass} (the workload is "
                       f"{expect_class}-bit, the loader skips this file)", "wrong-class")
    machine = str(elf["e_machine"]).removeprefix("EM_")
    elf_type = str(elf["e_type"]).removeprefix("ET_")
    notes: list[str] = []
    sections = _sections(elf)
    by_type: dict[str, object] = {}
    for s in sections:
        by_type.setdefault(s["sh_type"], s)

    # .dynamic: soname, needed, rpath/runpath.
    soname: str | None = None
    needed: list[str] = []
    rpath: list[str] = []
    runpath: list[str] = []
    dyn = by_type.get("SHT_DYNAMIC")
    n_max = MAX_DYN_TAGS
    if dyn is not None:
        _check_bounds(dyn, size, ".dynamic")
        _strtab_link(dyn, sections, size, ".dynamic")
        n_max = int(dyn["sh_size"]) // (16 if elf.elfclass == 64 else 8) + 1
    elif not sections:
        # Stripped section headers: the loader still works from PT_DYNAMIC; so can we.
        notes.append("no section headers: symbols and versions not read")
        dyn = next((seg for seg in islice(elf.iter_segments(), MAX_SECTIONS)
                    if seg["p_type"] == "PT_DYNAMIC"), None)
    if dyn is not None:
        for tag in islice(dyn.iter_tags(), min(n_max, MAX_DYN_TAGS)):
            t = tag.entry.d_tag
            if t == "DT_SONAME":
                soname = tag.soname
            elif t == "DT_NEEDED":
                needed.append(tag.needed)
            elif t == "DT_RPATH":
                rpath += [x for x in tag.rpath.split(":") if x]
            elif t == "DT_RUNPATH":
                runpath += [x for x in tag.runpath.split(":") if x]

    # Version definitions: index -> node name (the base node is the file itself, not a version).
    verdef: dict[int, str] = {}
    vd_sec = by_type.get("SHT_GNU_verdef")
    if vd_sec is not None:
        _check_bounds(vd_sec, size, ".gnu.version_d")
        _strtab_link(vd_sec, sections, size, ".gnu.version_d")
        for version, auxes in _iter_versions(vd_sec):
            if not auxes:
                continue
            if int(version["vd_flags"]) & _VER_FLG_BASE:
                continue
            verdef[int(version["vd_ndx"]) & 0x7FFF] = auxes[0].name

    # Version needs: vna_other index -> (file, version name).
    verneed: dict[int, tuple[str, str]] = {}
    needs: list[VersionNeed] = []
    vn_sec = by_type.get("SHT_GNU_verneed")
    if vn_sec is not None:
        _check_bounds(vn_sec, size, ".gnu.version_r")
        _strtab_link(vn_sec, sections, size, ".gnu.version_r")
        for version, auxes in _iter_versions(vn_sec):
            fname = version.name or "?"
            names = []
            for aux in auxes:
                names.append(aux.name)
                verneed[int(aux["vna_other"]) & 0x7FFF] = (fname, aux.name)
            needs.append(VersionNeed(fname, tuple(names)))

    # .gnu.version, one half-word per .dynsym entry.
    versym: tuple[int, ...] = ()
    vs_sec = by_type.get("SHT_GNU_versym")
    if vs_sec is not None:
        raw = _section_bytes(vs_sec, size, ".gnu.version")
        raw = raw[: len(raw) - len(raw) % 2]
        versym = struct.unpack(("<" if elf.little_endian else ">") + f"{len(raw) // 2}H", raw)

    exports: list[DynSymbol] = []
    undef: list[DynSymbol] = []
    hidden: list[DynSymbol] = []
    n_exp = n_undef = 0
    capped = False
    ds = by_type.get("SHT_DYNSYM")
    if ds is not None:
        data, strtab = _symbol_table(ds, sections, elf, size, ".dynsym")
        node_names = set(verdef.values())
        for i, (name_off, info, other, shndx, value) in enumerate(
                _unpack_symbols(data, elf.elfclass, elf.little_endian)):
            if i == 0:
                continue  # the null symbol
            stype = _TYPE.get(info & 0xF, str(info & 0xF))
            if stype in ("SECTION", "FILE"):
                continue
            bind = _BIND.get(info >> 4, str(info >> 4))
            vis = _VIS[other & 0x3]
            vs = versym[i] if i < len(versym) else 1
            idx, hid = vs & 0x7FFF, bool(vs & 0x8000)
            if shndx == SHN_UNDEF:
                n_undef += 1
                if not want_undefined:
                    continue
                if len(undef) >= max_symbols:
                    capped = True
                    continue
                vfile, vname = verneed.get(idx, (None, None)) if idx >= 2 else (None, None)
                undef.append(DynSymbol(_cstr(strtab, name_off), False, bind, stype, vis, vname,
                                       hid, vfile))
                continue
            exported = bind in _EXPORT_BINDS and vis in _EXPORT_VIS
            if exported and shndx == SHN_ABS and value == 0 and node_names:
                # ld emits one absolute symbol per version node (``hip_4.2``): not an API.
                name = _cstr(strtab, name_off)
                if name in node_names:
                    continue
            if exported:
                n_exp += 1
                if not want_exports:
                    continue
                if len(exports) >= max_symbols:
                    capped = True
                    continue
                exports.append(DynSymbol(_cstr(strtab, name_off), True, bind, stype, vis,
                                         verdef.get(idx) if idx >= 2 else None, hid))
            elif len(hidden) < max_symbols:
                hidden.append(DynSymbol(_cstr(strtab, name_off), True, bind, stype, vis,
                                        verdef.get(idx) if idx >= 2 else None, hid))
    elif sections:
        notes.append("no .dynsym: nothing is exported to the dynamic loader")

    return ElfInfo(
        path=p, elf_class=elf.elfclass, machine=machine, little_endian=elf.little_endian,
        elf_type=elf_type, soname=soname, needed=tuple(needed), rpath=tuple(rpath),
        runpath=tuple(runpath), exports=tuple(exports), export_count=n_exp,
        undefined=tuple(undef), undefined_count=n_undef, hidden=tuple(hidden),
        version_defs=tuple(verdef[k] for k in sorted(verdef)), version_needs=tuple(needs),
        has_versym=vs_sec is not None, truncated=capped, notes=tuple(notes),
    )


def _find_symbols(f, match: Callable[[str], bool], *, max_symtab: int,
                  limit: int) -> tuple[SymbolHit, ...]:
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(f)
    size = elf.stream_len
    sections = _sections(elf)
    out: list[SymbolHit] = []
    ent = 24 if elf.elfclass == 64 else 16
    for sec in sections:
        kind = sec["sh_type"]
        if kind not in ("SHT_DYNSYM", "SHT_SYMTAB"):
            continue
        table = ".dynsym" if kind == "SHT_DYNSYM" else ".symtab"
        if kind == "SHT_SYMTAB" and int(sec["sh_size"]) // ent > max_symtab:
            continue  # an unstripped giant: too costly for a local-symbol hint
        data, strtab = _symbol_table(sec, sections, elf, size, table)
        for i, (name_off, info, other, shndx, _value) in enumerate(
                _unpack_symbols(data, elf.elfclass, elf.little_endian)):
            if i == 0 or shndx == SHN_UNDEF:
                continue
            name = _cstr(strtab, name_off)
            if not name or not match(name):
                continue
            out.append(SymbolHit(name, table, _BIND.get(info >> 4, str(info >> 4)),
                                 _TYPE.get(info & 0xF, str(info & 0xF)), _VIS[other & 0x3]))
            if len(out) >= limit:
                return tuple(out)
    return tuple(out)
