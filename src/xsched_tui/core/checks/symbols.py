"""Check: will the dynamic loader bind the workload's GPU libraries to XSched's shim?

Reads the ELF files themselves (``core.elf``, pyelftools; no ``nm``) and replays glibc's rules
(FACTS §5.2, verified with real toy libraries in the tests):

* LD_PRELOAD: an *unversioned* shim definition binds any versioned reference
  (``hipMalloc@hip_4.2``); a shim definition in a *different* node (``hipMalloc@@hip_5.1``) does
  not match, so the loader silently binds the real runtime instead.
* Soname substitution (LD_LIBRARY_PATH + the ``libamdhip64.so``/``libcuda.so.1`` softlinks):
  an unversioned shim works, with glibc's ``no version information available`` notice; a shim
  with *some* version nodes but not the needed one is fatal: ``version `hip_4.2' not found``.
* A shim exporting only ``X*`` helpers intercepts nothing; a HAL whose C++ typeinfo was hidden by
  ``local: *;`` makes the shim fail with ``undefined symbol: _ZTIN6xsched3hip10HipCommandE``.

Consumers are PyTorch's GPU libraries, found from the workload interpreter without importing torch.
"""

from __future__ import annotations

import glob
import json
import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from xsched_tui.core import runner
from xsched_tui.core.checks.base import CheckContext, CheckSpec, Evidence, Outcome, Status, ev
from xsched_tui.core.elf import (
    DynSymbol,
    ElfError,
    ElfInfo,
    demangle_special,
    find_symbols,
    find_typeinfo,
    read_elf,
)
from xsched_tui.core.platforms import PLATFORMS, Platform

FIND_SPEC_TIMEOUT = 20.0  # s; an interpreter start on a slow NFS home can take seconds
MAX_CONSUMERS = 16
# Libraries in torch/lib that call the GPU runtime directly (or are a bundled runtime copy).
CONSUMER_NAMES = ("libtorch_hip.so", "libtorch_cuda.so", "libc10_hip.so", "libc10_cuda.so")
CONSUMER_GLOBS = ("libcudart*.so*", "libamdhip64*.so*", "libhipblaslt*.so*", "librocblas*.so*",
                  "libMIOpen*.so*")
# The legacy seed check of the MI308X user (FIELD-NOTES §4 row 1) and its CUDA analogue.
SEED: dict[str, tuple[str, str | None]] = {
    "hip": ("hipMalloc", "hip_4.2"),
    "cuda": ("cuLaunchKernel", None),
    "corex": ("cuLaunchKernel", None),
}
XSCHED_MANGLED = "6xsched"  # the namespace ``xsched`` inside Itanium-mangled names
_FIND_TORCH = ("import importlib.util,json; s=importlib.util.find_spec('torch'); "
               "print(json.dumps(list(s.submodule_search_locations) if s else []))")
_HOST_BITS = struct.calcsize("P") * 8


class ConsumerLookupError(Exception):
    """The workload interpreter could not tell where torch is (message is for the user)."""


# --------------------------------------------------------------------------------------------
# Finding the consumers
# --------------------------------------------------------------------------------------------


def torch_dirs(python: str, timeout: float = FIND_SPEC_TIMEOUT) -> list[str]:
    """torch's package folders as ``python`` sees them, without importing torch (seconds saved).

    Raises :class:`ConsumerLookupError` when the interpreter is missing, hangs, fails, or has no
    torch.
    """
    if not python:
        raise ConsumerLookupError("no workload interpreter configured")
    # A shim preloaded in the user's shell must not break this lookup (FIELD-NOTES §4 row 3).
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    try:
        done = runner.run([python, "-c", _FIND_TORCH], timeout=timeout, env=env)
    except runner.StartError as exc:
        raise ConsumerLookupError(str(exc)) from exc
    if done.exit.timed_out:
        raise ConsumerLookupError(f"{python} did not answer within {timeout:g} s")
    if not done.exit.ok:
        last = next((ln for ln in reversed(done.stderr) if ln.strip()), "")
        raise ConsumerLookupError(f"{python} failed ({done.exit.describe()})"
                                  + (f": {last.strip()}" if last else ""))
    line = next((ln for ln in reversed(done.stdout) if ln.strip()), "")
    try:
        dirs = json.loads(line)
    except ValueError as exc:
        raise ConsumerLookupError(f"unexpected answer from {python}: {line[:80]!r}") from exc
    if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise ConsumerLookupError(f"unexpected answer from {python}: {line[:80]!r}")
    if not dirs:
        raise ConsumerLookupError(f"torch is not installed for {python}")
    return dirs


def consumer_libs(dirs: Iterable[str]) -> list[str]:
    """GPU libraries of the torch package folders ``dirs`` (deduplicated by real path, capped)."""
    out: list[str] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        real = os.path.realpath(path)
        if real not in seen and os.path.isfile(path) and len(out) < MAX_CONSUMERS:
            seen.add(real)
            out.append(path)

    for d in dirs:
        lib = os.path.join(d, "lib")
        for name in CONSUMER_NAMES:
            add(os.path.join(lib, name))
        for pat in CONSUMER_GLOBS:
            for p in sorted(glob.glob(os.path.join(glob.escape(lib), pat))):
                add(p)
        # CUDA wheels keep libcudart in site-packages/nvidia/<pkg>/lib next to torch.
        nv = os.path.join(glob.escape(os.path.dirname(d.rstrip("/"))), "nvidia", "*", "lib",
                          "libcudart.so*")
        for p in sorted(glob.glob(nv)):
            add(p)
    return out


def find_consumers(python: str) -> list[str]:
    """The hook the check calls: PyTorch GPU libraries for ``python`` (tests may replace it).

    Raises :class:`ConsumerLookupError` when torch cannot be located.
    """
    return consumer_libs(torch_dirs(python))


# --------------------------------------------------------------------------------------------
# The analysis
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Consumer:
    """A library whose references the loader must bind (real, or inferred from the runtime)."""

    label: str
    path: str
    rt_files: tuple[str, ...]  # runtime names it NEEDs / has VERNEED entries for
    needs: tuple[str, ...]  # version nodes needed from the runtime
    refs: tuple[DynSymbol, ...]  # undefined symbols bound to the runtime (with their version)
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()
    inferred: bool = False


@dataclass
class _Report:
    rows: list[Evidence] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    headlines: list[tuple[Status, str]] = field(default_factory=list)

    def add(self, label: str, value: object, status: Status | None = None, *,
            headline: str | None = None, fix: str | None = None) -> None:
        self.rows.append(ev(label, value, status))
        if headline and status is not None:
            self.headlines.append((status, headline))
        if fix:
            self.fixes.append(fix)

    @property
    def status(self) -> Status:
        statuses = [r.status for r in self.rows if r.status is not None] or [Status.PASS]
        return max(statuses, key=lambda s: s.severity)


def _base(p: str) -> str:
    return os.path.basename(p)


def _short_list(items: Sequence[str], n: int = 4) -> str:
    if not items:
        return "none"
    head = ", ".join(items[:n])
    return head + (f" (+{len(items) - n} more)" if len(items) > n else "")


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def version_map(runtime: ElfInfo | None, names: Iterable[str], limit: int = 24) -> str | None:
    """A one-line version script giving each shim function the runtime's own node.

    Every runtime node is listed (consumers' version checks need each node to exist) and each
    name goes into the node the runtime defines it in, so ``hipMalloc@hip_4.2`` resolves. Long
    lists are abridged with ``...`` (then it is an example, not a finished map).
    """
    if runtime is None or not runtime.versioned:
        return None
    by_node: dict[str, list[str]] = {v: [] for v in runtime.version_defs}
    for n in names:
        d = runtime.export(n)
        if d is not None and d.version in by_node:
            by_node[d.version].append(n)
    parts: list[str] = []
    prev: str | None = None
    left = limit
    for v, ns in by_node.items():
        shown, left = ns[:max(0, left)], left - len(ns)
        body = " ".join(f"{n};" for n in shown) + (" ..." if len(shown) < len(ns) else "")
        parts.append(f"{v} {{ {'global: ' + body + ' ' if body else ''}}}"
                     + (f" {prev};" if prev else ";"))
        prev = v
    return " ".join(parts)


def _runtime_names(plat: Platform, runtime: ElfInfo | None, driver_path: str | None) -> set[str]:
    names = {*plat.driver_names, *plat.softlinks}
    if runtime is not None and runtime.soname:
        names.add(runtime.soname)
    if driver_path:
        names.add(_base(driver_path))
    return names


def _is_runtime(name: str, names: set[str], plat: Platform) -> bool:
    # "libcuda.so" as prefix matches libcuda.so.1 but not libcudart.so.13.
    return name in names or bool(plat.runtime_soname_prefix
                                 and name.startswith(plat.runtime_soname_prefix))


def _binds(ref: DynSymbol, defs: Sequence[DynSymbol]) -> bool:
    """glibc's check_match for one reference against one object's definitions.

    A versioned reference binds a definition of the same version or an unversioned, non-hidden
    one (index 1 carries no hash, so it matches any version); a definition in another node does
    not match and the lookup moves on to the next object.
    """
    for d in defs:
        if ref.version is None:
            if not d.hidden_version:
                return True
        elif d.version == ref.version or (d.version is None and not d.hidden_version):
            return True
    return False


def _needs_text(c: _Consumer) -> str:
    if not c.rt_files:
        return "does not link the runtime directly (reaches it through dlopen at run time)"
    by_ver: dict[str, list[str]] = {}
    for r in c.refs:
        if r.version:
            by_ver.setdefault(r.version, []).append(r.name)
    parts = []
    for v in c.needs:
        names = by_ver.get(v, [])
        parts.append(f"{v} ({_short_list(names, 3)})" if names else v)
    files = ", ".join(c.rt_files)
    if not parts:
        return f"NEEDs {files}: no version requirements ({len(c.refs)} unversioned references)"
    return f"needs from {files}: " + "; ".join(parts)


def _rpath_shadow(c: _Consumer, name: str, shim_real: str) -> str | None:
    """A runtime copy that the consumer's DT_RPATH finds before LD_LIBRARY_PATH (FACTS §5.2)."""
    if c.runpath or not c.rpath:  # DT_RUNPATH disables DT_RPATH and comes after LD_LIBRARY_PATH
        return None
    origin = os.path.dirname(c.path)
    for d in c.rpath:
        d = d.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
        p = os.path.join(d, name)
        if os.path.exists(p) and os.path.realpath(p) != shim_real:
            return p
    return None


def _inferred_consumer(plat: Platform, runtime: ElfInfo, driver_path: str,
                       api: Sequence[DynSymbol]) -> _Consumer:
    """What any library linked against this runtime references: each API's default version."""
    rt_file = runtime.soname or _base(driver_path)
    refs: list[DynSymbol] = []
    for s in api:
        d = runtime.export(s.name)
        if d is not None:
            refs.append(DynSymbol(s.name, False, "GLOBAL", d.type, "DEFAULT", d.version, False,
                                  rt_file if d.version else None))
    needs = tuple(dict.fromkeys(r.version for r in refs if r.version))
    return _Consumer(f"any library linked against {rt_file} (inferred)", driver_path, (rt_file,),
                     needs, tuple(refs), inferred=True)


def _analyse_consumers(rep: _Report, plat: Platform, mode: str, shim: ElfInfo, shim_path: str,
                       softlinks: Mapping[str, str], consumers: Sequence[_Consumer],
                       runtime: ElfInfo | None) -> None:
    shim_real = os.path.realpath(shim_path)
    lib_dir = os.path.dirname(shim_path)
    vmap = version_map(runtime, [s.name for s in shim.api_exports(plat.api_prefixes)])
    rebuild = (f"rebuild {plat.shim} without a version script (stock XSched has none: unversioned "
               "definitions bind every version)"
               + (f"; if you must keep one, give each function the runtime's node: {vmap}"
                  if vmap else ""))
    # Group identical verdicts over consumers: (kind) -> [status, first message, fix, count]
    groups: dict[str, list] = {}

    def verdict(kind: str, status: Status, message: str, headline: str, fix: str) -> None:
        g = groups.get(kind)
        if g is None:
            groups[kind] = [status, message, headline, fix, 1]
        else:
            g[4] += 1
            if status.severity > g[0].severity:
                g[0], g[1], g[2], g[3] = status, message, headline, fix

    for c in consumers:
        # Inferred consumers are a prediction, not a file on disk: warn, don't fail.
        bad = Status.WARN if c.inferred else Status.FAIL
        who = c.label
        req = c.label if c.inferred else c.path  # what the loader prints as "required by"
        short = c.label if c.inferred else _base(c.path)
        if not c.rt_files:
            continue
        if mode == "LD_LIBRARY_PATH":
            covered = [f for f in c.rt_files if f in softlinks]
            if not covered:
                verdict(
                    "not-substituted", Status.WARN,
                    f"{who} NEEDs {', '.join(c.rt_files)}, but the softlinks cover only "
                    f"{_short_list(sorted(softlinks)) if softlinks else 'nothing'}: the real "
                    "runtime serves it and XSched sees none of its calls",
                    f"{short} is not substituted by the shim (soname {c.rt_files[0]})",
                    f"ln -s {plat.shim} {os.path.join(lib_dir, c.rt_files[0])}   # or enable "
                    f"with LD_PRELOAD={shim_path}")
                continue
            shadow = _rpath_shadow(c, covered[0], shim_real)
            if shadow:
                verdict(
                    "rpath-shadow", Status.WARN,
                    f"{who} has DT_RPATH, which beats LD_LIBRARY_PATH: the loader takes {shadow}, "
                    "not the shim softlink",
                    f"{short} loads its bundled {covered[0]}, not the shim",
                    f"LD_PRELOAD={shim_path} <your command>   # DT_RPATH cannot be overridden "
                    "by LD_LIBRARY_PATH")
                continue
            link = softlinks[covered[0]]
            if c.needs and not shim.versioned:
                verdict(
                    "no-version-info", Status.WARN,
                    f"{link}: no version information available (required by {req}); glibc "
                    "still binds the unversioned shim (the notice is printed at program start, "
                    "not under dlopen)",
                    f"{plat.shim} is unversioned and substituted by soname: works, with glibc's "
                    "'no version information available' notice",
                    f"harmless; to avoid the notice enable the shim with LD_PRELOAD={shim_path} "
                    f"instead of the {covered[0]} softlink")
            elif c.needs:
                missing = [v for v in c.needs if v not in shim.version_defs]
                if missing:
                    also = f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else ""
                    verdict(
                        "version-not-found", bad,
                        f"{link}: version `{missing[0]}' not found (required by {req}){also}",
                        f"the loader will refuse {short}: version `{missing[0]}' not "
                        f"found in {plat.shim}",
                        rebuild)
                    continue
                unbound = [r for r in c.refs if r.version
                           and not _binds(r, shim.exports_named(r.name))]
                if unbound:
                    r = unbound[0]
                    verdict(
                        "undefined-versioned", bad,
                        f"symbol lookup error: {link}: undefined symbol: {r.name}, version "
                        f"{r.version}" + (f" (+{len(unbound) - 1} more)" if len(unbound) > 1
                                          else ""),
                        f"{plat.shim} lacks {r.name}@{r.version} needed by {short}",
                        rebuild)
                    continue
                verdict("binds", Status.PASS,
                        f"{who} -> {link}: every needed version node and symbol is in the shim",
                        "", "")
            else:
                verdict("binds", Status.PASS,
                        f"{who} -> {link}: no version requirements, binds by soname", "", "")
            continue
        # LD_PRELOAD (or any mode where the shim is searched first by symbol).
        bypassed = [r for r in c.refs
                    if shim.exports_named(r.name) and not _binds(r, shim.exports_named(r.name))]
        if bypassed:
            r = bypassed[0]
            have = ", ".join(d.spelled for d in shim.exports_named(r.name))
            verdict(
                "bypassed", bad,
                f"silently bypassed: {who} calls {r.spelled}, the preloaded shim only has "
                f"{have}, so the loader binds the real runtime"
                + (f" (+{len(bypassed) - 1} more symbols)" if len(bypassed) > 1 else ""),
                f"{short} silently bypasses XSched: {r.spelled} does not match {have}",
                rebuild)
            continue
        bound = sum(1 for r in c.refs if shim.exports_named(r.name))
        verdict("binds", Status.PASS,
                f"{who}: {bound} of {len(c.refs)} references bind to the preloaded shim"
                + (" (unversioned definitions match any version)" if not shim.versioned
                   and any(r.version for r in c.refs) else ""),
                "", "")

    labels = {
        "version-not-found": "loader (soname)", "undefined-versioned": "loader (soname)",
        "no-version-info": "loader (soname)", "not-substituted": "substitution",
        "rpath-shadow": "substitution", "bypassed": "LD_PRELOAD binding",
        "binds": "binding",
    }
    for kind, (status, message, headline, fix, count) in groups.items():
        more = f" [and {count - 1} more consumer(s)]" if count > 1 else ""
        rep.add(labels.get(kind, kind), message + more, status, headline=headline or None,
                fix=fix or None)


def _check_cxx_imports(rep: _Report, plat: Platform, shim: ElfInfo, shim_path: str,
                       libs: Mapping[str, str]) -> list[str]:
    """Every xsched C++ symbol the shim imports must be exported by the HAL or libpreempt."""
    providers: dict[str, str] = {n: libs[n] for n in (plat.hal, "libpreempt.so") if n in libs}
    wanted = [s for s in shim.undefined if XSCHED_MANGLED in s.name and s.bind != "WEAK"]
    exported: set[str] = set()
    for name, path in providers.items():
        info = read_elf(path, undefined=False)
        if isinstance(info, ElfError):
            rep.add(name, f"cannot read: {info.message}", Status.WARN)
            continue
        exported |= {s.name for s in info.exports}
    hal_path = libs.get(plat.hal)
    if hal_path:
        ti = find_typeinfo(hal_path)
        if not isinstance(ti, ElfError) and ti:
            local = [t for t in ti if not t.exported]
            rep.add(f"{plat.hal} typeinfo",
                    f"{len(ti) - len(local)} xsched typeinfo exported, {len(local)} local only"
                    + (f" (e.g. {local[0].name})" if local else ""))
    missing = [s.name for s in wanted if s.name not in exported]
    if not wanted:
        return []
    if not missing:
        rep.add("C++ symbols", f"{plat.shim} imports {_plural(len(wanted), 'xsched C++ symbol')}, "
                f"all exported by {' / '.join(providers) or '?'}", Status.PASS)
        return []
    where = ""
    missing_set = set(missing)
    for name, path in providers.items():
        hits = find_symbols(path, missing_set.__contains__)
        if not isinstance(hits, ElfError) and any(h.name == missing[0] for h in hits):
            where = (f"; {name} has it only as a local/hidden symbol (hidden by a version script "
                     "with `local: *;`)")
            break
    else:
        where = f"; it is not defined in {' or '.join(providers) or 'any XSched library'}"
    first = missing[0]
    pretty = demangle_special(first)
    hal_hint = hal_path or plat.hal
    rep.add(
        "C++ symbols",
        f"symbol lookup error: {shim_path}: undefined symbol: {first}"
        + (f" ({pretty})" if pretty else "") + where
        + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""),
        Status.FAIL,
        headline=f"{plat.shim} cannot load: undefined symbol: {first}",
        fix=(f"rebuild {plat.hal} without the `local: *;` version script (it hides C++ typeinfo "
             f"the shim needs), e.g. make {plat.name}; verify: nm -D --defined-only {hal_hint} "
             f"| grep {first}"),
    )
    return missing


def _seed_row(rep: _Report, plat: Platform, shim: ElfInfo, api_missing: bool) -> bool | None:
    seed = SEED.get(plat.name)
    if seed is None:
        return None
    name, version = seed
    defs = shim.exports_named(name)
    if version is None:
        if defs:
            rep.add(f"seed: {name} exported", f"yes ({defs[0].spelled})", Status.PASS)
            return True
        rep.add(f"seed: {name} exported", f"no: {plat.shim} does not export {name}", Status.FAIL,
                headline=None if api_missing else f"{plat.shim} does not export {name}",
                fix=f"nm -D --defined-only {shim.path} | grep -w {name}   # must print a T line; "
                    f"rebuild with make {plat.name}")
        return False
    label = f"seed: {name}@@{version}"
    if any(d.version == version and not d.hidden_version for d in defs):
        rep.add(label, "present", Status.PASS)
        return True
    if defs:
        # Stock XSched exports it unversioned: the legacy check fails on a correct shim.
        rep.add(label, f"absent: the shim exports {_short_list([d.spelled for d in defs], 3)}; "
                "stock XSched is unversioned, so this legacy check does not prove or disprove "
                "interception (the binding rows above do)")
        return False
    rep.add(label, f"absent: {plat.shim} does not export {name} at all", Status.FAIL,
            headline=None if api_missing else f"{plat.shim} does not export {name}",
            fix=f"nm -D --defined-only {shim.path} | grep -w {name}   # must print a T line")
    return False


def check_symbols(ctx: CheckContext) -> Outcome:
    plat_name = ctx.fact("install", "platform")
    plat = PLATFORMS.get(plat_name) if isinstance(plat_name, str) else None
    facts: dict[str, object] = {"shim_exports": 0, "shim_versions": [], "runtime_versions": [],
                                "consumer_needs": {}, "consumers": [], "seed": None,
                                "cxx_missing": []}
    if plat is None:
        return Outcome(Status.SKIP, "no XSched platform known (the install check found none)",
                       facts=facts)
    libs: Mapping[str, str] = ctx.fact("install", "libs") or {}
    softlinks: Mapping[str, str] = ctx.fact("install", "softlinks") or {}
    mode = ctx.fact("install", "enable") or plat.enable
    driver_path: str | None = ctx.fact("driver", "path")
    rep = _Report()

    # -- the shim ---------------------------------------------------------------------------
    shim_path = libs.get(plat.shim)
    if not shim_path:
        return Outcome(Status.FAIL, f"{plat.shim} is not installed: nothing to intercept with",
                       (ev(plat.shim, "missing", Status.FAIL),),
                       f"make {plat.name}   # builds and installs {plat.shim}", facts=facts)
    shim = read_elf(shim_path, expect_class=_HOST_BITS)
    if isinstance(shim, ElfError):
        return Outcome(Status.FAIL, f"cannot read the shim: {shim.message}",
                       (ev(plat.shim, shim.message, Status.FAIL),),
                       f"make {plat.name}   # rebuild and reinstall {plat.shim}", facts=facts)
    api = shim.api_exports(plat.api_prefixes)
    helpers = [s for s in shim.exports if s.name.startswith("X")]
    pattern = "/".join(f"{p}*" for p in plat.api_prefixes)
    api_versions = sorted({s.version for s in api if s.version})
    unversioned = sum(1 for s in api if s.version is None)
    if not shim.versioned:
        vtext = "unversioned (no version nodes, as stock XSched builds it)"
    else:
        vtext = (f"version nodes {', '.join(shim.version_defs)}; API in "
                 f"{_short_list(api_versions) if api_versions else 'no node'}"
                 + (f", {unversioned} unversioned" if unversioned else ""))
    facts.update(shim_exports=len(api), shim_versions=list(shim.version_defs),
                 shim_api_versions=api_versions)
    if api:
        rep.add("shim exports", f"{len(api)} {pattern} API functions, "
                f"{_plural(len(helpers), 'X* helper')}; {vtext}", Status.PASS)
    else:
        rep.add("shim exports", f"0 {pattern} API functions ({_plural(len(helpers), 'X* helper')} "
                f"only, {shim.export_count} exports in all); {vtext}", Status.FAIL,
                headline=f"interception silently off: {plat.shim} exports no {pattern} API "
                         "symbols",
                fix=(f"rebuild {plat.shim} without the version script that hides the API "
                     f"(`local: *;` over {pattern}): make {plat.name}; verify: nm -D "
                     f"--defined-only {shim_path} | grep -c ' T {plat.api_prefixes[0]}'"))

    # -- the real runtime -------------------------------------------------------------------
    runtime: ElfInfo | None = None
    if not driver_path:
        rep.add("real runtime", "not known (the driver check found no real library)")
    else:
        r = read_elf(driver_path, undefined=False, expect_class=_HOST_BITS)
        if isinstance(r, ElfError):
            rep.add("real runtime", f"cannot read: {r.message}", Status.WARN)
        else:
            runtime = r
            facts["runtime_versions"] = list(r.version_defs)
            rep.add("real runtime", f"{_base(driver_path)} (soname {r.soname or 'none'}): "
                    + (f"version nodes {', '.join(r.version_defs)}" if r.version_defs
                       else "no version nodes (unversioned, so soname substitution is safe)"))
    names = _runtime_names(plat, runtime, driver_path)

    # -- consumers --------------------------------------------------------------------------
    injected = ctx.fact("symbols_input", "consumers")
    paths: list[str] = []
    if injected is not None:
        paths = [str(p) for p in injected][:MAX_CONSUMERS]
    else:
        try:
            paths = find_consumers(ctx.config.python)[:MAX_CONSUMERS]
        except ConsumerLookupError as exc:
            rep.add("consumers", f"PyTorch not inspected: {exc}")
        if not paths and not any(r.label == "consumers" for r in rep.rows):
            rep.add("consumers", f"no PyTorch GPU libraries found for {ctx.config.python}")
    consumers: list[_Consumer] = []
    needs_fact: dict[str, dict[str, list[str]]] = {}
    for p in paths:
        info = read_elf(p, exports=False, expect_class=_HOST_BITS)
        if isinstance(info, ElfError):
            rep.add(_base(p), f"cannot read: {info.message}")
            continue
        if _is_runtime(info.soname or _base(p), names, plat):
            # A runtime copy bundled with torch (ROCm wheels): two runtimes in one process.
            if driver_path and os.path.realpath(p) != os.path.realpath(driver_path):
                rep.add(_base(p), f"torch bundles its own runtime {p}; XSched loads {driver_path}"
                        ": two runtimes in one process", Status.WARN,
                        headline=f"torch bundles {_base(p)}, XSched loads another runtime",
                        fix=f"export {plat.driver_env}={p}")
            else:
                rep.add(_base(p), f"bundled runtime {p} (XSched loads the same file)")
            continue
        rt_files = tuple(dict.fromkeys(
            [n for n in info.needed if _is_runtime(n, names, plat)]
            + [vn.file for vn in info.version_needs if _is_runtime(vn.file, names, plat)]))
        c = _Consumer(p, p, rt_files, info.needs_from(rt_files), info.refs_from(rt_files)
                      + tuple(s for s in info.undefined if s.version is None and rt_files
                              and shim.exports_named(s.name)),
                      info.rpath, info.runpath)
        consumers.append(c)
        needs_fact[p] = {f: list(info.needs_from((f,))) for f in rt_files}
        rep.add(_base(p), _needs_text(c))
    facts["consumers"] = [c.path for c in consumers]
    facts["consumer_needs"] = needs_fact
    linked = [c for c in consumers if c.rt_files]
    if not linked and runtime is not None and driver_path and api:
        # No consumer at hand links the runtime: judge what any consumer built against it needs.
        linked = [_inferred_consumer(plat, runtime, driver_path, api)]
    if api and linked:
        _analyse_consumers(rep, plat, mode, shim, shim_path, softlinks, linked, runtime)

    # -- C++ symbols between shim and HAL, and the legacy seed row ----------------------------
    facts["cxx_missing"] = _check_cxx_imports(rep, plat, shim, shim_path, libs)
    facts["seed"] = _seed_row(rep, plat, shim, api_missing=not api)

    status = rep.status
    if status == Status.PASS:
        bound = len([c for c in consumers if c.rt_files])
        finding = (f"{plat.shim} exports {len(api)} {pattern} functions "
                   f"({'versioned' if shim.versioned else 'unversioned'}); "
                   + (f"{_plural(bound, 'consumer library', 'consumer libraries')} "
                      f"{'binds' if bound == 1 else 'bind'} to it via {mode}"
                      if bound else f"binds via {mode}"))
    else:
        worst = [h for s, h in rep.headlines if s == status]
        finding = worst[0] if worst else f"{plat.shim}: see the {status.value} rows"
        if len(worst) > 1:
            finding += f" (+{len(worst) - 1} more)"
    return Outcome(status, finding, tuple(rep.rows), "\n".join(dict.fromkeys(rep.fixes)),
                   facts=facts)


SPEC = CheckSpec(
    id="symbols", title="ELF symbols", func=check_symbols, requires=("install",),
    after=("driver",),
    description="The shim's exported API and version nodes against the real runtime and what "
                "PyTorch's GPU libraries need: version errors, silent bypass, hidden typeinfo.",
)
