"""core.elf against real ELF files compiled with gcc, plus bad and random input."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xsched_tui.core.elf import (
    ElfError,
    ElfInfo,
    demangle_special,
    find_symbols,
    find_typeinfo,
    is_api_name,
    read_elf,
)

from cbuild import build_so, have_gcc, symlink

needs_gcc = pytest.mark.skipif(not have_gcc(), reason="gcc is required to build test ELF files")

RUNTIME_SRC = """
int hipMalloc(void **p, unsigned long n) { (void)n; *p = 0; return 0; }
int hipFree(void *p) { (void)p; return 0; }
int hipLaunchKernel(const void *f) { (void)f; return 0; }
int hip_internal_helper(void) { return 0; }
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
SHIM_SRC = """
int hipMalloc(void **p, unsigned long n) { (void)n; *p = 0; return 0; }
int hipLaunchKernel(const void *f) { (void)f; return 0; }
int XQueueCreate(void) { return 0; }
static int hidden_helper(void) { return 1; }
__attribute__((visibility("hidden"))) int shim_private(void) { return hidden_helper(); }
"""
HAL_SRC = """
const char _ZTIN6xsched3hip10HipCommandE[16] = "typeinfo";
const char _ZTIN6xsched3hip12HipKernelCmdE[16] = "typeinfo";
int XHalInit(void) { return 0; }
"""


@pytest.fixture(scope="module")
def libs(tmp_path_factory) -> dict[str, Path]:
    if not have_gcc():
        pytest.skip("gcc is required to build test ELF files")
    d = tmp_path_factory.mktemp("elf")
    rt = build_so(d / "rt" / "libamdhip64.so", RUNTIME_SRC, version_script=RUNTIME_MAP,
                  soname="libamdhip64.so")
    out = {
        "runtime": rt,
        "consumer": build_so(d / "torch" / "libtorch_hip.so", CONSUMER_SRC, link=[rt],
                             soname="libtorch_hip.so"),
        "shim": build_so(d / "shim" / "libshimhip.so", SHIM_SRC),
        "shim51": build_so(d / "shim51" / "libshimhip.so", SHIM_SRC,
                           version_script="hip_5.1 { global: hip*; X*; local: *; };\n"
                                          "hip_6.0 { } hip_5.1;\n"),
        "xonly": build_so(d / "xonly" / "libshimhip.so", SHIM_SRC,
                          version_script="hip_4.2 { global: X*; local: *; };\n"
                                         "hip_5.1 { } hip_4.2;\n"),
        "hal_ok": build_so(d / "hal_ok" / "libhalhip.so", HAL_SRC),
        "hal_hidden": build_so(d / "hal_hidden" / "libhalhip.so", HAL_SRC,
                               version_script="{ global: XHal*; local: *; };\n"),
        "rpath": build_so(d / "rp" / "librp.so", "int f(void){return 0;}",
                          extra=["-Wl,--disable-new-dtags", "-Wl,-rpath,$ORIGIN:/opt/x"]),
    }
    return out


def _info(path: Path, **kw) -> ElfInfo:
    info = read_elf(path, **kw)
    assert isinstance(info, ElfInfo), info
    return info


# -- good files -----------------------------------------------------------------------------


def test_runtime_version_nodes_and_default_versions(libs):
    rt = _info(libs["runtime"])
    assert rt.soname == "libamdhip64.so"
    assert rt.version_defs == ("hip_4.2", "hip_5.1")  # base (file) node excluded
    assert rt.versioned
    spelled = {s.spelled for s in rt.exports}
    assert {"hipMalloc@@hip_4.2", "hipFree@@hip_4.2", "hipLaunchKernel@@hip_5.1"} <= spelled
    # ld's absolute version-node symbols are not exports, `local: *;` hid the helper.
    assert not any(s.name in ("hip_4.2", "hip_5.1", "hip_internal_helper") for s in rt.exports)
    assert rt.export("hipMalloc").version == "hip_4.2"
    assert rt.elf_class in (32, 64) and rt.machine


def test_consumer_needs_and_versioned_references(libs):
    c = _info(libs["consumer"])
    assert "libamdhip64.so" in c.needed
    assert c.needs_from(["libamdhip64.so"]) and set(c.needs_from(["libamdhip64.so"])) == {
        "hip_4.2", "hip_5.1"}
    refs = {s.name: s for s in c.refs_from(["libamdhip64.so"])}
    assert refs["hipMalloc"].version == "hip_4.2"
    assert refs["hipMalloc"].spelled == "hipMalloc@hip_4.2"  # a reference: single @
    assert refs["hipLaunchKernel"].version == "hip_5.1"
    assert not refs["hipMalloc"].defined
    assert str(libs["runtime"].parent) in c.runpath + c.rpath


def test_unversioned_shim_exports_and_hidden(libs):
    s = _info(libs["shim"])
    assert not s.versioned and s.version_defs == ()
    names = {x.name for x in s.exports}
    assert {"hipMalloc", "hipLaunchKernel", "XQueueCreate"} <= names
    assert all(x.version is None and x.exported for x in s.exports)
    assert "shim_private" not in names
    # ld drops hidden-visibility symbols from .dynsym altogether; only .symtab still has them.
    assert "shim_private" not in {x.name for x in s.hidden}
    hits = find_symbols(libs["shim"], lambda n: n == "shim_private")
    assert not isinstance(hits, ElfError) and [h.table for h in hits] == [".symtab"]
    assert {x.name for x in s.api_exports(("hip",))} == {"hipMalloc", "hipLaunchKernel"}
    assert any(vn.file.startswith("libc.so") for vn in s.version_needs) or not s.version_needs


def test_partial_versioned_shim(libs):
    s = _info(libs["shim51"])
    assert s.version_defs == ("hip_5.1", "hip_6.0")
    assert s.export("hipMalloc").spelled == "hipMalloc@@hip_5.1"
    assert s.export("hipMalloc").exported


def test_x_only_shim_has_no_api_even_with_hip_named_nodes(libs):
    s = _info(libs["xonly"])
    assert s.version_defs == ("hip_4.2", "hip_5.1")
    # The absolute `hip_4.2` node symbol must not pass for a hip* API export.
    assert s.api_exports(("hip",)) == ()
    assert {x.name for x in s.exports} == {"XQueueCreate"}


def test_rpath_and_runpath_split(libs):
    r = _info(libs["rpath"])
    assert r.rpath == ("$ORIGIN", "/opt/x") and r.runpath == ()


def test_caps_keep_counts_exact(libs):
    rt = _info(libs["runtime"], max_symbols=1)
    assert len(rt.exports) == 1 and rt.export_count == 3 and rt.truncated
    lean = _info(libs["consumer"], exports=False, undefined=False)
    assert lean.exports == () and lean.export_count >= 1 and lean.undefined_count >= 2


def test_typeinfo_exported_vs_local(libs):
    ok = find_typeinfo(libs["hal_ok"])
    assert not isinstance(ok, ElfError)
    assert {t.name for t in ok if t.exported} == {"_ZTIN6xsched3hip10HipCommandE",
                                                 "_ZTIN6xsched3hip12HipKernelCmdE"}
    hidden = find_typeinfo(libs["hal_hidden"])
    assert not isinstance(hidden, ElfError)
    t = {x.name: x for x in hidden}["_ZTIN6xsched3hip10HipCommandE"]
    assert not t.exported and t.table == ".symtab" and t.bind == "LOCAL"
    assert t.demangled == "typeinfo for xsched::hip::HipCommand"
    # read_elf sees the difference through .dynsym alone.
    assert _info(libs["hal_hidden"]).export("_ZTIN6xsched3hip10HipCommandE") is None
    assert _info(libs["hal_ok"]).export("_ZTIN6xsched3hip10HipCommandE") is not None


def test_stripped_hal_has_no_local_hits(libs, tmp_path):
    strip = shutil.which("strip")
    if not strip:
        pytest.skip("strip not available")
    p = tmp_path / "libhalhip.so"
    shutil.copy(libs["hal_hidden"], p)
    subprocess.run([strip, "--strip-all", str(p)], check=True, timeout=60)
    assert find_typeinfo(p) == ()


def test_find_symbols_match(libs):
    hits = find_symbols(libs["shim"], lambda n: n.startswith("shim_"))
    assert not isinstance(hits, ElfError)
    assert {h.name for h in hits} == {"shim_private"}
    assert all(not h.exported for h in hits)


@pytest.mark.parametrize(("name", "want"), [
    ("_ZTIN6xsched3hip10HipCommandE", "typeinfo for xsched::hip::HipCommand"),
    ("_ZTV3Foo", "vtable for Foo"),
    ("_ZTSN1a1bE", "typeinfo name for a::b"),
    ("_ZN6xsched3fooEv", None),
    ("_ZTIN6xsched", None),
    ("_ZTI99x", None),
    ("hipMalloc", None),
])
def test_demangle_special(name, want):
    assert demangle_special(name) == want


@pytest.mark.parametrize(("name", "ok"), [
    ("hipMalloc", True), ("hip_4.2", False), ("hip", False), ("cuLaunchKernel", True),
    ("cudart_x", False), ("aclrtLaunchKernel", True), ("XQueueCreate", False),
])
def test_is_api_name(name, ok):
    assert is_api_name(name, ("hip", "cu", "acl", "aclrt")) is ok


# -- bad input ------------------------------------------------------------------------------


def _err(path, kind: str | None = None) -> ElfError:
    r = read_elf(path)
    assert isinstance(r, ElfError), r
    assert "\n" not in r.message and str(path) in r.message
    if kind:
        assert r.kind == kind, r
    return r


def test_missing_path(tmp_path):
    assert "no such file" in _err(tmp_path / "nope.so", "missing").message


def test_broken_softlink(tmp_path):
    link = symlink("gone.so", tmp_path / "libcuda.so.1")
    assert "broken softlink -> gone.so" in _err(link, "missing").message


def test_directory(tmp_path):
    assert "folder" in _err(tmp_path, "directory").message


def test_empty_file(tmp_path):
    p = tmp_path / "libempty.so"
    p.write_bytes(b"")
    assert "empty" in _err(p, "empty").message


def test_text_file_named_so(tmp_path):
    p = tmp_path / "libshimhip.so"
    p.write_text("this is not a library\n")
    assert "text file" in _err(p, "not-elf").message


def test_linker_script_named_so(tmp_path):
    p = tmp_path / "libc.so"
    p.write_text("/* GNU ld script\n   Use the shared library */\nGROUP ( libc.so.6 )\n")
    assert "linker script" in _err(p, "not-elf").message


def test_binary_garbage(tmp_path):
    p = tmp_path / "libx.so"
    p.write_bytes(bytes(range(256)))
    assert "not an ELF" in _err(p, "not-elf").message


def test_bad_class_byte(tmp_path):
    p = tmp_path / "libx.so"
    p.write_bytes(b"\x7fELF\x07\x01\x01" + b"\0" * 100)
    assert "class" in _err(p, "wrong-class").message


def test_short_header(tmp_path):
    p = tmp_path / "libx.so"
    p.write_bytes(b"\x7fELF\x02\x01\x01\0")
    assert "truncated ELF header" in _err(p, "truncated").message


@needs_gcc
def test_wrong_class_expected(libs):
    info = _info(libs["shim"])
    other = 32 if info.elf_class == 64 else 64
    r = read_elf(libs["shim"], expect_class=other)
    assert isinstance(r, ElfError) and r.kind == "wrong-class"
    assert f"ELFCLASS{info.elf_class}" in r.message


@needs_gcc
@pytest.mark.parametrize("keep", [64, 200, 1000, 0.5, 0.9, -1])
def test_truncated_real_elf(libs, tmp_path, keep):
    data = libs["shim"].read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else (len(data) + keep if keep < 0
                                                               else keep)
    p = tmp_path / "libtrunc.so"
    p.write_bytes(data[:n])
    r = read_elf(p)
    assert isinstance(r, ElfError), r  # the section headers sit at the end of the file
    assert "\n" not in r.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file; permission check n/a")
def test_unreadable_file(tmp_path):
    p = tmp_path / "libsecret.so"
    p.write_bytes(b"\x7fELF")
    p.chmod(0)
    try:
        assert "permission denied" in _err(p, "permission").message
    finally:
        p.chmod(0o644)


# -- never raises -----------------------------------------------------------------------------

_FUZZ = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])


def _read_bytes(data: bytes) -> ElfInfo | ElfError:
    fd, name = tempfile.mkstemp(suffix=".so")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        r = read_elf(name)
        t = find_typeinfo(name)
        assert isinstance(t, (tuple, ElfError))
        return r
    finally:
        os.unlink(name)


@_FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise(data):
    assert isinstance(_read_bytes(data), (ElfInfo, ElfError))


@_FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_with_elf_magic_never_raise(tail):
    assert isinstance(_read_bytes(b"\x7fELF\x02\x01\x01" + tail), (ElfInfo, ElfError))


@needs_gcc
@_FUZZ
@given(cut=st.floats(min_value=0.0, max_value=1.0))
def test_random_truncation_never_raises(libs, cut):
    data = libs["runtime"].read_bytes()
    assert isinstance(_read_bytes(data[: int(len(data) * cut)]), (ElfInfo, ElfError))


@needs_gcc
@_FUZZ
@given(flips=st.lists(st.tuples(st.floats(min_value=0.0, max_value=0.9999),
                                st.integers(min_value=0, max_value=255)),
                      min_size=1, max_size=24))
def test_random_corruption_never_raises(libs, flips):
    data = bytearray(libs["consumer"].read_bytes())
    for where, byte in flips:
        data[int(where * len(data))] = byte
    assert isinstance(_read_bytes(bytes(data)), (ElfInfo, ElfError))
