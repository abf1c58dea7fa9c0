"""xsched-tui live probe payload: a STANDALONE script run in the user's workload interpreter.

It must work without xsched_tui installed (stdlib + optional torch only) and never imports
xsched_tui. The parent starts it by file path with XSched enabled in its environment and reads
one JSON object per line on stdout, one per step, each flushed at once:

  {"step": "start", "pid", "python", "version", "argv"}
  {"step": "torch", "ok", "version" | "error", "seconds"}
  {"step": "device", "ok", "gpu", "backend", "cuda", "hip", "count", "name", "capability", "arch"}
  {"step": "matmul", "ok", "device", "stream", "n", "seconds", "max_error", "suspect"}
  {"step": "soname", "name", "loaded", "how", "path", "real_path"}      (per --soname)
  {"step": "ready"}        then it waits (at most --wait s) for one line on stdin, so the parent
                           can read /proc/PID/maps and environ and ask xserver while it is alive
  {"step": "done", "released"}

Options: --stream explicit|default (GPU matmul on a torch.cuda.Stream() or the default stream),
--size N (matmul size, default 256), --soname NAME (report which file answers to that soname;
repeatable), --load-soname (dlopen those sonames when nothing else loaded them and no GPU is
visible, so a LD_LIBRARY_PATH-enabled shim can be seen on a machine without a GPU),
--wait S (default 30).

Exit code 0 whatever the steps found: the verdict is the parent's.
"""

import ctypes
import json
import os
import select
import sys
import time
import traceback


def emit(step, **fields):
    rec = {"step": step}
    rec.update(fields)
    sys.stdout.write(json.dumps(rec, default=str) + "\n")
    sys.stdout.flush()


def short_error(exc):
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) < 600 else text[:600] + "..."


def parse_args(argv):
    opts = {"stream": "explicit", "size": 256, "sonames": [], "load_soname": False, "wait": 30.0}
    i = 0
    while i < len(argv):
        a = argv[i]
        val = argv[i + 1] if i + 1 < len(argv) else None
        if a == "--stream" and val in ("explicit", "default"):
            opts["stream"] = val
            i += 2
        elif a == "--size" and val is not None:
            opts["size"] = max(1, min(4096, int(val)))
            i += 2
        elif a == "--soname" and val is not None:
            opts["sonames"].append(val)
            i += 2
        elif a == "--wait" and val is not None:
            opts["wait"] = max(0.0, float(val))
            i += 2
        elif a == "--load-soname":
            opts["load_soname"] = True
            i += 1
        else:
            i += 1  # unknown arguments are ignored: an older parent must not break the probe
    return opts


def step_torch():
    t0 = time.perf_counter()
    try:
        import torch  # the user's interpreter may not have it
    except BaseException as exc:  # ImportError, OSError from a broken .so, SystemExit...
        emit("torch", ok=False, error=short_error(exc), seconds=round(time.perf_counter() - t0, 4))
        return None
    emit("torch", ok=True, version=getattr(torch, "__version__", "?"),
         seconds=round(time.perf_counter() - t0, 4), path=getattr(torch, "__file__", None))
    return torch


def step_device(torch):
    info = {"gpu": False, "backend": None, "count": 0, "name": None, "capability": None,
            "arch": None}
    ver = getattr(torch, "version", None)
    info["cuda"] = getattr(ver, "cuda", None)
    info["hip"] = getattr(ver, "hip", None)
    try:
        avail = bool(torch.cuda.is_available())
        info["count"] = int(torch.cuda.device_count()) if avail else 0
        if avail and info["count"] > 0:
            info["gpu"] = True
            info["backend"] = "hip" if info["hip"] else "cuda"
            info["name"] = torch.cuda.get_device_name(0)
            props = torch.cuda.get_device_properties(0)
            if info["hip"]:
                info["arch"] = getattr(props, "gcnArchName", None)
            else:
                major, minor = torch.cuda.get_device_capability(0)
                info["capability"] = f"{major}.{minor}"
                info["arch"] = f"sm_{major}{minor}"
    except BaseException as exc:
        emit("device", ok=False, error=short_error(exc), **info)
        return False
    emit("device", ok=True, **info)
    return info["gpu"]


def step_matmul(torch, gpu, n, stream_mode):
    import contextlib

    t0 = time.perf_counter()
    dev = "cuda:0" if gpu else "cpu"
    used_stream = None
    try:
        gen = torch.Generator().manual_seed(1234)
        x = torch.rand(n, n, generator=gen, dtype=torch.float32)
        ref = (x.double() @ x.double().t()).float()
        ctx = contextlib.nullcontext()
        if gpu:
            if stream_mode == "explicit":
                s = torch.cuda.Stream()
                ctx = torch.cuda.stream(s)
                used_stream = "explicit"
            else:
                used_stream = "default"
        with ctx:
            a = torch.ones(n, n, dtype=torch.float32, device=dev)
            ones = a @ a
            xd = x.to(dev)
            rnd = xd @ xd.t()
            if gpu:
                torch.cuda.current_stream().synchronize()
        if gpu:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        ones_c = ones.cpu()
        exact = bool((ones_c == float(n)).all().item())
        rel = float(((rnd.cpu() - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item())
        tol = 1e-2 if gpu else 1e-4  # TF32 on GPUs may be enabled by the user
        ok = exact and rel <= tol
        emit("matmul", ok=ok, device=dev, stream=used_stream, n=n, seconds=round(seconds, 6),
             max_error=rel, ones_exact=exact, suspect=not ok,
             note=None if ok else "result differs from the known answer")
    except BaseException as exc:
        emit("matmul", ok=False, device=dev, stream=used_stream, n=n,
             seconds=round(time.perf_counter() - t0, 6), suspect=True, error=short_error(exc))


def _link_map_name(handle):
    """The path the loader used for a dlopen handle (struct link_map.l_name), or None."""
    libc = ctypes.CDLL(None)
    fn = getattr(libc, "dlinfo", None)
    if fn is None:
        fn = ctypes.CDLL("libdl.so.2").dlinfo
    lm = ctypes.c_void_p()
    RTLD_DI_LINKMAP = 2
    if fn(ctypes.c_void_p(handle), RTLD_DI_LINKMAP, ctypes.byref(lm)) != 0 or not lm.value:
        return None
    # struct link_map { ElfW(Addr) l_addr; char *l_name; ... }
    name = ctypes.c_char_p.from_address(lm.value + ctypes.sizeof(ctypes.c_void_p)).value
    return name.decode("utf-8", "replace") if name else None


def step_soname(name, may_load):
    rec = {"name": name, "loaded": False, "how": None, "path": None, "real_path": None}
    noload = getattr(os, "RTLD_NOLOAD", 4) | getattr(os, "RTLD_LAZY", 1)
    try:
        lib = ctypes.CDLL(name, mode=noload)
        rec["how"] = "already loaded"
    except OSError:
        if not may_load:
            emit("soname", **rec)
            return
        try:
            lib = ctypes.CDLL(name, mode=getattr(os, "RTLD_LAZY", 1) | getattr(os, "RTLD_GLOBAL", 0x100))
            rec["how"] = "loaded by the probe"
        except OSError as exc:
            rec["error"] = short_error(exc)
            emit("soname", **rec)
            return
    rec["loaded"] = True
    try:
        path = _link_map_name(lib._handle)
        rec["path"] = path
        rec["real_path"] = os.path.realpath(path) if path else None
    except BaseException as exc:
        rec["error"] = short_error(exc)
    emit("soname", **rec)


def wait_for_release(seconds):
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout"
        try:
            r, _, _ = select.select([sys.stdin], [], [], min(left, 1.0))
        except (OSError, ValueError):
            time.sleep(min(left, 0.2))
            continue
        if r:
            line = sys.stdin.readline()
            return "released" if line else "stdin closed"


def main(argv):
    opts = parse_args(argv)
    emit("start", pid=os.getpid(), python=sys.executable, version=sys.version.split()[0],
         argv=argv)
    gpu = False
    try:
        torch = step_torch()
        if torch is not None:
            gpu = step_device(torch)
            step_matmul(torch, gpu, opts["size"], opts["stream"])
    except BaseException as exc:  # never skip the handshake: the XSched-side facts still count
        emit("error", error=short_error(exc), trace=traceback.format_exc()[-2000:])
    for name in opts["sonames"]:
        try:
            step_soname(name, opts["load_soname"] and not gpu)
        except BaseException as exc:
            emit("soname", name=name, loaded=False, error=short_error(exc))
    emit("ready", pid=os.getpid())
    how = wait_for_release(opts["wait"])
    emit("done", released=how)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
