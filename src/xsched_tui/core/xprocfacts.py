"""Is XSched in this process, how did it get in, and what will it do (FACTS §8 checklist)?

Built from the libraries a process maps and the environment it was started with. The verdicts
use XSched's own rules (core/xenv.py), and every problem is a sentence in ``notes``. Library
hashes are computed once per (device, inode, size, mtime), so a refresh that finds nothing new
hashes nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from xsched_tui.core import procfacts, xenv
from xsched_tui.core.config import Config, is_xsched_env_name
from xsched_tui.core.fsfacts import short_hash
from xsched_tui.core.platforms import PLATFORMS
from xsched_tui.core.procfacts import MappedFile
from xsched_tui.core.procrecords import LibFile, XSchedProcFacts

ENV_KEYS = ("LD_PRELOAD", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
            "ROCR_VISIBLE_DEVICES")
MAX_ENV_VALUE = 4096
MAX_HASHES = 1024
MAX_HISTORY = 1024
_SCHED = {"app": "APP", "local": "LCL", "global": "GLB"}
_SHIM_NAMES = {p.shim: name for name, p in PLATFORMS.items()}


def _cut(v: str) -> str:
    return v if len(v) <= MAX_ENV_VALUE else v[:MAX_ENV_VALUE] + "…"


def interesting_env(env: Mapping[str, str]) -> dict[str, str]:
    """The variables the process view shows: XSched's, XLOG_*, the loader's, device masks."""
    return {k: _cut(v) for k, v in sorted(env.items())
            if is_xsched_env_name(k) or k.startswith("XLOG_") or k in ENV_KEYS}


def preload_shim(env: Mapping[str, str]) -> str | None:
    """The first libshim*.so that LD_PRELOAD names (as written)."""
    for part in re.split(r"[:\s]+", env.get("LD_PRELOAD", "")):
        if part and procfacts.xsched_role(part) == "shim":
            return part
    return None


class FactsContext:
    """Caches shared by every process of one collector: hashes, shim folders, run history."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config
        self._hashes: dict[tuple[int, int, int, float], str | None] = {}
        self._shim_dirs: dict[str, str | None] = {}
        # command line -> (pid, start, shim sha, (pid, shim sha) of the run before it or None)
        self.history: dict[tuple[str, ...], tuple[int, int, str, tuple[int, str] | None]] = {}
        self.hash_calls = 0  # for tests and the benchmark: how often a file was really hashed

    def forget_dirs(self) -> None:
        """Folders gain and lose shims: the discover cycle forgets what it knew."""
        self._shim_dirs.clear()

    # -- files ------------------------------------------------------------------------------
    def sha(self, path: str, st: os.stat_result) -> str | None:
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime)
        if key not in self._hashes:
            if len(self._hashes) >= MAX_HASHES:
                self._hashes.pop(next(iter(self._hashes)))
            self.hash_calls += 1
            self._hashes[key] = short_hash(path, st.st_size)
        return self._hashes[key]

    def lib_file(self, f: MappedFile) -> tuple[LibFile, str | None]:
        """The on-disk facts of a mapped library, and a note when disk and mapping disagree."""
        if f.deleted:
            return LibFile(f.path, None, None, None, True), (
                f"{f.path} was deleted or replaced on disk after this process loaded it: "
                "it runs an older build than the file now installed")
        try:
            st = os.stat(f.path)
        except OSError:
            return LibFile(f.path, None, None, None), (
                f"{f.path} is mapped but not visible from here (another mount namespace, "
                "e.g. a container): size and hash unknown")
        if (f.inode and st.st_ino != f.inode) or (f.dev and _dev(f.dev) not in (None, st.st_dev)):
            return LibFile(f.path, st.st_size, st.st_mtime, None), (
                f"{f.path} on this host is a different file from the one mapped (another mount "
                "namespace?): its hash is not shown")
        return LibFile(f.path, st.st_size, st.st_mtime, self.sha(f.path, st)), None

    def shim_in_dir(self, folder: str) -> str | None:
        """The platform whose shim (or softlink to it) is in ``folder``, if any."""
        if folder not in self._shim_dirs:
            found = None
            for name, p in PLATFORMS.items():
                if os.path.exists(os.path.join(folder, p.shim)):
                    found = name
                    break
            if len(self._shim_dirs) > 4096:
                self._shim_dirs.clear()
            self._shim_dirs[folder] = found
        return self._shim_dirs[folder]

    def ld_path_platform(self, env: Mapping[str, str]) -> tuple[str, str] | None:
        """(platform, folder) of the first LD_LIBRARY_PATH folder holding an XSched shim."""
        for part in env.get("LD_LIBRARY_PATH", "").split(":"):
            if part and os.path.isabs(part):
                p = self.shim_in_dir(part)
                if p:
                    return p, part
        return None

    # -- traces -----------------------------------------------------------------------------
    def env_trace(self, env: Mapping[str, str]) -> bool:
        """Does the environment say XSched (variables, preloaded shim, shim folder)?"""
        if any(is_xsched_env_name(k) and k != "XLOG_LEVEL" for k in env):
            return True
        return preload_shim(env) is not None or self.ld_path_platform(env) is not None


def _dev(text: str) -> int | None:
    """maps' "fe:01" (hex major:minor) as an st_dev number."""
    try:
        major, minor = text.split(":")
        return os.makedev(int(major, 16), int(minor, 16))
    except (ValueError, AttributeError):
        return None


def build_facts(
    files: Sequence[MappedFile],
    env: Mapping[str, str] | None,
    *,
    ctx: FactsContext,
    maps_error: str | None = None,
    env_error: str | None = None,
    cmdline: tuple[str, ...] = (),
    identity: tuple[int, int] | None = None,
    young: bool = False,
) -> XSchedProcFacts | None:
    """The XSched facts of one process, or None when it has no XSched trace at all.

    ``files`` are the relevant mapped files (procread.relevant_files); ``identity`` is
    (pid, start time) for the run history; ``young`` softens "not loaded" while the loader
    may still be at work.
    """
    env = env or {}
    roles: dict[str, MappedFile] = {}
    for role, f in procfacts.xsched_libs(files):
        roles.setdefault(role, f)
    has_env = ctx.env_trace(env)
    if not roles and not has_env:
        return None
    notes: list[str] = []

    # Platform: the mapped library names say it for sure; the environment only suggests it.
    platform = None
    for role in ("shim", "hal"):
        if role in roles:
            platform = procfacts.lib_platform(roles[role].path)
            if platform:
                break
    pre = preload_shim(env)
    ldp = ctx.ld_path_platform(env)
    if platform is None:
        if pre:
            platform = procfacts.lib_platform(pre)
        elif ldp:
            platform = ldp[0]
        else:
            platform = next((n for n, p in PLATFORMS.items() if p.driver_env in env), None)

    libs: dict[str, LibFile | None] = {"shim": None, "hal": None, "preempt": None}
    for role, f in roles.items():
        lf, note = ctx.lib_file(f)
        libs[role] = lf
        if note:
            notes.append(note)

    # How the shim got in: LD_PRELOAD wins (it is loaded first), else a softlink folder.
    enable = "LD_PRELOAD" if pre else ("LD_LIBRARY_PATH" if ldp else None)

    plats: Iterable[str] = [platform] if platform else list(PLATFORMS)
    runtimes: list[str] = []
    two: tuple[str, ...] = ()
    for p in plats:
        for f in procfacts.runtime_libs(files, p):
            if f.shown not in runtimes:
                runtimes.append(f.shown)
        two = two or procfacts.two_runtimes(files, p)
    if two:
        drv = PLATFORMS[platform].driver_env if platform else "XSCHED_<PLATFORM>_LIB"
        notes.append(f"two different {platform or 'GPU'} runtimes are mapped ({', '.join(two)}): "
                     f"XSched may intercept one while the app uses the other; set {drv} to the "
                     "one the app loads")

    verdict = xenv.scheduler_verdict(env)
    pi = xenv.parse_int
    auto_raw = env.get("XSCHED_AUTO_XQUEUE")
    auto = None if auto_raw is None else xenv.parse_bool(auto_raw) is True

    # Problems in the variables themselves, in XSched's own parsing rules (legacy GBL/AMG,
    # "true" for a boolean, batch > threshold, *_LIB pointing nowhere, a missing preload...).
    for finding in xenv.validate(env):
        if finding.severity in ("fail", "warn") and finding.var != "LD_LIBRARY_PATH":
            notes.append(finding.message)

    shim = roles.get("shim")
    if shim is None and maps_error is None:
        if young:
            notes.append("no XSched shim is mapped yet (the process is still starting)")
        else:
            notes.append("XSched is configured in the environment but no XSched shim is mapped: "
                         "this process runs natively (for CUDA the shim is loaded with the driver, "
                         "on first GPU use)")
    if shim is not None:
        if verdict.scheduler == "app":
            notes.append(f"XSched is loaded but uses the app-managed scheduler ({verdict.reason}): "
                         "nothing is scheduled unless the application calls XSched's APIs itself")
        elif not auto:
            notes.append("XSCHED_AUTO_XQUEUE is not on: no XQueue is created automatically, so "
                         "nothing is scheduled unless the application creates XQueues")
    if platform == "cuda" and enable == "LD_PRELOAD" and not ldp and shim is not None:
        notes.append("the CUDA shim is preloaded without its softlink folder on LD_LIBRARY_PATH: "
                     "libcudart loads the real libcuda.so.1 and bypasses XSched (FACTS §11)")

    shim_lf = libs["shim"]
    if shim is not None and shim_lf is not None:
        notes.extend(_install_notes(ctx, platform, shim, shim_lf))
        if identity is not None and shim_lf.sha and cmdline:
            entry = ctx.history.get(cmdline)
            if entry is None or entry[:2] != identity:
                # a new run of this command: the run before it is the one to compare with
                before = (entry[0], entry[2]) if entry is not None else None
                if entry is None and len(ctx.history) >= MAX_HISTORY:
                    ctx.history.pop(next(iter(ctx.history)))
                entry = ctx.history[cmdline] = (identity[0], identity[1], shim_lf.sha, before)
            # The same run's facts are rebuilt whenever its mappings change (the real driver
            # is dlopen'ed later): the note must survive that, so it compares with the stored
            # previous run, not with the latest entry (which is this run).
            before = entry[3]
            if before is not None and before[1] != shim_lf.sha:
                notes.append(f"the shim changed since the previous run of this command (PID "
                             f"{before[0]}): sha256 {before[1]} -> {shim_lf.sha}")

    return XSchedProcFacts(
        platform=platform,
        shim=libs["shim"], hal=libs["hal"], preempt=libs["preempt"],
        runtimes=tuple(runtimes), two_runtimes=two,
        env=MappingProxyType(interesting_env(env)),
        enable=enable,
        scheduler=_SCHED.get(verdict.scheduler),
        policy=verdict.policy,
        priority=pi(env.get("XSCHED_AUTO_XQUEUE_PRIORITY")),
        level=pi(env.get("XSCHED_AUTO_XQUEUE_LEVEL")),
        threshold=pi(env.get("XSCHED_AUTO_XQUEUE_THRESHOLD")),
        batch_size=pi(env.get("XSCHED_AUTO_XQUEUE_BATCH_SIZE")),
        utilization=pi(env.get("XSCHED_AUTO_XQUEUE_UTILIZATION")),
        auto_xqueue=auto,
        notes=tuple(dict.fromkeys(notes)),  # drop repeats, keep order
        maps_error=maps_error,
        env_error=env_error,
    )


def _install_notes(ctx: FactsContext, platform: str | None, shim: MappedFile,
                   lf: LibFile) -> list[str]:
    """Does the mapped shim match the configured install's (FIELD-NOTES §4 rows 2 and 12)?"""
    cfg = ctx.config
    install = cfg.install_dir() if cfg is not None else None
    if not install or not platform:
        return []
    want = os.path.join(install, "lib", PLATFORMS[platform].shim)
    try:
        st = os.stat(want)
    except OSError:
        return [f"the configured install has no {PLATFORMS[platform].shim} ({want}); this process "
                f"maps {shim.path}"]
    real_want = os.path.realpath(want)
    real_have = os.path.realpath(shim.path)
    want_sha = ctx.sha(want, st)
    if real_want == real_have and (lf.sha is None or want_sha == lf.sha):
        return []
    if lf.sha and want_sha and lf.sha != want_sha:
        return [f"the mapped shim {shim.path} (sha256 {lf.sha}) differs from the configured "
                f"install's {want} (sha256 {want_sha}): this process runs another build"]
    return [f"the mapped shim {shim.path} is not the configured install's {want} "
            "(same content)" if lf.sha and lf.sha == want_sha else
            f"the mapped shim {shim.path} is not the configured install's {want}"]

