"""Initial index of a big XSched log (PERFORMANCE.md "Initial index of a 1 GiB log" and "Memory").

Budgets for 1 GiB / ~11 M lines: tail visible <= 0.5 s; full line index <= 3 s (pure Python);
error/warn index <= 5 s; RSS <= 200 MiB total (peak <= 300 MiB); index <= 10 B/line.

    python -m benchmarks.bench_bigfile [--size-mib 1024] [-n 3] [--cold] [--dir /tmp]

The synthetic log is generated once (deterministic, in XSched's exact format: 80 % INFO, 15 % DEBG,
4 % WARN, 1 % ERRO, ~95 B/line) and cached under ``--dir``. Every run is a fresh child process, so
its peak RSS (VmHWM) is its own. ``--cold`` drops the file's pages from the page cache before each
run (posix_fadvise DONTNEED, no root needed); the default measures a warm cache.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.stats import Summary, machine, summarize

FORMAT_VERSION = 2
MIB = 1024 * 1024

_INFO = (
    "XQueue (0x{h:x}) from process {p} created",
    "XQueue (0x{h:x}) from process {p} destroyed",
    "client process {p} connected, cmdline: python3 wl.py bg {n}",
    "set priority {n} for XQueue 0x{h:x}",
    "utilization of process {p} set to {u}",
)
_DEBG = ("HPF: run XQueue 0x{h:x}, suspend 0x{h2:x}", "cmd {n} of XQueue 0x{h:x} completed")
_WARN = ("fail to auto-create XQueue (level-4) for HwQueue 0x{h:x}, err: 2 @ "
         "/opt/xsched/preempt/src/xqueue/xqueue.cpp:136",)
_ERRO = ("cuda error 700: an illegal memory access was encountered @ "
         "/opt/xsched/platforms/cuda/hal/src/cuda_queue.cpp:{n}",)


def generate(path: Path, size: int, seed: int = 42) -> tuple[int, int]:
    """Write ``size`` bytes (rounded up to a whole line) of XSched log to ``path``."""
    r = random.Random(seed)
    t = 2 * 3600 * 1_000_000
    written = lines = 0
    tmp = path.with_suffix(".partial")
    with open(tmp, "wb") as f:
        while written < size:
            buf = []
            for _ in range(20_000):
                x = r.random()
                if x < 0.80:
                    lv, msgs = "INFO", _INFO
                elif x < 0.95:
                    lv, msgs = "DEBG", _DEBG
                elif x < 0.99:
                    lv, msgs = "WARN", _WARN
                else:
                    lv, msgs = "ERRO", _ERRO
                t += r.randrange(1, 200)
                s, us = divmod(t, 1_000_000)
                h, s = divmod(s, 3600)
                m, s = divmod(s, 60)
                msg = r.choice(msgs).format(h=r.getrandbits(52), h2=r.getrandbits(52),
                                            p=r.randrange(1000, 65000), n=r.randrange(1, 1000),
                                            u=r.randrange(1, 100))
                buf.append(f"[XSCHED {lv} @ T {r.randrange(850, 2000)} @ "
                           f"{h % 24:02d}:{m:02d}:{s:02d}.{us:06d}] {msg}\n")
            data = "".join(buf).encode()
            if written + len(data) > size:  # stop at the first line end past size
                cut = data.find(b"\n", size - written) + 1
                data = data[: cut or len(data)]
            f.write(data)
            written += len(data)
            lines += data.count(b"\n")
    tmp.replace(path)
    return written, lines


def ensure_file(directory: Path, size_mib: int) -> tuple[Path, dict]:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"xsched-synthetic-{size_mib}MiB.log"
    meta_path = path.with_suffix(".json")
    want = {"version": FORMAT_VERSION, "size_mib": size_mib}
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if {k: meta.get(k) for k in want} == want and path.stat().st_size == meta.get("bytes"):
            return path, meta
    free = shutil.disk_usage(directory).free
    need = size_mib * MIB + 64 * MIB
    if free < need:
        fits = max(0, (free - 64 * MIB) // MIB)
        sys.exit(f"not enough free space in {directory}: {free / MIB:.0f} MiB free, {need / MIB:.0f} MiB "
                 f"needed; use --size-mib {fits} or --dir elsewhere")
    print(f"generating {size_mib} MiB of synthetic XSched log at {path} (once)…", file=sys.stderr)
    t0 = time.perf_counter()
    nbytes, nlines = generate(path, size_mib * MIB)
    meta = {**want, "bytes": nbytes, "lines": nlines}
    meta_path.write_text(json.dumps(meta))
    print(f"  {nbytes:,} bytes, {nlines:,} lines ({nbytes / nlines:.1f} B/line) in "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return path, meta


# -- one run, in a child process --------------------------------------------------------------


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for ln in f:
            if ln.startswith(field + ":"):
                return int(ln.split()[1])
    return 0


def child(path: str, cold: bool) -> dict:
    if cold:
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    t0 = time.perf_counter()
    from xsched_tui.core.logindex import LineIndex  # imports count: a user waits for them too
    from xsched_tui.core.logparse import parse_line

    t_import = time.perf_counter() - t0
    base_rss = _status_kib("VmRSS")
    t0 = time.perf_counter()
    idx = LineIndex(path)
    tail = idx.tail_lines(100)
    t_tail = time.perf_counter() - t0
    [parse_line(x) for x in tail]  # what the first screen draws
    t_tail_parsed = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    idx.build()
    t_index, c_index = time.perf_counter() - t0, time.process_time() - c0
    rss_index = _status_kib("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    lv = idx.level_index()
    t_levels, c_levels = time.perf_counter() - t0, time.process_time() - c0
    r = random.Random(1)
    n = idx.line_count
    t0 = time.perf_counter()
    for _ in range(2000):
        parse_line(idx.get_line(r.randrange(n)))
    t_random = (time.perf_counter() - t0) / 2000
    return {
        "import_s": t_import, "tail_s": t_tail, "tail_parsed_s": t_tail_parsed, "index_s": t_index,
        "levels_s": t_levels, "index_cpu_s": c_index, "levels_cpu_s": c_levels,
        "random_line_s": t_random, "lines": n, "bytes": idx.indexed_bytes,
        "index_bytes": idx.nbytes, "level_bytes": lv.nbytes, "hits": len(lv),
        "base_rss_kib": base_rss, "rss_after_index_kib": rss_index,
        "steady_rss_kib": _status_kib("VmRSS"), "peak_rss_kib": _status_kib("VmHWM"),
    }


def child_tui(path: str, cold: bool) -> dict:
    """The same file opened in the widget, headless (Pilot), 120x40: when is its tail on screen,
    when is the index and the ERRO/WARN index in use, and what does the whole process hold?"""
    import asyncio

    if cold:
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    from textual.app import App, ComposeResult

    from xsched_tui.core.linesource import FileLineSource
    from xsched_tui.tui.widgets.logview import LogPanel, LogView

    out: dict = {}

    class Viewer(App[None]):
        def compose(self) -> ComposeResult:
            yield LogPanel(FileLineSource(path), poll_interval=None)

    async def run() -> None:
        t0 = time.perf_counter()
        app = Viewer()
        async with app.run_test(size=(120, 40)) as pilot:
            view = app.query_one(LogView)
            src = view.source
            assert isinstance(src, FileLineSource)
            def tail_shown() -> bool:
                h = view.scrollable_content_region.height
                if not view.line_count or view.scroll_offset.y + h < view.line_count:
                    return False
                last = src.record(view.line_count - 1)
                return (last.time_text or last.text[:20]) in view.render_line(h - 1).text

            while not tail_shown():
                await pilot.pause(0.002)
                if time.perf_counter() - t0 > 120:
                    raise SystemExit("the tail never showed")
            out["tui_tail_s"] = time.perf_counter() - t0
            while not src.ready:
                await pilot.pause(0.01)
            out["tui_index_s"] = time.perf_counter() - t0
            await app.workers.wait_for_complete()
            await pilot.pause()
            out["tui_levels_s"] = time.perf_counter() - t0
            out["tui_lines"] = view.line_count
            out["tui_steady_rss_kib"] = _status_kib("VmRSS")
            out["tui_peak_rss_kib"] = _status_kib("VmHWM")

    asyncio.run(run())
    return out


def run_child(path: Path, cold: bool, tui: bool = False) -> dict:
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_bigfile",
                          "--child-tui" if tui else "--child", str(path)] + (["--cold"] if cold else []),
                         check=True, capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout)


def measure(directory: Path, size_mib: int, n: int, cold: bool, tui: bool) -> tuple[list[dict], dict]:
    """n runs (each a fresh process; with ``tui`` each also through the widget) on the cached
    synthetic file of ``size_mib`` MiB; returns the runs' figures and the file's metadata."""
    path, meta = ensure_file(directory, size_mib)
    run_child(path, False)  # warm-up (page cache, .pyc); not counted
    runs = [run_child(path, cold) for _ in range(n)]
    if tui:
        run_child(path, False, tui=True)
        for r in runs:
            r.update(run_child(path, cold, tui=True))
    return runs, meta


def report(runs: list[dict], meta: dict, cold: bool) -> None:
    def s(key: str) -> Summary:
        return summarize([r[key] for r in runs])

    def line(label: str, key: str, unit: str, scale: float, budget: str) -> None:
        x = s(key)
        print(f"  {label:<28} median {x.median * scale:8.3f} {unit:<4} range {x.min * scale:.3f}-"
              f"{x.max * scale:.3f}  (n={x.n})   budget {budget}")

    r0 = runs[0]
    try:
        load = " load average {:.2f} {:.2f} {:.2f};".format(*os.getloadavg())
    except OSError:
        load = ""
    print(f"big-file index, {meta['bytes'] / MIB:.0f} MiB, {r0['lines']:,} lines "
          f"({meta['bytes'] / r0['lines']:.1f} B/line), {'cold' if cold else 'warm'} page cache, "
          f"pure Python;{load} [{machine()}]")
    line("tail visible (open+tail 100)", "tail_s", "s", 1, "<= 0.5 s")
    line("  ... + parse those 100", "tail_parsed_s", "s", 1, "")
    line("full line index", "index_s", "s", 1, "<= 3 s (pure Python)")
    line("  ... its CPU time", "index_cpu_s", "s", 1, "")
    line("error/warn index", "levels_s", "s", 1, "<= 5 s")
    line("  ... its CPU time", "levels_cpu_s", "s", 1, "")
    line("random line get+parse", "random_line_s", "µs", 1e6, "")
    line("import logindex+logparse", "import_s", "s", 1, "")
    kib = 1 / 1024
    line("peak RSS (VmHWM)", "peak_rss_kib", "MiB", kib, "<= 300 MiB")
    line("steady RSS (VmRSS)", "steady_rss_kib", "MiB", kib, "<= 200 MiB total")
    line("RSS before indexing", "base_rss_kib", "MiB", kib, "")
    if "tui_tail_s" in r0:
        print("  in the TUI (LogPanel headless 120x40, from App() to the file's last line on screen):")
        line("tail on screen", "tui_tail_s", "s", 1, "<= 0.5 s")
        line("line index in use", "tui_index_s", "s", 1, "")
        line("ERRO/WARN index in use", "tui_levels_s", "s", 1, "")
        line("TUI process peak RSS", "tui_peak_rss_kib", "MiB", kib, "<= 300 MiB")
        line("TUI process steady RSS", "tui_steady_rss_kib", "MiB", kib, "<= 200 MiB total")
    print(f"  line index {r0['index_bytes']:,} B = {r0['index_bytes'] / r0['lines']:.3f} B/line "
          f"(budget <= 10 B/line); ERRO/WARN index {r0['level_bytes']:,} B for {r0['hits']:,} hits "
          f"= {r0['level_bytes'] / r0['lines']:.3f} B/line")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("-n", type=int, default=3, help="runs (each in a fresh process)")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/xsched-tui-bench"))
    ap.add_argument("--cold", action="store_true", help="drop the file from the page cache first")
    ap.add_argument("--no-tui", action="store_true", help="skip the runs through the widget")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-tui", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.cold)))
        return
    if a.child_tui:
        print(json.dumps(child_tui(a.child_tui, a.cold)))
        return
    runs, meta = measure(a.dir, a.size_mib, a.n, a.cold, not a.no_tui)
    report(runs, meta, a.cold)


if __name__ == "__main__":
    main()
