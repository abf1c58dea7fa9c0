"""``xsched-tui overhead`` and ``xsched-tui runs`` end to end, as real processes.

The workload interpreter is replaced (``--python``) by a tiny wrapper that runs the protocol
stand-in (tests/standin_workload.py) for ``-m xsched_tui.workloads KIND ...``; XSched is the C
test double (NOT XSched). One test runs the real workloads module on CPU when it exists.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from cbuild import have_gcc
from doubles.xsched_double import build_double_install

ROOT = Path(__file__).resolve().parent.parent
STANDIN = Path(__file__).with_name("standin_workload.py")
SCHEMA = json.loads((ROOT / "docs" / "experiment-result.schema.json").read_text())
BASE_ENV = {k: v for k, v in os.environ.items()
            if not k.startswith(("XSCHED_", "XLOG_", "XSTD_", "STANDIN_"))
            and k not in ("LD_PRELOAD", "LD_LIBRARY_PATH")}


@pytest.fixture
def fakepy(tmp_path: Path) -> str:
    p = tmp_path / "fakepy"
    p.write_text(f"#!{sys.executable}\n"
                 "import runpy, sys\n"
                 f"sys.argv = [{str(STANDIN)!r}, *sys.argv[1:]]\n"
                 f"runpy.run_path({str(STANDIN)!r}, run_name='__main__')\n")
    p.chmod(0o755)
    return str(p)


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> Path:
    if not have_gcc():
        pytest.skip("gcc is required to build the XSched test double")
    return build_double_install(tmp_path_factory.mktemp("xsched"), "cuda")


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xsched_tui", *args], capture_output=True, text=True,
                          env={**BASE_ENV, **(env or {})}, timeout=timeout, cwd=str(ROOT))


def double_args(lib: Path) -> list[str]:
    return ["--install", str(lib.parent), "--platform", "cuda", "--enable", "LD_PRELOAD"]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_aa_pass_json(fakepy, tmp_path):
    res = tmp_path / "r"
    p = cli("overhead", "--workload", "matmul", "--size", "64", "--pairs", "3", "--aa", "--json",
            "--python", fakepy, "--results", str(res), env={"STANDIN_JITTER": "0",
                                                            "STANDIN_MEASURE_S": "0.05"})
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    jsonschema.validate(doc, SCHEMA)
    an = doc["analysis"]
    assert an["aa"] and an["verdict"] == "PASS" and an["ci_contains_zero"]
    assert [m["name"] for m in doc["spec"]["modes"]] == ["native-a", "native-b"]
    assert doc["runs"][0]["argv"][:4] == [fakepy, "-m", "xsched_tui.workloads", "matmul"]
    assert "64" in doc["runs"][0]["argv"]
    assert (Path(doc["folder"]) / "report.md").is_file()


def test_xsched_pass_fail_inconclusive_with_the_double(lib, fakepy, tmp_path):
    res = tmp_path / "r"
    common = ["overhead", "--workload", "matmul", "--pairs", "3", "--python", fakepy,
              "--results", str(res), *double_args(lib)]
    env = {"STANDIN_JITTER": "0", "STANDIN_MEASURE_S": "0.05"}
    ok = cli(*common, env={**env, "STANDIN_XSCHED_FACTOR": "0.98"})
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "verdict: PASS" in ok.stdout and "+2.04%" in ok.stdout
    bad = cli(*common, env={**env, "STANDIN_XSCHED_FACTOR": "0.5"})
    assert bad.returncode == 2 and "verdict: FAIL" in bad.stdout
    # two pairs are too few for a CI: INCONCLUSIVE whatever the numbers
    edge = cli(*common, "--pairs", "2", env={**env, "STANDIN_XSCHED_FACTOR": "0.98"})
    assert edge.returncode == 1 and "verdict: INCONCLUSIVE" in edge.stdout

    listed = cli("runs", "--json", "--results", str(res))
    assert listed.returncode == 0
    entries = json.loads(listed.stdout)
    assert [e["verdict"] for e in entries] == ["PASS", "FAIL", "INCONCLUSIVE"]
    assert [e["valid"] for e in entries] == [6, 6, 4] and not any(e["invalid"] for e in entries)
    text = cli("runs", "--results", str(res))
    assert text.returncode == 0 and "PASS" in text.stdout and "FAIL" in text.stdout
    a, b = (Path(e["folder"]).name for e in entries[:2])
    cmp_ = cli("runs", "--compare", a, b, "--results", str(res))
    assert cmp_.returncode == 0, cmp_.stderr
    assert re.search(r"verdict\s+PASS\s+FAIL", cmp_.stdout)
    cj = json.loads(cli("runs", "--compare", a, b, "--json", "--results", str(res)).stdout)
    assert {r["what"] for r in cj["rows"]} >= {"overhead median", "verdict"}
    assert cli("runs", "--compare", a, "nope", "--results", str(res)).returncode == 1


def test_no_valid_pair_exits_2_with_the_reasons(lib, fakepy, tmp_path):
    p = cli("overhead", "--workload", "matmul", "--pairs", "2", "--python", fakepy,
            "--results", str(tmp_path / "r"), *double_args(lib), "--env", "XSTD_XQUEUES=0",
            env={"STANDIN_MEASURE_S": "0.2"})
    assert p.returncode == 2
    assert "no valid pair" in p.stderr and "0 XQueues" in p.stderr
    assert "verdict: INVALID" in p.stdout


def test_bad_usage_is_64(fakepy, tmp_path):
    res = ["--results", str(tmp_path / "r")]
    assert cli("overhead", "--workload", "matmul", "--pairs", "0", "--aa", "--python", fakepy,
               *res).returncode == 64
    no_install = cli("overhead", "--workload", "matmul", "--python", fakepy, *res)
    assert no_install.returncode == 64 and "no usable XSched install" in no_install.stderr
    assert cli("overhead", "--workload", "matmul", "--aa", "--python", str(tmp_path / "nope"),
               *res).returncode == 64
    assert cli("overhead", "--workload", "nosuch", "--aa", *res).returncode == 64
    assert cli("overhead", "--workload", "matmul", "--aa", "--opt", "=x", "--python", fakepy,
               *res).returncode == 64


def test_sigterm_stops_the_child_and_keeps_finished_runs(fakepy, tmp_path):
    res = tmp_path / "r"
    p = subprocess.Popen(
        [sys.executable, "-m", "xsched_tui", "overhead", "--workload", "matmul", "--aa", "--pairs",
         "20", "--python", fakepy, "--results", str(res)],
        env={**BASE_ENV, "STANDIN_MEASURE_S": "0.6"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=str(ROOT))
    try:
        deadline = time.monotonic() + 60
        done = 0
        while time.monotonic() < deadline and done < 2:
            time.sleep(0.05)
            found = list(res.glob("*/result.json"))
            if found:
                done = json.loads(found[0].read_text())["counts"]["done"]
        assert done >= 2
        time.sleep(0.2)  # the next run has started
        p.send_signal(signal.SIGTERM)
        _out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
    assert p.returncode == 143, err
    doc = json.loads(next(res.glob("*/result.json")).read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["status"] == "cancelled" and doc["counts"]["valid"] >= 2
    assert "cancelled" in err
    pids = [int(x) for x in re.findall(r"started \(pid (\d+)\)", err)]
    assert pids and not any(alive(x) for x in pids)


def test_real_workloads_module_on_cpu(lib, tmp_path):
    if not (ROOT / "src" / "xsched_tui" / "workloads").is_dir():
        pytest.skip("the workloads module (src/xsched_tui/workloads) has not landed yet")
    pytest.importorskip("torch")
    p = cli("overhead", "--workload", "matmul", "--device", "cpu", "--size", "64", "--pairs", "2",
            "--json", "--results", str(tmp_path / "r"), "--python", sys.executable, *double_args(lib),
            timeout=300)
    assert p.returncode in (0, 1), p.stdout[-2000:] + p.stderr[-2000:]
    doc = json.loads(p.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert doc["counts"]["valid"] == 4, [r["invalid_reason"] for r in doc["runs"]]
    first = doc["runs"][0]
    assert first["argv"][1:4] == ["-m", "xsched_tui.workloads", "matmul"]
    assert first["result"]["metric"] in ("tflops", "iter_ms") and first["result"]["correct"] is True
    xs = next(r for r in doc["runs"] if r["mode"] == "xsched")
    assert xs["fingerprint"]["snapshot"] and xs["fingerprint"]["shim"]["path"].endswith("libshimcuda.so")
    assert xs["events"]["xqueues_created"] > 0
