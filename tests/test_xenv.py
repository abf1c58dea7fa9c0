from __future__ import annotations

import pytest

from xsched_tui.core.xenv import parse_bool, parse_int, scheduler_verdict, validate, workload_env


@pytest.mark.parametrize(
    ("env", "sched", "policy", "schedules"),
    [
        ({}, "app", None, False),
        ({"XSCHED_POLICY": "HPF", "XSCHED_AUTO_XQUEUE": "ON"}, "local", "HPF", True),
        ({"XSCHED_POLICY": "hpf", "XSCHED_AUTO_XQUEUE": "1"}, "local", "HPF", True),
        ({"XSCHED_SCHEDULER": "GLB", "XSCHED_AUTO_XQUEUE": "on"}, "global", None, True),
        ({"XSCHED_SCHEDULER": "GLB", "XSCHED_AUTO_XQUEUE": "true"}, "global", None, False),
        ({"XSCHED_POLICY": "GBL", "XSCHED_AUTO_XQUEUE": "ON"}, "app", None, False),
        ({"XSCHED_SCHEDULER": "LCL"}, "app", None, False),
        ({"XSCHED_SCHEDULER": "GLB", "XSCHED_POLICY": "PUP"}, "local", "PUP", False),
    ],
)
def test_scheduler_verdict_follows_xsched_rules(env, sched, policy, schedules):
    v = scheduler_verdict(env)
    assert (v.scheduler, v.policy, v.schedules) == (sched, policy, schedules)


def test_parsers_mirror_xsched():
    assert parse_bool("On") is True and parse_bool("0") is False
    assert parse_bool("true") is None and parse_bool("yes") is None
    assert parse_int(" 16abc") == 16 and parse_int("") is None and parse_int("-3") == -3


def _msgs(env):
    return {(f.severity, f.var): f for f in validate(env)}


def test_validation_findings(tmp_path):
    got = _msgs({
        "XSCHED_LOG_LEVEL": "DEBG",  # invented name
        "XSCHED_AUTO_XQUEUE": "true",  # ignored spelling
        "XSCHED_POLICY": "GBL",  # legacy
        "XSCHED_AUTO_XQUEUE_LEVEL": "4",
        "XSCHED_AUTO_XQUEUE_THRESHOLD": "2",
        "XSCHED_AUTO_XQUEUE_BATCH_SIZE": "8",
        "XSCHED_CUDA_LIB": str(tmp_path / "missing.so"),
        "XLOG_LEVEL": "debug",
        "XSCHED_AUTO_XQUEUE_PRIORITY": "",
    })
    assert "did you mean XLOG_LEVEL" in got[("warn", "XSCHED_LOG_LEVEL")].message
    assert "counts as OFF" in got[("fail", "XSCHED_AUTO_XQUEUE")].message
    assert "legacy" in got[("fail", "XSCHED_POLICY")].message
    assert got[("fail", "XSCHED_POLICY")].fix.endswith("XSCHED_SCHEDULER=GLB")
    assert "outside 1..3" in got[("fail", "XSCHED_AUTO_XQUEUE_LEVEL")].message
    assert "must not be smaller" in got[("fail", "XSCHED_AUTO_XQUEUE_BATCH_SIZE")].message
    assert "does not exist" in got[("warn", "XSCHED_CUDA_LIB")].message
    assert "case-sensitive" in got[("warn", "XLOG_LEVEL")].message
    assert got[("warn", "XLOG_LEVEL")].fix == "export XLOG_LEVEL=DEBUG" or "INFO" in got[
        ("warn", "XLOG_LEVEL")].fix
    assert "empty" in got[("warn", "XSCHED_AUTO_XQUEUE_PRIORITY")].message


def test_policy_overrides_scheduler_warning():
    got = _msgs({"XSCHED_POLICY": "HPF", "XSCHED_SCHEDULER": "GLB"})
    assert "ignored" in got[("warn", "XSCHED_SCHEDULER")].message


def test_clean_env_has_no_findings():
    assert validate({"XSCHED_POLICY": "HPF", "XSCHED_AUTO_XQUEUE": "ON", "XLOG_LEVEL": "INFO"}) == []


def test_workload_env_never_inherits_preload_or_shell_vars():
    base = {"PATH": "/bin", "LD_PRELOAD": "/evil.so", "XSCHED_POLICY": "GBL",
            "XSCHED_TUI_PLATFORM": "cuda", "LD_LIBRARY_PATH": "/a"}
    native = workload_env(base, {"XSCHED_POLICY": "HPF"}, lib_dir="/x/lib", platform="cuda",
                          xsched=False)
    assert native == {"PATH": "/bin", "LD_LIBRARY_PATH": "/a"}
    cuda = workload_env(base, {"XSCHED_POLICY": "HPF"}, lib_dir="/x/lib", platform="cuda")
    assert cuda["LD_LIBRARY_PATH"] == "/x/lib:/a" and "LD_PRELOAD" not in cuda
    assert cuda["XSCHED_POLICY"] == "HPF"
    hip = workload_env(base, {}, lib_dir="/x/lib", platform="hip")
    assert hip["LD_PRELOAD"] == "/x/lib/libshimhip.so"
    forced = workload_env(base, {}, lib_dir="/x/lib", platform="cuda", enable="LD_PRELOAD")
    assert forced["LD_PRELOAD"] == "/x/lib/libshimcuda.so"


def test_workload_preload_that_does_not_exist_fails(tmp_path):
    got = _msgs({"LD_PRELOAD": str(tmp_path / "x.so"), "LD_LIBRARY_PATH": str(tmp_path / "no")})
    assert "cannot be preloaded" in got[("fail", "LD_PRELOAD")].message
    assert ("warn", "LD_LIBRARY_PATH") in got
