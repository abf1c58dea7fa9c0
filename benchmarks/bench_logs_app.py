"""The whole app tailing busy logs in a real pseudo-terminal (PERFORMANCE.md "Log ingest", "Idle CPU",
"SSH bandwidth").

    python -m benchmarks.bench_logs_app [--seconds 10] [--files 64] [--rates 100000,10000]
        [--idle 10] [--no-latency] [--filtered] [--profile FILE] [--gc-threshold 10000,50,100]

``xsched-tui app --logs DIR`` runs in a 120x40 pty whose output is drained (and counted) by this
process; DIR holds ``--files`` empty ``worker-*.log`` files and ``aaa-marker.log`` before the app
starts, like running workers. The app opens on the Checks tab (its checks run once at start: we wait
until it is quiet), then a mouse click on the "Logs" tab label (its column is read from the output)
shows the merged live view. CPU is utime + stime of /proc/PID/stat (every thread: UI, hub, watcher),
one sample a second; "by thread" splits it with /proc/PID/task/*/schedstat (main/UI is the Textual
thread; the hub's worker is usually the busiest other one).

(a) idle: nothing written, Logs tab on screen. Budget <= 0.5 % of a core.
(b) busy: a separate writer process appends XSched-format lines (80 % INFO, 15 % DEBG, 4 % WARN,
    1 % ERRO) to the worker files at a total of RATE lines/s for ``--seconds``: the app's CPU % and
    the bytes/s it writes to the terminal (budget <= 64 KiB/s while tailing busy logs). The ingest
    budget is <= 50 % of a core at 100k lines/s. The view follows the merged tail.
(c) latency (unless --no-latency): the same, and every 0.25 s the writer appends one marker line
    ``MK<n>Q`` to aaa-marker.log; the view is scoped to that source (two clicks on its row in the
    sources table) so that every marker is drawn. write->screen latency = when the marker's bytes
    are read from the pty minus the writer's time.time() just before its write. Budget p95 <= 250 ms.
(d) with --filtered: the merged view filtered to the markers (the "&" include prompt), the same.

``--profile FILE`` cProfiles the UI thread during the first (b) and prints its top functions.
``--gc-threshold`` starts the app through a wrapper that calls ``gc.set_threshold`` first (an
experiment; ``cmd_app`` itself sets (10000, 50, 100) since this benchmark showed the defaults stall
the UI).
The writer runs in its own process; its CPU is not counted. Other load on the machine inflates CPU %
and latency: the load average is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import pstats
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time

from benchmarks.stats import machine, summarize

COLS, ROWS = 120, 40
_CLK = os.sysconf("SC_CLK_TCK")
_ESC = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[ -/]*[0-~])")
_CUP = re.compile(rb"\x1b\[(\d+);(\d+)H")
_MARK = re.compile(rb"MK(\d{6})Q")
MARKER_FILE = "aaa-marker.log"  # sorts first: the first source row of the Logs pane

WRITER = r"""
import os, sys, time
d, rate, secs, nfiles, mark_every = (sys.argv[1], float(sys.argv[2]), float(sys.argv[3]),
                                     int(sys.argv[4]), float(sys.argv[5]))
mark0 = int(sys.argv[6])
mfd = os.open(f"{d}/{MARKER_FILE}", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
fds = [os.open(f"{d}/worker-{2000 + i}.stderr.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
       for i in range(nfiles)]
tick = 0.01
per_tick = rate * tick
warn = ("fail to auto-create XQueue (level-4) for HwQueue 0x461c5f70, err: 2 "
        "@ /opt/xsched/preempt/src/xqueue/xqueue.cpp:136")
erro = "cuda error 700: an illegal memory access was encountered @ /opt/xsched/cuda_queue.cpp:47"
sys.stdout.write("ready\n"); sys.stdout.flush()
sys.stdin.readline()
start = time.monotonic()
k = seq = 0
owed = 0.0
marks = mark0
next_mark = start + (mark_every if mark_every > 0 else 1e18)
while True:
    now = time.monotonic()
    if now - start >= secs:
        break
    target = start + k * tick
    if target > now:
        time.sleep(target - now)
    w = time.time()
    lt = time.localtime(w)
    tod = f"{lt.tm_hour:02d}:{lt.tm_min:02d}:{lt.tm_sec:02d}.{int(w % 1 * 1e6):06d}"
    owed += per_tick
    n_tick = int(owed)
    owed -= n_tick
    base, rem = divmod(n_tick, nfiles)
    for i, fd in enumerate(fds):
        n = base + (1 if i < rem else 0)
        if not n:
            continue
        tid = 2000 + i
        out = []
        for _ in range(n):
            seq += 1
            r = seq % 100
            if r < 80:
                out.append(f"[XSCHED INFO @ T {tid} @ {tod}] bench w={w:.6f} seq={seq}\n")
            elif r < 95:
                out.append(f"[XSCHED DEBG @ T {tid} @ {tod}] bench w={w:.6f} seq={seq} @ /x/y.cpp:1\n")
            elif r < 99:
                out.append(f"[XSCHED WARN @ T {tid} @ {tod}] {warn}\n")
            else:
                out.append(f"[XSCHED ERRO @ T {tid} @ {tod}] {erro}\n")
        os.write(fd, "".join(out).encode())
    if time.monotonic() >= next_mark:
        next_mark += mark_every
        t_mark = time.time()
        os.write(mfd, f"[XSCHED INFO @ T 1999 @ {tod}] MK{marks:06d}Q marker\n".encode())
        sys.stdout.write(f"mark {marks} {t_mark:.6f}\n")
        sys.stdout.flush()
        marks += 1
    k += 1
sys.stdout.write(f"done {seq} {time.monotonic() - start:.6f} {marks}\n")
sys.stdout.flush()
"""


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process used so far."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        rest = f.read().rsplit(b")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / _CLK


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """Per thread of ``pid``: (name, CPU seconds so far) from /proc/PID/task/TID/schedstat (ns)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
        except (OSError, ValueError, IndexError):
            continue
        out[int(tid)] = (name, ns / 1e9)
    return out


def thread_split(pid: int, before: dict[int, tuple[str, float]], seconds: float) -> str:
    """The busiest threads since ``before``, in % of a core (the main thread is the UI)."""
    now = thread_cpu(pid)
    rows = []
    for tid, (name, t) in now.items():
        d = t - before.get(tid, (name, 0.0))[1]
        who = "main/UI" if tid == pid else name
        rows.append((100 * d / seconds, f"{who}[{tid}]"))
    rows.sort(reverse=True)
    return ", ".join(f"{w} {p:.2f} %" for p, w in rows[:5] if p >= 0.005)


class App:
    """The app in a pty, its output drained by a thread: bytes counted, markers timed."""

    def __init__(self, logs: str, gc_threshold: tuple[int, ...] | None = None,
                 profile: str | None = None, extra: tuple[str, ...] = ()) -> None:
        self.logs = logs
        args = ["--results", os.path.join(logs, ".results"), "--probe-timeout", "5", *extra,
                "app", "--logs", logs]
        if gc_threshold or profile:
            code = ["import sys"]
            if gc_threshold:
                code.append(f"import gc; gc.set_threshold(*{tuple(gc_threshold)!r})")
            if profile:  # the main (UI) thread only; SIGUSR1 writes the stats so far
                code.append("import cProfile, signal; _pr = cProfile.Profile()")
                code.append(f"def _dump(*a):\n _pr.disable(); _pr.dump_stats({profile!r}); _pr.enable()")
                code.append("signal.signal(signal.SIGUSR1, _dump); _pr.enable()")
            code.append(f"from xsched_tui.cli import main; sys.exit(main({args!r}))")
            argv = [sys.executable, "-c", "\n".join(code)]
        else:
            argv = [sys.executable, "-m", "xsched_tui", *args]
        pid, fd = pty.fork()
        if pid == 0:  # child: the app, in a 120x40 terminal
            os.environ.update({"COLUMNS": str(COLS), "LINES": str(ROWS), "TERM": "xterm-256color"})
            os.execv(sys.executable, argv)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.pid, self.fd = pid, fd
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.nbytes = 0
        self.raw = bytearray()  # the output (the last few MiB), for finding text on screen
        self.raw_start = 0  # offset of raw[0] in the whole output
        self.text_tail = b""  # stripped output, the last few KiB (for marker/text search)
        self.seen: dict[int, float] = {}  # marker number -> time.time() it was read
        self.closed = False
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        carry = b""
        while True:
            try:
                r, _, _ = select.select([self.fd], [], [], 0.1)
                if not r:
                    continue
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            now = time.time()
            data = carry + chunk
            # Keep an unfinished escape sequence for the next read.
            cut = data.rfind(b"\x1b")
            if cut >= 0 and len(data) - cut < 64 and not _ESC.match(data, cut):
                data, carry = data[:cut], data[cut:]
            else:
                carry = b""
            text = _ESC.sub(b"", data)
            with self.lock:
                self.nbytes += len(chunk)
                self.raw += chunk
                if len(self.raw) > 8 << 20:
                    drop = len(self.raw) - (4 << 20)
                    del self.raw[:drop]
                    self.raw_start += drop
                window = self.text_tail[-64:] + text
                for m in _MARK.finditer(window):
                    self.seen.setdefault(int(m.group(1)), now)
                self.text_tail = (self.text_tail + text)[-8192:]
        self.closed = True

    def cpu(self) -> float:
        return proc_cpu(self.pid)

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    @property
    def offset(self) -> int:
        """Bytes of output so far (a mark for wait_text)."""
        with self.lock:
            return self.raw_start + len(self.raw)

    def wait_text(self, needle: bytes, timeout: float, since: int = 0) -> bool:
        """Wait until ``needle`` is drawn (escape sequences removed) after output offset ``since``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                new = bytes(self.raw[max(0, since - self.raw_start):])
            if needle in _ESC.sub(b"", new):
                return True
            time.sleep(0.05)
        return False

    def locate(self, word: bytes, max_col: int = COLS) -> tuple[int, int] | None:
        """1-based (column, row) where ``word`` was drawn last at a column <= max_col, counted
        from the absolute cursor move before it."""
        with self.lock:
            raw = bytes(self.raw)
        found = None
        for m in re.finditer(re.escape(word), raw):
            i = m.start()
            cups = list(_CUP.finditer(raw, max(0, i - 4096), i))
            if not cups:
                continue
            c = cups[-1]
            between = _ESC.sub(b"", raw[c.end():i]).decode("utf-8", "replace")
            col = int(c.group(2)) + len(between)
            if col <= max_col:
                found = (col, int(c.group(1)))
        return found

    def click(self, col: int, row: int) -> None:
        self.send(f"\x1b[<0;{col};{row}M".encode())
        time.sleep(0.05)
        self.send(f"\x1b[<0;{col};{row}m".encode())

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGTERM)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            os.close(self.fd)


def quiet(app: App, below: float = 2.0, window: float = 1.0, limit: float = 40.0) -> float:
    """Wait until the app used less than ``below`` % of a core over ``window`` s; returns the wait."""
    t0 = time.monotonic()
    c0, w0 = app.cpu(), time.monotonic()
    while time.monotonic() - t0 < limit:
        time.sleep(window)
        c1, w1 = app.cpu(), time.monotonic()
        if 100 * (c1 - c0) / (w1 - w0) < below:
            break
        c0, w0 = c1, w1
    return time.monotonic() - t0


def sample(app: App, seconds: float) -> tuple[list[float], list[float], float]:
    """Per-second CPU % and tty bytes/s of the app, and the CPU % over the whole window."""
    cpu, bps = [], []
    start = time.monotonic()
    c_first = c0 = app.cpu()
    b0 = app.nbytes
    t0 = start
    for i in range(int(seconds)):
        time.sleep(max(0.0, start + i + 1 - time.monotonic()))
        t1, c1, b1 = time.monotonic(), app.cpu(), app.nbytes
        cpu.append(100.0 * (c1 - c0) / (t1 - t0))
        bps.append((b1 - b0) / (t1 - t0))
        t0, c0, b0 = t1, c1, b1
    return cpu, bps, 100.0 * (c0 - c_first) / (t0 - start)


class Writer:
    def __init__(self, d: str, rate: float, seconds: float, nfiles: int, mark_every: float,
                 mark0: int) -> None:
        self.p = subprocess.Popen(
            [sys.executable, "-c", f"MARKER_FILE = {MARKER_FILE!r}\n" + WRITER, d, str(rate),
             str(seconds), str(nfiles), str(mark_every), str(mark0)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.marks: dict[int, float] = {}
        self.done: tuple[int, float, int] | None = None
        assert self.p.stdout is not None
        self.p.stdout.readline()  # "ready"

    def go(self) -> None:
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write("go\n")
        self.p.stdin.flush()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            f = line.split()
            if f[0] == "mark":
                self.marks[int(f[1])] = float(f[2])
            elif f[0] == "done":
                self.done = (int(f[1]), float(f[2]), int(f[3]))

    def wait(self) -> None:
        try:
            self.p.wait(30)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
        end = time.monotonic() + 2
        while self.done is None and time.monotonic() < end:
            time.sleep(0.02)


def busy(app: App, d: str, rate: float, seconds: float, nfiles: int, mark_every: float,
         mark0: int) -> dict:
    w = Writer(d, rate, seconds, nfiles, mark_every, mark0)
    w.go()
    cpu, bps, whole = sample(app, seconds)
    w.wait()
    time.sleep(1.0)  # markers written in the last tick reach the screen
    lat = [app.seen[k] - t for k, t in w.marks.items() if k in app.seen]
    written, elapsed, marks = w.done or (0, seconds, mark0)
    return {"cpu": summarize(cpu), "bps": summarize(bps), "whole": whole, "lat": lat,
            "marks": len(w.marks), "missed": len(w.marks) - len(lat),
            "rate": written / elapsed if elapsed else 0.0, "written": written, "next_mark": marks}


def print_profile(path: str, base: pstats.Stats, top: int = 20) -> None:
    """The busy phase's share of the UI thread's profile: stats now minus stats before it."""
    now = pstats.Stats(path)
    b = base.stats  # type: ignore[attr-defined]
    diff = {}
    for func, (cc, nc, tt, ct, _callers) in now.stats.items():  # type: ignore[attr-defined]
        o = b.get(func)
        if o is not None:
            cc, nc, tt, ct = cc - o[0], nc - o[1], tt - o[2], ct - o[3]
        if nc > 0:
            diff[func] = (cc, nc, tt, ct)
    total = sum(v[2] for v in diff.values())
    print(f"    UI-thread profile of this phase (cProfile, {total:.2f} s own time in total; "
          f"profiling slows it down): own time, cumulative, calls")
    for func, (_cc, nc, tt, ct) in sorted(diff.items(), key=lambda kv: -kv[1][2])[:top]:
        name = f"{os.path.basename(func[0])}:{func[1]}({func[2]})"
        print(f"      {tt:7.3f} s {ct:7.3f} s {nc:9d}  {name}")
    print("    xsched_tui functions by cumulative time:")
    ours = [(k, v) for k, v in diff.items() if f"{os.sep}xsched_tui{os.sep}" in k[0]]
    for func, (_cc, nc, tt, ct) in sorted(ours, key=lambda kv: -kv[1][3])[:top // 2]:
        name = f"{os.path.basename(func[0])}:{func[1]}({func[2]})"
        print(f"      {tt:7.3f} s {ct:7.3f} s {nc:9d}  {name}")


def fmt_lat(lat: list[float], marks: int, missed: int) -> str:
    if not lat:
        return f"no marker reached the screen ({marks} written)"
    s = summarize(lat)
    return f"{s.fmt('ms', scale=1000)}; {marks} markers, {missed} never seen"


def select_row(app: App, label: bytes, status: bytes, timeout: float = 5.0) -> bool:
    """Click a row of the sources table twice (highlight, then select) and wait for ``status``."""
    pos = app.locate(label, max_col=8)  # the sources table's first column, not a log line
    if pos is None:
        return False
    mark = app.offset
    app.click(pos[0] + 1, pos[1])
    time.sleep(0.4)
    app.click(pos[0] + 1, pos[1])
    return app.wait_text(status, timeout, since=mark)


def phase(app: App, d: str, a: argparse.Namespace, rate: float, mark0: int, what: str) -> int:
    threads0 = thread_cpu(app.pid)
    r = busy(app, d, rate, a.seconds, a.files, 0.25, mark0)
    split = thread_split(app.pid, threads0, a.seconds)
    print(f"({what}) {a.files} files at {r['rate']:.0f} lines/s for {a.seconds:.0f} s "
          f"({r['written']} lines), {VIEWS[what]}:")
    print(f"    app CPU {r['cpu'].fmt('% of a core')}; whole window {r['whole']:.1f} %"
          f"  budget <= 50 % at 100k lines/s")
    print(f"    by thread (schedstat): {split}")
    print(f"    tty {r['bps'].fmt('KiB/s', scale=1 / 1024)}  budget <= 64 KiB/s")
    if what != "b":
        print(f"    write->screen latency {fmt_lat(r['lat'], r['marks'], r['missed'])}"
              f"  budget p95 <= 250 ms")
    quiet(app, limit=20)
    return r["next_mark"]


VIEWS = {
    "b": "merged view following the tail",
    "c": f"view scoped to {MARKER_FILE} (one marker line every 0.25 s)",
    "d": "merged view filtered to the markers (include regex MK[0-9]+Q)",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--files", type=int, default=64)
    ap.add_argument("--rates", default="100000,10000", help="lines/s, comma-separated")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of the idle measurement")
    ap.add_argument("--latency", action=argparse.BooleanOptionalAction, default=True,
                    help="(c): the view scoped to the marker file")
    ap.add_argument("--filtered", action=argparse.BooleanOptionalAction, default=False,
                    help="(d): the merged view filtered to the markers (an include regex)")
    ap.add_argument("--profile", metavar="FILE", default=None,
                    help="cProfile the app's main (UI) thread during the first busy phase; "
                         "write the stats to FILE and print the top functions")
    ap.add_argument("--gc-threshold", default=None,
                    help="start the app with gc.set_threshold(these) (e.g. 10000,50,50)")
    a = ap.parse_args()
    rates = [float(r) for r in a.rates.split(",") if r]
    gct = tuple(int(x) for x in a.gc_threshold.split(",")) if a.gc_threshold else None
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-logs-app-") as d:
        for i in range(a.files):
            open(os.path.join(d, f"worker-{2000 + i}.stderr.log"), "w").close()
        open(os.path.join(d, MARKER_FILE), "w").close()
        app = App(d, gct, a.profile)
        try:
            if not app.wait_text(b"Finding", 20):
                sys.exit("the app did not paint its first frame in 20 s")
            waited = quiet(app)
            pos = app.locate(b"Logs", max_col=40)
            if pos is None:
                sys.exit("no 'Logs' tab label on screen")
            mark = app.offset
            app.click(pos[0] + 1, pos[1])
            if not app.wait_text(b"All (merged)", 10, since=mark):
                sys.exit("clicking the 'Logs' tab did not show the Logs pane")
            quiet(app, limit=15)
            print(f"app pid {app.pid}{' gc.set_threshold' + str(gct) if gct else ''}: first frame, "
                  f"checks done after {waited:.1f} s; Logs tab at column {pos[0]}, row {pos[1]}")
            threads0 = thread_cpu(app.pid)
            cpu, bps, whole = sample(app, a.idle)
            print(f"(a) idle, Logs tab, {a.files + 1} files: CPU {summarize(cpu).fmt('% of a core')}; "
                  f"whole window {whole:.2f} %  budget <= 0.5 %; tty {sum(bps) / len(bps):.0f} B/s")
            print(f"    by thread (schedstat): {thread_split(app.pid, threads0, a.idle)}")
            mark0 = 0
            for k, rate in enumerate(rates):
                if a.profile and k == 0:
                    os.kill(app.pid, signal.SIGUSR1)  # stats so far: startup and idle
                    time.sleep(1.0)
                    base_stats = pstats.Stats(a.profile)
                mark0 = phase(app, d, a, rate, mark0, "b")
                if a.profile and k == 0:
                    os.kill(app.pid, signal.SIGUSR1)
                    time.sleep(2.0)
                    print_profile(a.profile, base_stats)
                if a.latency:
                    if select_row(app, MARKER_FILE.encode(), MARKER_FILE.encode() + b" (pid"):
                        mark0 = phase(app, d, a, rate, mark0, "c")
                    else:
                        print(f"    (could not select {MARKER_FILE} in the sources table)")
                    if not select_row(app, b"All (merged)", b"all sources merged"):
                        print("    (could not go back to the merged view)")
                if a.filtered:
                    app.click(COLS * 3 // 4, ROWS // 2)  # focus the log view: its bindings
                    m = app.offset
                    app.send(b"&")
                    time.sleep(0.3)
                    app.send(b"MK[0-9]+Q\r")
                    if not app.wait_text(b"only /MK[0-9]+Q/", 5, since=m):
                        print("    (the include filter did not show up on screen)")
                    quiet(app, limit=10)
                    mark0 = phase(app, d, a, rate, mark0, "d")
                    app.send(b"x")  # clear the filter
                    quiet(app, limit=20)
        finally:
            app.stop()
    with contextlib.suppress(OSError):
        load = os.getloadavg()
        print(f"load average after the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on "
              f"{os.cpu_count()} CPUs (other work on the machine inflates CPU % and latency)")


if __name__ == "__main__":
    main()

