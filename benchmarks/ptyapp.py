"""Shared machinery of the benchmarks that run a terminal program in a real 120x40 pseudo-terminal:
start it, drain (and count) what it writes to the terminal, find text on screen, click, sample its
CPU and memory from /proc, and a separate writer process that appends XSched-format lines to many
log files. Used by bench_logs_app, bench_procs_app, bench_startup, bench_soak and the suite's
comparison with htop and toolong (the same pty, the same sampling, so the ratios mean something).

CPU is utime + stime of /proc/PID/stat (every thread of the process); the writer's CPU is never
counted. Other load on the machine inflates CPU % and latency: ``load_line()`` says how much there
was, and ``bench_lock()`` serialises benchmark runs of several people on one machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator, Sequence

COLS, ROWS = 120, 40
_CLK = os.sysconf("SC_CLK_TCK")
_ESC = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[ -/]*[0-~])")
_CUP = re.compile(rb"\x1b\[(\d+);(\d+)H")
_MARK = re.compile(rb"MK(\d{6})Q")
MARKER_FILE = "aaa-marker.log"  # sorts first: the first source row of the Logs pane
# Everyone's benchmarks on this machine serialise on it; tests point it elsewhere (they assert no
# timing, so they need not wait for someone's 10-minute soak).
LOCK_PATH = os.environ.get("XSCHED_BENCH_LOCK", "/tmp/xsched-bench.lock")

WRITER = r"""
import os, sys, time
d, rate, secs, nfiles, mark_every = (sys.argv[1], float(sys.argv[2]), float(sys.argv[3]),
                                     int(sys.argv[4]), float(sys.argv[5]))
mark0 = int(sys.argv[6])
line_writes = len(sys.argv) > 7 and sys.argv[7] == "1"  # one write() per line, as XSched's stderr
mfd = os.open(f"{d}/{MARKER_FILE}", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if mark_every > 0 else -1
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
        if line_writes:
            for s in out:
                os.write(fd, s.encode())
        else:
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


# -- /proc ---------------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process used so far."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        rest = f.read().rsplit(b")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / _CLK


def proc_cpu_ns(pid: int) -> float:
    """CPU seconds of the live threads of ``pid`` from schedstat (nanoseconds): utime + stime come
    in 10 ms ticks, too coarse for a per-second sample of an app idling at 0.3 %. Threads that
    already exited are not counted (the whole-window figures use ``proc_cpu``, which counts them)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


def proc_status_kib(pid: int, field: str = "VmRSS") -> int | None:
    """A kB field of /proc/PID/status (VmRSS, VmHWM, ...), None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for ln in f:
                if ln.startswith(field + ":"):
                    return int(ln.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


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


def load_line() -> str:
    """The load average, to print next to every result (other work inflates CPU % and latency)."""
    try:
        a, b, c = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {a:.2f} {b:.2f} {c:.2f} on {os.cpu_count()} CPUs"


def _inherited(path: str) -> bool:
    """Whether this process already has ``path`` open from its parent: ``flock LOCK cmd`` passes
    its locked descriptor down, and locking a second descriptor of the same file would wait for
    ever on our own parent."""
    try:
        st = os.stat(path)
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                f = os.fstat(int(fd))
                if (f.st_dev, f.st_ino) == (st.st_dev, st.st_ino):
                    return True
    except OSError:
        return False
    return False


@contextlib.contextmanager
def bench_lock(path: str | None = None, say: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` while measuring: several people share this machine and
    two benchmarks at once would each measure the other's load. A nested call, or one under
    ``flock LOCK cmd`` (the descriptor is inherited), does not lock again."""
    path = path or LOCK_PATH
    if getattr(bench_lock, "_held", False) or _inherited(path):
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if say:
                say(f"waiting for {path} (another benchmark is measuring)")
            fcntl.flock(fd, fcntl.LOCK_EX)
        bench_lock._held = True  # type: ignore[attr-defined]
        yield
    finally:
        bench_lock._held = False  # type: ignore[attr-defined]
        os.close(fd)  # releases the lock


# -- a program in a pty ----------------------------------------------------------------------------


class Pty:
    """A program in a 120x40 pty, its output drained by a thread: bytes counted, markers timed."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None,
                 cwd: str | None = None, inherit_env: bool = True) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # child: the program, in a 120x40 terminal
            try:
                if not inherit_env:  # ``env`` is the whole environment (tests strip XSched's)
                    os.environ.clear()
                os.environ.update({"COLUMNS": str(COLS), "LINES": str(ROWS), "TERM": "xterm-256color"})
                os.environ.update(env or {})
                if cwd:
                    os.chdir(cwd)
                os.execvp(argv[0], list(argv))
            finally:
                os._exit(127)
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
            except (OSError, ValueError):  # closed (the program exited, or a hang-up: fd -1)
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

    def rss_kib(self) -> int | None:
        return proc_status_kib(self.pid, "VmRSS")

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


class App(Pty):
    """``xsched-tui app --logs LOGS`` in a pty (optionally through a wrapper that sets the GC
    threshold or cProfiles the UI thread first)."""

    def __init__(self, logs: str, gc_threshold: tuple[int, ...] | None = None,
                 profile: str | None = None, extra: tuple[str, ...] = (),
                 app_args: tuple[str, ...] = ()) -> None:
        self.logs = logs
        args = ["--results", os.path.join(logs, ".results"), "--probe-timeout", "5", *extra,
                "app", "--logs", logs, *app_args]
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
        super().__init__(argv)


def first_text(argv: Sequence[str], needle: bytes, timeout: float = 10.0,
               env: dict[str, str] | None = None) -> float:
    """Seconds from starting ``argv`` in a 120x40 pty until ``needle`` appears in its raw output
    (NaN on timeout). Reads the pty directly, without Pty's 50 ms polling, for a fine clock."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.environ.update({"COLUMNS": str(COLS), "LINES": str(ROWS), "TERM": "xterm-256color"})
            os.environ.update(env or {})
            os.execvp(argv[0], list(argv))
        finally:
            os._exit(127)
    t0 = time.perf_counter()
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    buf = b""
    elapsed = float("nan")
    try:
        while time.perf_counter() - t0 < timeout:
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                buf += chunk
                # raw first (cheap); the new chunk stripped of escapes for text drawn in colours.
                # Never re-scan the whole buffer: on 2 vCPUs this loop competes with the child.
                if needle in buf[-len(chunk) - len(needle):] or needle in _ESC.sub(b"", chunk):
                    elapsed = time.perf_counter() - t0
                    break
    finally:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 5
        while time.time() < deadline:
            with contextlib.suppress(OSError):
                os.read(fd, 65536)
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.02)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    return elapsed


# -- measuring ------------------------------------------------------------------------------------


def quiet(app: Pty, below: float = 2.0, window: float = 1.0, limit: float = 40.0) -> float:
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


def sample(app: Pty, seconds: float) -> tuple[list[float], list[float], float]:
    """Per-second CPU % (schedstat, ns resolution) and tty bytes/s of the app, and the CPU % over
    the whole window (utime + stime, exited threads included)."""
    cpu, bps = [], []
    start = time.monotonic()
    c_first = app.cpu()
    c0 = proc_cpu_ns(app.pid)
    b0 = app.nbytes
    t0 = start
    for i in range(int(seconds)):
        time.sleep(max(0.0, start + i + 1 - time.monotonic()))
        t1, c1, b1 = time.monotonic(), proc_cpu_ns(app.pid), app.nbytes
        cpu.append(max(0.0, 100.0 * (c1 - c0) / (t1 - t0)))  # < 0 only when a thread exited
        bps.append((b1 - b0) / (t1 - t0))
        t0, c0, b0 = t1, c1, b1
    if t0 <= start:  # a window under one second (--idle 0): no sample, no figure
        return cpu, bps, float("nan")
    return cpu, bps, 100.0 * (app.cpu() - c_first) / (t0 - start)


def make_log_dir(d: str, nfiles: int, marker: bool = True) -> list[str]:
    """The files the writer appends to, created empty before the app starts (like running workers)."""
    paths = [os.path.join(d, f"worker-{2000 + i}.stderr.log") for i in range(nfiles)]
    if marker:
        paths.append(os.path.join(d, MARKER_FILE))
    for p in paths:
        open(p, "w").close()
    return paths


class Writer:
    """The WRITER script in its own process: ``rate`` lines/s over ``nfiles`` files for ``seconds``
    once ``go()`` is called, and a marker line every ``mark_every`` s (0: none). Each file gets
    one write() of its lines every 10 ms, or with ``line_writes`` one write() per line (what an
    XSched process does: its log goes to an unbuffered stderr; every write is an inotify event)."""

    def __init__(self, d: str, rate: float, seconds: float, nfiles: int, mark_every: float = 0.0,
                 mark0: int = 0, line_writes: bool = False) -> None:
        self.p = subprocess.Popen(
            [sys.executable, "-c", f"MARKER_FILE = {MARKER_FILE!r}\n" + WRITER, d, str(rate),
             str(seconds), str(nfiles), str(mark_every), str(mark0), "1" if line_writes else "0"],
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

    def wait(self, timeout: float = 30) -> None:
        try:
            self.p.wait(timeout)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
        end = time.monotonic() + 2
        while self.done is None and time.monotonic() < end:
            time.sleep(0.02)

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
