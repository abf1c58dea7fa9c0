"""The `symbols` check against real XSched-like layouts compiled with gcc.

Each layout is a fake runtime, a consumer linked against it, and an install (shim, HAL,
libpreempt and softlinks). The "loader agrees" tests run a real program on the same files and
check that what the check predicts is what glibc prints.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from xsched_tui.core.checks import symbols
from xsched_tui.core.checks.base import CheckContext, Outcome, Status
from xsched_tui.core.config import Config

from cbuild import build_exe, build_so, have_gcc, symlink

pytestmark = pytest.mark.skipif(not have_gcc(), reason="gcc is required to build test ELF files")

TI = "_ZTIN6xsched3hip10HipCommandE"

RUNTIME_SRC = r"""
#include <stdio.h>
int hipMalloc(void **p, unsigned long n) { (void)n; *p = 0; fprintf(stderr, "REAL hipMalloc\n"); return 0; }
int hipFree(void *p) { (void)p; return 0; }
int hipLaunchKernel(const void *f) { (void)f; fprintf(stderr, "REAL hipLaunchKernel\n"); return 0; }
"""
RUNTIME_MAP = """
hip_4.2 { global: hipMalloc; hipFree; local: *; };
hip_5.1 { global: hipLaunchKernel; } hip_4.2;
"""
CONSUMER_SRC = """
int hipMalloc(void **p, unsigned long n);
int hipLaunchKernel(const void *f);
int torch_use(void) { void *p; return hipMalloc(&p, 1) + hipLaunchKernel(0); }
"""
MAIN_SRC = "int torch_use(void);\nint main(void) { return torch_use() != 0; }\n"
PREEMPT_SRC = "int XQueueCreate(void) { return 0; }\nint XHintPriority(void) { return 0; }\n"
HAL_SRC = f"""
const char {TI}[16] = "typeinfo";
int XHalInit(void) {{ return 0; }}
"""
SHIM_SRC = rf"""
#include <stdio.h>
extern const char {TI}[];
const void *xsched_hip_command_ti = {TI};  /* like a C++ shim's vtable/typeinfo reference */
int XQueueCreate(void);
int hipMalloc(void **p, unsigned long n) {{
    (void)n; *p = 0; fprintf(stderr, "SHIM hipMalloc\n"); return XQueueCreate();
}}
int hipFree(void *p) {{ (void)p; return 0; }}
int hipLaunchKernel(const void *f) {{ (void)f; fprintf(stderr, "SHIM hipLaunchKernel\n"); return 0; }}
int XShimHelper(void) {{ return 0; }}
"""
SHIM_MAPS = {
    "good": None,  # stock XSched: no version script at all
    "v51": "hip_5.1 { global: hip*; X*; local: *; };\nhip_6.0 { } hip_5.1;\n",
    "v42": ("hip_4.2 { global: hipMalloc; hipFree; X*; local: *; };\n"
            "hip_5.1 { global: hipLaunchKernel; } hip_4.2;\n"),
    # The MI308X "final fix": only X* exported, inside hip-named nodes (FIELD-NOTES §4 row 1).
    "xonly": "hip_4.2 { global: X*; local: *; };\nhip_5.1 { } hip_4.2;\nhip_6.0 { } hip_5.1;\n",
    "hidden_ti": None,
}
# What the check suggests for the shim: every function in the node the runtime has it in.
GOOD_MAP = "hip_4.2 { global: hipMalloc; hipFree; }; hip_5.1 { global: hipLaunchKernel; } hip_4.2;"
HIDDEN_HAL_MAP = "{ global: XHal*; local: *; };\n"  # hides the typeinfo (FIELD-NOTES §4 row 2)


def _install(root: Path, name: str, *, runtime_names=("libamdhip64.so", "libamdhip64.so.1"),
             ) -> dict[str, Path]:
    lib = root / name / "output" / "lib"
    preempt = build_so(lib / "libpreempt.so", PREEMPT_SRC, soname="libpreempt.so")
    hal = build_so(lib / "libhalhip.so", HAL_SRC, soname="libhalhip.so",
                   version_script=HIDDEN_HAL_MAP if name == "hidden_ti" else None)
    shim = build_so(lib / "libshimhip.so", SHIM_SRC, version_script=SHIM_MAPS[name],
                    link=[preempt, hal])
    links = {n: symlink("libshimhip.so", lib / n) for n in runtime_names}
    return {"lib": lib, "shim": shim, "hal": hal, "preempt": preempt, **links}


@pytest.fixture(scope="module")
def hip(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("hip")
    rt = build_so(root / "rocm" / "lib" / "libamdhip64.so", RUNTIME_SRC,
                  version_script=RUNTIME_MAP, soname="libamdhip64.so")
    consumer = build_so(root / "site" / "torch" / "lib" / "libtorch_hip.so", CONSUMER_SRC,
                        link=[rt], soname="libtorch_hip.so")
    (root / "bin").mkdir()  # build_exe does not create its folder
    out: dict = {"root": root, "runtime": rt, "consumer": consumer,
                 "main": build_exe(root / "bin" / "main", MAIN_SRC, link=[consumer])}
    for name in SHIM_MAPS:
        out[name] = _install(root, name)
    return out


def _ctx(inst: dict, mode: str, *, consumers=None, driver: Path | None = None,
         platform: str = "hip", shim_name: str = "libshimhip.so",
         hal_name: str = "libhalhip.so") -> CheckContext:
    ctx = CheckContext(config=Config())
    lib = inst["lib"]
    ctx.facts["install"] = {
        "platform": platform, "lib_dir": str(lib), "enable": mode,
        "libs": {n: str(lib / n) for n in ("libpreempt.so", hal_name, shim_name)
                 if (lib / n).exists()},
        "softlinks": {n: str(lib / n) for n in os.listdir(lib)
                      if (lib / n).is_symlink()},
    }
    ctx.facts["driver"] = {"path": str(driver) if driver else None}
    if consumers is not None:
        ctx.facts["symbols_input"] = {"consumers": [str(c) for c in consumers]}
    return ctx


def _row(out: Outcome, label: str):
    rows = [e for e in out.evidence if e.label == label]
    assert rows, f"no row {label!r} in {[e.label for e in out.evidence]}"
    return rows[0]


def _run_hip(hip: dict, name: str, mode: str, **kw) -> Outcome:
    kw.setdefault("consumers", [hip["consumer"]])
    kw.setdefault("driver", hip["runtime"])
    return symbols.check_symbols(_ctx(hip[name], mode, **kw))


# -- verdicts --------------------------------------------------------------------------------


def test_spec():
    assert symbols.SPEC.id == "symbols" and symbols.SPEC.requires == ("install",)
    assert symbols.SPEC.after == ("driver",) and symbols.SPEC.func is symbols.check_symbols


def test_unversioned_shim_via_preload_binds(hip):
    out = _run_hip(hip, "good", "LD_PRELOAD")
    assert out.status == Status.PASS, out
    assert "\n" not in out.finding and "3 hip* functions" in out.finding
    assert _row(out, "shim exports").status == Status.PASS
    assert "unversioned" in _row(out, "shim exports").value
    assert "hip_4.2, hip_5.1" in _row(out, "real runtime").value
    binding = _row(out, "binding")
    assert binding.status == Status.PASS and "2 of 2" in binding.value
    needs = _row(out, "libtorch_hip.so").value
    assert "hip_4.2 (hipMalloc)" in needs and "hip_5.1 (hipLaunchKernel)" in needs
    # The legacy seed check fails on a correct shim: shown, but not held against it.
    seed = _row(out, "seed: hipMalloc@@hip_4.2")
    assert seed.status is None and seed.value.startswith("absent")
    assert _row(out, "C++ symbols").status == Status.PASS
    f = out.facts
    assert f["shim_exports"] == 3 and f["shim_versions"] == []
    assert f["runtime_versions"] == ["hip_4.2", "hip_5.1"]
    assert f["consumer_needs"] == {str(hip["consumer"]): {"libamdhip64.so": ["hip_5.1",
                                                                             "hip_4.2"]}}
    assert f["seed"] is False and f["cxx_missing"] == []


def test_unversioned_shim_by_soname_warns(hip):
    out = _run_hip(hip, "good", "LD_LIBRARY_PATH")
    assert out.status == Status.WARN
    row = _row(out, "loader (soname)")
    link = hip["good"]["lib"] / "libamdhip64.so"
    assert row.status == Status.WARN
    assert (f"{link}: no version information available (required by {hip['consumer']})"
            in row.value)
    assert "no version information available" in out.finding
    assert "LD_PRELOAD=" in out.fix


def test_partial_version_map_by_soname_fails_with_loader_error(hip):
    out = _run_hip(hip, "v51", "LD_LIBRARY_PATH")
    assert out.status == Status.FAIL
    link = hip["v51"]["lib"] / "libamdhip64.so"
    row = _row(out, "loader (soname)")
    assert row.status == Status.FAIL
    assert f"{link}: version `hip_4.2' not found (required by {hip['consumer']})" in row.value
    assert "version `hip_4.2' not found" in out.finding
    assert "hip_5.1, hip_6.0" in _row(out, "shim exports").value
    assert out.facts["shim_versions"] == ["hip_5.1", "hip_6.0"]
    assert "without a version script" in out.fix and GOOD_MAP in out.fix


def test_other_node_via_preload_is_silently_bypassed(hip):
    out = _run_hip(hip, "v51", "LD_PRELOAD")
    assert out.status == Status.FAIL
    row = _row(out, "LD_PRELOAD binding")
    assert row.status == Status.FAIL and "silently bypassed" in row.value
    assert "hipMalloc@hip_4.2" in row.value and "hipMalloc@@hip_5.1" in row.value
    assert "silently bypasses" in out.finding
    assert GOOD_MAP in out.fix


def test_complete_version_map_passes_both_modes_and_seed(hip):
    for mode in ("LD_PRELOAD", "LD_LIBRARY_PATH"):
        out = _run_hip(hip, "v42", mode)
        assert out.status == Status.PASS, (mode, out)
        seed = _row(out, "seed: hipMalloc@@hip_4.2")
        assert seed.status == Status.PASS and seed.value == "present"
        assert out.facts["seed"] is True


def test_x_only_shim_is_interception_off(hip):
    out = _run_hip(hip, "xonly", "LD_PRELOAD")
    assert out.status == Status.FAIL
    assert out.finding.startswith("interception silently off")
    row = _row(out, "shim exports")
    assert row.status == Status.FAIL and row.value.startswith("0 hip* API functions")
    assert "1 X* helper only" in row.value
    assert out.facts["shim_exports"] == 0
    assert "local: *;" in out.fix
    assert _row(out, "seed: hipMalloc@@hip_4.2").status == Status.FAIL


def test_hidden_hal_typeinfo_is_undefined_symbol(hip):
    out = _run_hip(hip, "hidden_ti", "LD_PRELOAD")
    assert out.status == Status.FAIL
    row = _row(out, "C++ symbols")
    shim = hip["hidden_ti"]["shim"]
    assert f"symbol lookup error: {shim}: undefined symbol: {TI}" in row.value
    assert "typeinfo for xsched::hip::HipCommand" in row.value
    assert "local/hidden symbol" in row.value
    assert f"undefined symbol: {TI}" in out.finding
    assert out.facts["cxx_missing"] == [TI]
    assert "1 local only" in _row(out, "libhalhip.so typeinfo").value
    assert "local: *;" in out.fix


def test_missing_cxx_symbol_everywhere(hip, tmp_path):
    # A HAL that does not define the typeinfo at all (e.g. an older build).
    lib = tmp_path / "lib"
    lib.mkdir()
    for n in ("libshimhip.so", "libpreempt.so"):
        os.symlink(hip["good"][n.removesuffix(".so").removeprefix("lib").replace(
            "shimhip", "shim")], lib / n)
    build_so(lib / "libhalhip.so", "int XHalInit(void) { return 0; }")
    out = symbols.check_symbols(_ctx({"lib": lib}, "LD_PRELOAD", consumers=[],
                                     driver=hip["runtime"]))
    assert out.status == Status.FAIL
    assert "not defined in libhalhip.so or libpreempt.so" in _row(out, "C++ symbols").value


def test_inferred_consumer_when_none_found(hip):
    out = _run_hip(hip, "v51", "LD_LIBRARY_PATH", consumers=[])
    assert out.status == Status.WARN  # a prediction, not a failing file
    row = _row(out, "loader (soname)")
    assert "version `hip_4.2' not found (required by any library linked against " \
           "libamdhip64.so (inferred))" in row.value
    out = _run_hip(hip, "v51", "LD_PRELOAD", consumers=[])
    assert out.status == Status.WARN and "silently bypassed" in _row(out, "LD_PRELOAD binding").value
    out = _run_hip(hip, "good", "LD_PRELOAD", consumers=[])
    assert out.status == Status.PASS


def test_not_substituted_when_soname_has_no_softlink(tmp_path, hip):
    # ROCm 6: the runtime's soname is libamdhip64.so.6, XSched only links .so and .so.1.
    rt = build_so(tmp_path / "rocm" / "libamdhip64.so.6", RUNTIME_SRC, version_script=RUNTIME_MAP,
                  soname="libamdhip64.so.6")
    cons = build_so(tmp_path / "torch" / "lib" / "libtorch_hip.so", CONSUMER_SRC, link=[rt])
    out = _run_hip(hip, "good", "LD_LIBRARY_PATH", consumers=[cons], driver=rt)
    assert out.status == Status.WARN
    row = _row(out, "substitution")
    assert "NEEDs libamdhip64.so.6" in row.value and "not substituted" in out.finding
    assert "libamdhip64.so.6" in out.fix
    assert out.facts["consumer_needs"][str(cons)] == {"libamdhip64.so.6": ["hip_5.1", "hip_4.2"]}


def test_rpath_bundled_runtime_shadows_softlink(tmp_path, hip):
    tlib = tmp_path / "torch" / "lib"
    bundled = build_so(tlib / "libamdhip64.so", RUNTIME_SRC, version_script=RUNTIME_MAP,
                       soname="libamdhip64.so")
    cons = build_so(tlib / "libtorch_hip.so", CONSUMER_SRC, link=[bundled],
                    extra=["-Wl,--disable-new-dtags"])  # DT_RPATH, like PyTorch wheels
    out = _run_hip(hip, "good", "LD_LIBRARY_PATH", consumers=[cons, bundled])
    assert out.status == Status.WARN
    assert "DT_RPATH" in _row(out, "substitution").value
    two = _row(out, "libamdhip64.so")
    assert two.status == Status.WARN and "two runtimes" in two.value
    assert f"export XSCHED_HIP_LIB={bundled}" in out.fix


def test_bundled_runtime_same_as_driver_is_fine(hip):
    out = _run_hip(hip, "good", "LD_PRELOAD", consumers=[hip["consumer"], hip["runtime"]])
    assert out.status == Status.PASS
    assert "XSched loads the same file" in _row(out, "libamdhip64.so").value


def test_unreadable_consumer_and_unknown_driver(hip, tmp_path):
    junk = tmp_path / "libtorch_hip.so"
    junk.write_text("not a library\n")
    out = _run_hip(hip, "good", "LD_PRELOAD", consumers=[junk], driver=None)
    row = _row(out, "libtorch_hip.so")
    assert row.status is None and "text file" in row.value
    assert "not known" in _row(out, "real runtime").value
    assert out.status == Status.PASS
    assert out.facts["runtime_versions"] == []


def test_bad_shim_and_missing_shim(hip, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "libshimhip.so").write_text("oops\n")
    out = symbols.check_symbols(_ctx({"lib": lib}, "LD_PRELOAD", consumers=[]))
    assert out.status == Status.FAIL and "cannot read the shim" in out.finding
    assert "\n" not in out.finding and out.fix
    (lib / "libshimhip.so").unlink()
    out = symbols.check_symbols(_ctx({"lib": lib}, "LD_PRELOAD", consumers=[]))
    assert out.status == Status.FAIL and "not installed" in out.finding


def test_no_platform_skips():
    out = symbols.check_symbols(CheckContext(config=Config()))
    assert out.status == Status.SKIP
    assert set(out.facts) >= {"shim_exports", "shim_versions", "runtime_versions",
                              "consumer_needs"}


# -- CUDA layout -----------------------------------------------------------------------------

CUDA_RT_SRC = """
int cuInit(unsigned f) { (void)f; return 0; }
int cuLaunchKernel(void *f) { (void)f; return 0; }
int cuMemAlloc_v2(void **p, unsigned long n) { (void)n; *p = 0; return 0; }
"""
CUDA_SHIM_SRC = CUDA_RT_SRC + "int XQueueCreate(void);\nint XGetProcAddress(void) { return 0; }\n"


@pytest.fixture(scope="module")
def cuda(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("cuda")
    drv = build_so(root / "driver" / "libcuda.so.1", CUDA_RT_SRC, soname="libcuda.so.1")
    lib = root / "output" / "lib"
    preempt = build_so(lib / "libpreempt.so", PREEMPT_SRC, soname="libpreempt.so")
    hal = build_so(lib / "libhalcuda.so", "int XHalInit(void) { return 0; }")
    shim = build_so(lib / "libshimcuda.so", CUDA_SHIM_SRC, link=[preempt, hal])
    for n in ("libcuda.so.1", "libcuda.so"):
        symlink("libshimcuda.so", lib / n)
    cudart = build_so(root / "nvidia" / "lib" / "libcudart.so.13",
                      "int cuLaunchKernel(void *f);\nint go(void) { return cuLaunchKernel(0); }",
                      link=[drv], soname="libcudart.so.13")
    torch_cuda = build_so(root / "torch" / "lib" / "libtorch_cuda.so",
                          "int torch_cuda(void) { return 0; }", soname="libtorch_cuda.so")
    return {"lib": lib, "driver": drv, "shim": shim, "cudart": cudart, "torch_cuda": torch_cuda}


def _run_cuda(cuda: dict, consumers) -> Outcome:
    return symbols.check_symbols(_ctx(cuda, "LD_LIBRARY_PATH", consumers=consumers,
                                      driver=cuda["driver"], platform="cuda",
                                      shim_name="libshimcuda.so", hal_name="libhalcuda.so"))


def test_cuda_softlink_layout_passes(cuda):
    out = _run_cuda(cuda, [cuda["cudart"], cuda["torch_cuda"]])
    assert out.status == Status.PASS, out
    assert "no version nodes" in _row(out, "real runtime").value
    assert _row(out, "seed: cuLaunchKernel exported").status == Status.PASS
    assert "dlopen" in _row(out, "libtorch_cuda.so").value
    assert "no version requirements" in _row(out, "binding").value
    assert out.facts["runtime_versions"] == [] and out.facts["shim_exports"] == 3
    assert out.facts["consumer_needs"][str(cuda["cudart"])] == {"libcuda.so.1": []}


def test_cuda_without_consumers_uses_the_runtime(cuda):
    out = _run_cuda(cuda, [])
    assert out.status == Status.PASS
    assert "(inferred)" in _row(out, "binding").value


# -- consumer discovery ----------------------------------------------------------------------


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_find_consumers_hook_is_called_with_the_workload_python(hip, monkeypatch):
    seen: list[str] = []

    def fake(python: str) -> list[str]:
        seen.append(python)
        return [str(hip["consumer"])]

    monkeypatch.setattr(symbols, "find_consumers", fake)
    ctx = _ctx(hip["good"], "LD_PRELOAD", driver=hip["runtime"])
    out = symbols.check_symbols(ctx)
    assert seen == [ctx.config.python]
    assert out.facts["consumers"] == [str(hip["consumer"])]


def test_lookup_failure_is_a_row_not_a_crash(hip, monkeypatch):
    def broken(python: str) -> list[str]:
        raise symbols.ConsumerLookupError(f"torch is not installed for {python}")

    monkeypatch.setattr(symbols, "find_consumers", broken)
    out = symbols.check_symbols(_ctx(hip["good"], "LD_PRELOAD", driver=hip["runtime"]))
    assert "torch is not installed" in _row(out, "consumers").value
    assert out.status == Status.PASS


def test_torch_dirs_missing_interpreter(tmp_path):
    with pytest.raises(symbols.ConsumerLookupError, match="cannot start"):
        symbols.torch_dirs(str(tmp_path / "no-python"))
    with pytest.raises(symbols.ConsumerLookupError, match="no workload interpreter"):
        symbols.torch_dirs("")


def test_torch_dirs_without_torch(tmp_path):
    py = _script(tmp_path / "python", "echo '[]'\n")
    with pytest.raises(symbols.ConsumerLookupError, match="not installed"):
        symbols.torch_dirs(py)


def test_torch_dirs_failure_garbage_and_timeout(tmp_path):
    py = _script(tmp_path / "fail", "echo 'ModuleNotFoundError: x' >&2\nexit 3\n")
    with pytest.raises(symbols.ConsumerLookupError, match=r"exit code 3.*ModuleNotFoundError"):
        symbols.torch_dirs(py)
    py = _script(tmp_path / "garbage", "echo hello\n")
    with pytest.raises(symbols.ConsumerLookupError, match="unexpected answer"):
        symbols.torch_dirs(py)
    py = _script(tmp_path / "slow", "exec sleep 30\n")
    with pytest.raises(symbols.ConsumerLookupError, match="did not answer"):
        symbols.torch_dirs(py, timeout=0.5)


def test_torch_dirs_does_not_inherit_ld_preload(tmp_path, monkeypatch):
    py = _script(tmp_path / "python", 'printf \'["%s"]\\n\' "${LD_PRELOAD:-none}"\n')
    monkeypatch.setenv("LD_PRELOAD", "/x/libshimhip.so")
    assert symbols.torch_dirs(py) == ["none"]


def test_torch_dirs_real_interpreter():
    try:
        dirs = symbols.torch_dirs(sys.executable)
    except symbols.ConsumerLookupError as exc:
        pytest.skip(str(exc))
    assert dirs and all(os.path.basename(d.rstrip("/")) == "torch" for d in dirs)


def test_consumer_libs_picks_gpu_libraries(tmp_path):
    torch = tmp_path / "site" / "torch"
    lib = torch / "lib"
    lib.mkdir(parents=True)
    for n in ("libtorch_hip.so", "libc10_hip.so", "libamdhip64.so.6", "libtorch_cpu.so",
              "libhipblaslt.so.0"):
        (lib / n).write_bytes(b"\x7fELF")
    symlink("libamdhip64.so.6", lib / "libamdhip64.so")  # same file twice: reported once
    nv = tmp_path / "site" / "nvidia" / "cuda_runtime" / "lib"
    nv.mkdir(parents=True)
    (nv / "libcudart.so.12").write_bytes(b"\x7fELF")
    got = [os.path.relpath(p, tmp_path / "site") for p in symbols.consumer_libs([str(torch)])]
    assert got[:2] == ["torch/lib/libtorch_hip.so", "torch/lib/libc10_hip.so"]
    assert "torch/lib/libtorch_cpu.so" not in got
    assert "torch/lib/libhipblaslt.so.0" in got
    assert "nvidia/cuda_runtime/lib/libcudart.so.12" in got
    assert sum("libamdhip64" in g for g in got) == 1
    assert symbols.consumer_libs([str(tmp_path / "nowhere")]) == []


# -- the loader agrees -----------------------------------------------------------------------

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc loader")


def _load(hip: dict, **env: str) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    return subprocess.run([str(hip["main"])], env=clean, capture_output=True, text=True,
                          timeout=60)


def _loader_line(stderr: str, needle: str) -> str:
    line = next((ln for ln in stderr.splitlines() if needle in ln), "")
    assert line, stderr
    return line.split(": ", 1)[1]  # drop the program name the loader prefixes


@linux_only
def test_loader_agrees_no_version_information(hip):
    lib = str(hip["good"]["lib"])
    p = _load(hip, LD_LIBRARY_PATH=lib)
    assert p.returncode == 0 and "SHIM hipMalloc" in p.stderr
    got = _loader_line(p.stderr, "no version information available")
    assert got in _row(_run_hip(hip, "good", "LD_LIBRARY_PATH"), "loader (soname)").value


@linux_only
def test_loader_agrees_version_not_found(hip):
    p = _load(hip, LD_LIBRARY_PATH=str(hip["v51"]["lib"]))
    assert p.returncode != 0
    got = _loader_line(p.stderr, "not found")
    assert got in _row(_run_hip(hip, "v51", "LD_LIBRARY_PATH"), "loader (soname)").value


@linux_only
def test_loader_agrees_preload_binding(hip):
    good = _load(hip, LD_PRELOAD=str(hip["good"]["shim"]))
    assert "SHIM hipMalloc" in good.stderr and "REAL hipMalloc" not in good.stderr
    bypass = _load(hip, LD_PRELOAD=str(hip["v51"]["shim"]))
    # hipLaunchKernel@hip_5.1 still binds the shim; hipMalloc@hip_4.2 silently goes to the runtime.
    assert "REAL hipMalloc" in bypass.stderr and "SHIM hipMalloc" not in bypass.stderr
    assert "SHIM hipLaunchKernel" in bypass.stderr


@linux_only
def test_suggested_version_map_really_works(hip, tmp_path):
    # Build the shim with the map the check suggests; substitution by soname and LD_PRELOAD
    # must then both reach the shim, and the check must pass.
    lib = tmp_path / "output" / "lib"
    preempt = build_so(lib / "libpreempt.so", PREEMPT_SRC, soname="libpreempt.so")
    hal = build_so(lib / "libhalhip.so", HAL_SRC, soname="libhalhip.so")
    shim = build_so(lib / "libshimhip.so", SHIM_SRC, version_script=GOOD_MAP + "\n",
                    link=[preempt, hal])
    for n in ("libamdhip64.so", "libamdhip64.so.1"):
        symlink("libshimhip.so", lib / n)
    for env in ({"LD_LIBRARY_PATH": str(lib)}, {"LD_PRELOAD": str(shim)}):
        p = _load(hip, **env)
        assert p.returncode == 0 and "SHIM hipMalloc" in p.stderr, (env, p.stderr)
        assert "no version information" not in p.stderr
        mode = next(iter(env))
        out = symbols.check_symbols(_ctx({"lib": lib}, mode, consumers=[hip["consumer"]],
                                         driver=hip["runtime"]))
        assert out.status == Status.PASS, out


@linux_only
def test_loader_agrees_hidden_typeinfo(hip):
    p = _load(hip, LD_PRELOAD=str(hip["hidden_ti"]["shim"]))
    assert p.returncode != 0
    got = _loader_line(p.stderr, "undefined symbol")
    assert got in _row(_run_hip(hip, "hidden_ti", "LD_PRELOAD"), "C++ symbols").value
