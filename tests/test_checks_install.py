from __future__ import annotations

import os
import subprocess
import time
from dataclasses import replace

import pytest

from xsched_tui.core.checks.base import CheckContext, Status
from xsched_tui.core.checks.install import check_install
from xsched_tui.core.checks.source import check_source
from xsched_tui.core.config import Config

from layouts import make_install, make_source


def _ctx(**kw) -> CheckContext:
    return CheckContext(config=replace(Config(), **kw))


def _rows(outcome):
    return {e.label: e for e in outcome.evidence}


def test_complete_cuda_install_passes(tmp_path):
    inst = make_install(tmp_path, "cuda")
    out = check_install(_ctx(install=str(inst)))
    assert out.status == Status.PASS, out
    rows = _rows(out)
    assert rows["libshimcuda.so"].status == Status.PASS
    assert "sha256:" in rows["libshimcuda.so"].value and "KiB" in rows["libshimcuda.so"].value
    assert rows["libcuda.so.1"].value == "-> libshimcuda.so"
    assert rows["installed version"].value == "1.2.0"
    assert out.facts["platform"] == "cuda" and out.facts["enable"] == "LD_LIBRARY_PATH"
    assert set(out.facts["libs"]) == {"libpreempt.so", "libhalcuda.so", "libshimcuda.so"}


def test_missing_library_and_broken_link_fail(tmp_path):
    inst = make_install(tmp_path, "cuda")
    (inst / "lib" / "libhalcuda.so").unlink()
    os.unlink(inst / "lib" / "libcuda.so.1")
    os.symlink("libnothere.so", inst / "lib" / "libcuda.so.1")
    out = check_install(_ctx(install=str(inst)))
    rows = _rows(out)
    assert out.status == Status.FAIL
    assert rows["libhalcuda.so"].status == Status.FAIL and rows["libhalcuda.so"].value == "missing"
    assert "broken softlink -> libnothere.so" in rows["libcuda.so.1"].value
    assert "ln -sf libshimcuda.so" in out.fix


def test_hip_detected_and_missing_softlinks_only_warn_under_preload(tmp_path):
    inst = make_install(tmp_path, "hip", softlinks=False, bins=False)
    out = check_install(_ctx(install=str(inst)))
    assert out.facts["platform"] == "hip" and out.facts["enable"] == "LD_PRELOAD"
    assert out.status == Status.WARN  # softlinks and xserver missing: not fatal for LD_PRELOAD
    assert _rows(out)["bin/xserver"].status == Status.WARN


def test_cuda_missing_softlinks_fail_under_ld_library_path(tmp_path):
    inst = make_install(tmp_path, "cuda", softlinks=False)
    out = check_install(_ctx(install=str(inst)))
    assert out.status == Status.FAIL
    assert "needed" in _rows(out)["libcuda.so.1"].value


def test_configured_platform_not_installed(tmp_path):
    inst = make_install(tmp_path, "cuda")
    out = check_install(_ctx(install=str(inst), platform="hip"))
    assert out.status == Status.FAIL
    assert any("libshimhip.so is not in" in e.value for e in out.evidence)


@pytest.mark.parametrize("kind", ["missing", "file", "nolib", "noshim"])
def test_bad_install_folders(tmp_path, kind):
    target = tmp_path / "out"
    if kind == "file":
        target.write_text("x")
    elif kind == "nolib":
        target.mkdir()
    elif kind == "noshim":
        (target / "lib").mkdir(parents=True)
        (target / "lib" / "libpreempt.so").write_text("not elf")
    out = check_install(_ctx(install=str(target)))
    assert out.status == Status.FAIL
    assert {"missing": "does not exist", "file": "is not a folder",
            "nolib": "library folder", "noshim": "no XSched shim"}[kind] in out.finding


def test_nothing_configured_or_discovered(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    out = check_install(_ctx())
    assert out.status == Status.FAIL and "no XSched install found" in out.finding
    assert "make cuda" in out.fix


def test_discovered_from_ld_library_path(tmp_path, monkeypatch):
    inst = make_install(tmp_path, "cuda")
    monkeypatch.setenv("LD_LIBRARY_PATH", str(inst / "lib"))
    out = check_install(_ctx())
    assert out.facts["install"] == str(inst.resolve())
    assert "(discovered)" in out.evidence[0].value


def test_stale_install_and_other_copies_on_search_path(tmp_path, monkeypatch):
    src = make_source(tmp_path)
    inst = make_install(tmp_path, "cuda")
    old = time.time() - 3600
    for f in (inst / "lib").iterdir():
        if not f.is_symlink():
            os.utime(f, (old, old))
    other = make_install(tmp_path / "backup", "cuda")
    monkeypatch.setenv("LD_LIBRARY_PATH", str(other / "lib"))
    out = check_install(_ctx(source=str(src), install=str(inst)))
    rows = _rows(out)
    assert out.status == Status.WARN
    assert "older than preempt/src/xqueue.cpp" in rows["freshness"].value
    assert str(other / "lib" / "libshimcuda.so") in rows["search path"].value


def test_source_check_version_git_and_dirty(tmp_path):
    src = make_source(tmp_path)
    assert check_source(_ctx()).status == Status.SKIP
    out = check_source(_ctx(source=str(src)))
    assert out.facts["version"] == "1.2.0" and out.status == Status.PASS
    assert "not a git checkout" in _rows(out)["git"].value
    git = ["git", "-C", str(src), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    out = check_source(_ctx(source=str(src)))
    assert out.status == Status.PASS and _rows(out)["working tree"].value == "clean"
    (src / "preempt" / "src" / "xqueue.cpp").write_text("// changed\n")
    out = check_source(_ctx(source=str(src)))
    assert out.status == Status.WARN and "1 modified" in _rows(out)["working tree"].value
    assert check_source(_ctx(source=str(tmp_path / "nope"))).status == Status.FAIL


def test_cuda_under_ld_preload_warns_about_the_bypass(tmp_path):
    inst = make_install(tmp_path, "cuda")
    out = check_install(_ctx(install=str(inst), enable="LD_PRELOAD"))
    assert out.status == Status.WARN
    assert "bypasses the shim" in _rows(out)["enable mode"].value
    assert "--enable LD_LIBRARY_PATH" in out.fix


def test_text_file_named_like_a_library_fails(tmp_path):
    inst = make_install(tmp_path, "cuda")
    (inst / "lib" / "libhalcuda.so").write_text("not a library\n")
    out = check_install(_ctx(install=str(inst)))
    assert out.status == Status.FAIL
    assert "not an ELF shared library" in _rows(out)["libhalcuda.so"].value
