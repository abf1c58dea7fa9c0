"""Check: build and install folders, every library of the platform, softlinks and binaries."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from xsched_tui.core import runner
from xsched_tui.core.checks.base import CheckContext, CheckSpec, Evidence, Outcome, Status, ev
from xsched_tui.core.fsfacts import dir_problem, file_facts
from xsched_tui.core.platforms import PLATFORMS, Platform
from xsched_tui.core.xenv import enable_mode

SOURCE_SUFFIXES = (".c", ".cc", ".cpp", ".cu", ".h", ".hpp", ".cuh", ".txt", ".cmake")
SOURCE_SCAN_CAP = 30_000  # files; a source tree is ~2k files, a cap keeps a wrong path cheap
_SKIP_DIRS = {".git", "build", "output", "3rdparty", "docs", "examples", "test", "tests"}
_PKG_VERSION_RE = re.compile(r'set\s*\(\s*PACKAGE_VERSION\s+"([^"]+)"')


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def discover_installs(environ: Mapping[str, str], cwd: str) -> list[str]:
    """Folders that look like an XSched install (hold lib/libpreempt.so), most specific first."""
    cands: list[str] = []
    for var in ("LD_LIBRARY_PATH", "LD_PRELOAD"):
        for part in re.split(r"[:\s]+", environ.get(var, "")):
            if not part:
                continue
            d = os.path.dirname(part) if part.endswith(".so") else part
            cands.append(os.path.dirname(d.rstrip("/")) if d.rstrip("/").endswith("lib") else d)
    home = os.path.expanduser("~")
    cands += [os.path.join(cwd, "output"), os.path.join(home, "xsched", "output"),
              "/opt/xsched/output", "/usr/local/xsched"]
    out: list[str] = []
    for c in cands:
        c = os.path.realpath(c)
        if c not in out and os.path.isfile(os.path.join(c, "lib", "libpreempt.so")):
            out.append(c)
    return out


def detect_platforms(lib_dir: str) -> list[str]:
    return [name for name, p in PLATFORMS.items() if os.path.exists(os.path.join(lib_dir, p.shim))]


def install_version(install: str) -> str | None:
    path = os.path.join(install, "lib", "cmake", "XSched", "XSchedConfigVersion.cmake")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            m = _PKG_VERSION_RE.search(f.read(100_000))
    except OSError:
        return None
    return m.group(1) if m else None


def newest_source(source: str) -> tuple[str, float] | None:
    """The most recently modified source file (bounded walk, skipping build outputs)."""
    best: tuple[str, float] | None = None
    seen = 0
    for root, dirs, files in os.walk(source, onerror=lambda e: None):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".")]
        for name in files:
            if not name.endswith(SOURCE_SUFFIXES):
                continue
            seen += 1
            if seen > SOURCE_SCAN_CAP:
                return best
            p = os.path.join(root, name)
            try:
                m = os.stat(p).st_mtime
            except OSError:
                continue
            if best is None or m > best[1]:
                best = (p, m)
    return best


def ldconfig_paths(names: Iterable[str]) -> dict[str, list[str]]:
    """What ld.so.cache resolves for each soname (``ldconfig -p``), bounded by a timeout."""
    wanted = set(names)
    out: dict[str, list[str]] = {n: [] for n in wanted}
    for exe in ("/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig"):
        try:
            res = runner.run([exe, "-p"], timeout=5)
        except runner.StartError:
            continue
        for line in res.stdout:
            line = line.strip()
            name = line.split(" ", 1)[0]
            if name in wanted and "=>" in line:
                out[name].append(line.rsplit("=>", 1)[1].strip())
        break
    return out


def search_path_hits(lib_dir: str, names: Iterable[str], environ: Mapping[str, str]) -> list[str]:
    """Other copies of XSched libraries on the shell's LD_LIBRARY_PATH and in ld.so.cache."""
    hits: list[str] = []
    mine = os.path.realpath(lib_dir)
    names = list(names)
    for d in environ.get("LD_LIBRARY_PATH", "").split(os.pathsep):
        if not d or os.path.realpath(d) == mine:
            continue
        for n in names:
            p = os.path.join(d, n)
            if os.path.exists(p):
                hits.append(f"{p} (LD_LIBRARY_PATH of your shell)")
    for paths in ldconfig_paths(names).values():
        for p in paths:
            if os.path.realpath(os.path.dirname(p)) != mine:
                hits.append(f"{p} (ld.so.cache)")
    return hits


def check_install(ctx: CheckContext) -> Outcome:
    cfg = ctx.config
    rows: list[Evidence] = []
    status = Status.PASS
    fixes: list[str] = []

    def worse(s: Status) -> None:
        nonlocal status
        if s.severity > status.severity:
            status = s

    install = cfg.install_dir()
    origin = cfg.origin.get("xsched.install", "derived from xsched.source" if cfg.source else "")
    if not install:
        found = discover_installs(os.environ, os.getcwd())
        if not found:
            return Outcome(
                Status.FAIL,
                "no XSched install found (no install folder configured, none discovered)",
                (ev("searched", "LD_LIBRARY_PATH, LD_PRELOAD, ./output, ~/xsched/output, "
                    "/opt/xsched/output, /usr/local/xsched"),),
                fix="git clone https://github.com/XpuOS/xsched && cd xsched && make cuda   "
                    "# or: make hip\nxsched-tui --install /path/to/xsched/output check",
            )
        install, origin = found[0], "discovered"
        if len(found) > 1:
            rows.append(ev("other installs", ", ".join(found[1:]), Status.WARN))
            worse(Status.WARN)
            fixes.append(f"xsched-tui --install {found[0]}   # pick one explicitly")
    problem = dir_problem(install, "install folder")
    if problem:
        return Outcome(Status.FAIL, problem, (ev("install", f"{install} ({origin})"),),
                       fix="make cuda INSTALL_PATH=<folder>   # then: xsched-tui --install <folder>")
    rows.insert(0, ev("install", f"{os.path.realpath(install)} ({origin or 'configured'})"))
    lib_dir = os.path.join(install, "lib")
    bin_dir = os.path.join(install, "bin")
    lib_problem = dir_problem(lib_dir, "library folder")
    if lib_problem:
        return Outcome(Status.FAIL, lib_problem, tuple(rows),
                       fix="Re-run `make <platform>`: the install step did not complete")

    version = install_version(install)
    if version:
        rows.append(ev("installed version", version))

    # Platform: configured, else detected from the shims present.
    detected = detect_platforms(lib_dir)
    if cfg.platform != "auto":
        plat_name, plat_origin = cfg.platform, cfg.origin.get("xsched.platform", "configured")
        if plat_name not in detected:
            rows.append(ev("platform", f"{plat_name} configured, but {PLATFORMS[plat_name].shim} "
                           f"is not in {lib_dir} (found: {', '.join(detected) or 'none'})",
                           Status.FAIL))
            worse(Status.FAIL)
    elif detected:
        plat_name, plat_origin = detected[0], "detected"
        if len(detected) > 1:
            rows.append(ev("platform", f"several installed ({', '.join(detected)}); using "
                           f"{plat_name}", Status.WARN))
            worse(Status.WARN)
            fixes.append(f"xsched-tui --platform {plat_name}   # choose explicitly")
    else:
        rows.append(ev("platform", f"no libshim<platform>.so in {lib_dir}", Status.FAIL))
        return Outcome(Status.FAIL, f"no XSched shim library in {lib_dir}", tuple(rows),
                       fix="make cuda   # or make hip; a failed `make` can leave a partial install")
    plat: Platform = PLATFORMS[plat_name]
    mode = enable_mode(plat, cfg.enable)
    rows.append(ev("platform", f"{plat_name} ({plat_origin}); enabled via {mode}"))
    if plat_name == "cuda" and mode == "LD_PRELOAD":
        # libcudart dlopen()s "libcuda.so.1" and takes pointers from cuGetProcAddress: the
        # preloaded shim is bypassed unless the softlink folder is on LD_LIBRARY_PATH (FACTS §5.3).
        rows.append(ev("enable mode", "LD_PRELOAD alone: libcudart loads the real libcuda.so.1 "
                       "by soname and bypasses the shim (scheduler line, but no XQueue)",
                       Status.WARN))
        worse(Status.WARN)
        fixes.append("xsched-tui --enable LD_LIBRARY_PATH   # XSched's documented CUDA mode")

    # Libraries.
    libs: dict[str, str] = {}
    lib_mtimes: list[tuple[str, float]] = []
    for name in plat.libraries:
        path = os.path.join(lib_dir, name)
        ff = file_facts(path)
        if ff.exists and ff.is_file and not ff.error and not _is_elf(path):
            rows.append(ev(name, f"{ff.describe()}: not an ELF shared library", Status.FAIL))
            worse(Status.FAIL)
        elif ff.exists and ff.is_file and not ff.error:
            libs[name] = path
            rows.append(ev(name, ff.describe(), Status.PASS))
            if ff.mtime is not None:
                lib_mtimes.append((name, ff.mtime))
        else:
            rows.append(ev(name, ff.describe(), Status.FAIL))
            worse(Status.FAIL)
    if len(libs) < len(plat.libraries):
        fixes.append(f"make {plat_name}   # then check that {lib_dir} holds "
                     + ", ".join(plat.libraries))

    # Softlinks to the shim (how LD_LIBRARY_PATH mode substitutes the driver by soname).
    softlinks: dict[str, str] = {}
    shim_real = os.path.realpath(os.path.join(lib_dir, plat.shim))
    for name in plat.softlinks:
        path = os.path.join(lib_dir, name)
        ff = file_facts(path, want_hash=False)
        need = mode == "LD_LIBRARY_PATH"
        bad = Status.FAIL if need else Status.WARN
        if ff.broken_link:
            rows.append(ev(name, f"broken softlink -> {ff.link_target}", Status.FAIL))
            worse(Status.FAIL)
            fixes.append(f"ln -sf {plat.shim} {path}")
        elif not ff.exists:
            rows.append(ev(name, "missing" + (" (needed: the shim is found by this soname)"
                                              if need else ""), bad))
            worse(bad)
            fixes.append(f"ln -s {plat.shim} {path}   # or rebuild with SHIM_SOFTLINK=ON")
        elif not ff.is_link:
            rows.append(ev(name, f"a regular file, not a softlink to {plat.shim}", Status.WARN))
            worse(Status.WARN)
        elif ff.real_path != shim_real:
            rows.append(ev(name, f"-> {ff.link_target}, which is not {plat.shim}", Status.FAIL))
            worse(Status.FAIL)
        else:
            softlinks[name] = path
            rows.append(ev(name, f"-> {ff.link_target}", Status.PASS))

    # Binaries.
    for name in ("xserver", "xcli"):
        path = os.path.join(bin_dir, name)
        ff = file_facts(path)
        if ff.exists and ff.is_file and os.access(path, os.X_OK):
            rows.append(ev(f"bin/{name}", ff.describe(), Status.PASS))
        else:
            what = ff.describe() if not ff.exists else "not executable"
            rows.append(ev(f"bin/{name}", what, Status.WARN))
            worse(Status.WARN)
            fixes.append("the global scheduler needs bin/xserver: rebuild with BUILD_SERVICE=ON")

    # Build folder and freshness against the sources.
    build = cfg.build_dir()
    if build:
        if os.path.isdir(build):
            btype = None
            try:
                with open(os.path.join(build, "CMakeCache.txt"), errors="replace") as f:
                    for line in f:
                        if line.startswith("CMAKE_BUILD_TYPE:"):
                            btype = line.split("=", 1)[1].strip()
                            break
            except OSError:
                pass
            rows.append(ev("build folder", f"{build}" + (f" ({btype} build"
                           + ("; DEBG lines are compiled out)" if btype == "Release" else ")")
                           if btype else "")))
        else:
            rows.append(ev("build folder", f"{build} does not exist", Status.WARN))
            worse(Status.WARN)
    if cfg.source and lib_mtimes and os.path.isdir(cfg.source):
        newest = newest_source(cfg.source)
        oldest_lib = min(lib_mtimes, key=lambda t: t[1])
        if newest and newest[1] > oldest_lib[1]:
            rel = os.path.relpath(newest[0], cfg.source)
            rows.append(ev("freshness", f"{oldest_lib[0]} is older than {rel}: the install "
                           "does not contain your latest source changes", Status.WARN))
            worse(Status.WARN)
            fixes.append(f"make -C {cfg.source} {plat_name}")
        elif newest:
            rows.append(ev("freshness", "libraries are newer than every source file", Status.PASS))

    # Other installs a process could load instead.
    names = [plat.shim, "libpreempt.so", *plat.softlinks]
    hits = search_path_hits(lib_dir, names, os.environ)
    if hits:
        rows.append(ev("search path", "other XSched libraries: " + "; ".join(hits[:6]),
                       Status.WARN))
        worse(Status.WARN)
        fixes.append("remove stale XSched copies from LD_LIBRARY_PATH / ld.so.cache; "
                     f"workloads started by xsched-tui load {lib_dir} first")

    present = len(libs)
    finding = (f"{plat_name} install at {install}: {present}/{len(plat.libraries)} libraries"
               + (f", {len(softlinks)}/{len(plat.softlinks)} softlinks" if plat.softlinks else ""))
    if status == Status.FAIL:
        finding = "incomplete " + finding
    return Outcome(
        status, finding, tuple(rows), "\n".join(dict.fromkeys(fixes)),
        facts={"install": install, "lib_dir": lib_dir, "bin_dir": bin_dir, "platform": plat_name,
               "libs": libs, "softlinks": softlinks, "enable": mode, "version": version},
    )


SPEC = CheckSpec(
    "install", "Build and install", check_install, after=("source",),
    description="Install folder, every library of the platform with size/mtime/hash, softlinks, "
                "xserver/xcli, freshness against the sources, other installs on the search path.",
)
