"""Fuzzing the config loader with real files: random text, random bytes and valid TOML with wrong
types, unknown keys and out-of-range values for the real keys. Every file either loads or raises
ConfigError naming the file; nothing else escapes. A few go through the CLI (exit code 64)."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xsched_tui.core.config import _KEYS, Config, ConfigError, load

FUZZ = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
PYTHONISH = ("Traceback", "TypeError", "KeyError", "AttributeError", "OverflowError",
             "IndexError", "UnicodeDecodeError", "RecursionError")

TABLES = sorted({k.split(".")[0] for k in _KEYS} | {"logs"})
KEYS = sorted({k.split(".")[1] for k in _KEYS} | {"env", "patterns"})


def _try_load(data: bytes) -> Config | ConfigError:
    fd, name = tempfile.mkstemp(suffix=".toml")
    cwd = tempfile.mkdtemp()
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            return load(config_path=name, environ={}, cwd=cwd)
        except ConfigError as exc:
            msg = str(exc)
            assert msg and name in msg, msg  # names the file
            assert not any(w in msg for w in PYTHONISH), msg
            return exc
    finally:
        os.unlink(name)
        os.rmdir(cwd)


# -- a small TOML writer (tomllib reads only) -------------------------------------------------

def _toml_str(s: str) -> str:
    out = json.dumps(s, ensure_ascii=False)
    return out.replace("\x7f", "\\u007f")  # TOML wants DEL escaped; JSON does not


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_str(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise AssertionError(type(v))


def _toml_doc(doc: dict[str, Any]) -> str:
    top = [f"{_toml_str(k)} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    parts = ["\n".join(top)]
    for table, body in doc.items():
        if isinstance(body, dict):
            lines = [f"[{_toml_str(table)}]"]
            lines += [f"{_toml_str(k)} = {_toml_value(v)}" for k, v in body.items()]
            parts.append("\n".join(lines))
    return "\n".join(parts) + "\n"


names = st.one_of(st.sampled_from(KEYS), st.text(max_size=8))
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=2**63, max_value=10**400),  # beyond 64 bits: tomllib still reads them
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.inf, -math.inf, math.nan, 1e308, 0.0, 65535.9, 3600.5]),
    st.text(max_size=12),
    st.sampled_from(["hip", "cuda", "AUTO", "ld_preload", "Explicit", "default", "~", "~nobody/x",
                     "~x\0y", "a\0b", "", " ", "50000", "1e999", "-1", "0", "nan", "(", "[a-",
                     "a{99999999999}", "(?P<level>WARN)", "warn", "ERRO"]),
    st.datetimes(), st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(names, inner, max_size=4)),
    max_leaves=8,
)
pattern_tables = st.lists(
    st.dictionaries(st.sampled_from(["name", "regex", "level", "x"]),
                    st.one_of(scalars, st.sampled_from(["warn", "ERRO", "(?P<x>a)", "x"])),
                    max_size=4),
    max_size=3)
env_tables = st.dictionaries(st.one_of(st.sampled_from(["XSCHED_POLICY", "XLOG_LEVEL", "", "A=B"]),
                                       st.text(max_size=6)), values, max_size=4)
# The real schema: each table with its real keys (each may be left out), plus a stray key at times.
REAL: dict[str, list[str]] = {}
for _key in _KEYS:
    _t, _k = _key.split(".")
    REAL.setdefault(_t, []).append(_k)
REAL["xsched"].append("env")
REAL["logs"] = ["patterns"]


def _value_for(key: str) -> st.SearchStrategy[Any]:
    if key == "env":
        return st.one_of(env_tables, values)
    if key == "patterns":
        return st.one_of(pattern_tables, values)
    return st.one_of(scalars, scalars, values)


def _body(table: str) -> st.SearchStrategy[Any]:
    real = st.fixed_dictionaries({}, optional={k: _value_for(k) for k in REAL[table]})
    stray = st.dictionaries(names, values, max_size=1)
    return st.one_of(real, real, real, st.builds(lambda a, b: {**a, **b}, real, stray), values)


docs = st.one_of(
    st.fixed_dictionaries({}, optional={t: _body(t) for t in REAL}),
    st.fixed_dictionaries({}, optional={t: _body(t) for t in REAL}),
    st.dictionaries(st.text(max_size=6), values, max_size=2),  # unknown tables
)


@FUZZ
@given(docs)
def test_valid_toml_with_wrong_types_and_unknown_keys(doc: dict[str, Any]) -> None:
    text = _toml_doc(doc)
    r = _try_load(text.encode("utf-8"))
    assert isinstance(r, (Config, ConfigError))
    if isinstance(r, Config):  # a loaded config is a usable one
        assert 0 < r.xserver_port < 65536 and 0 < r.probe_timeout <= 3600
        assert all(isinstance(k, str) and k and isinstance(v, str) for k, v in r.xsched_env.items())
        r.effective()
        json.dumps(r.to_json())


@FUZZ
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    assert isinstance(_try_load(text.encode("utf-8", "surrogatepass")), (Config, ConfigError))


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    assert isinstance(_try_load(data), (Config, ConfigError))


@FUZZ
@given(st.sampled_from(["[xsched]\nplatform = \"hip\"\n", "[xserver]\nport = 50001\n",
                        "[logs]\npatterns = [{name = \"a\", regex = \"x(?P<n>\\\\d+)\"}]\n"]),
       st.data())
def test_mutated_good_files(base: str, data: st.DataObject) -> None:
    b = bytearray(base.encode())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(b)))
        op = data.draw(st.sampled_from(["cut", "insert", "flip"]))
        if op == "cut":
            del b[i:]
        elif op == "insert":
            b[i:i] = data.draw(st.binary(min_size=1, max_size=4))
        elif i < len(b):
            b[i] ^= data.draw(st.integers(1, 255))
    assert isinstance(_try_load(bytes(b)), (Config, ConfigError))


@pytest.mark.parametrize(("text", "words"), [
    ("logs = 5\n", "[logs] must be a table"),
    ("logs = [1, 2]\n", "[logs] must be a table"),
    ("[xserver]\nport = inf\n", "must be an integer"),
    ("[xserver]\nport = nan\n", "must be an integer"),
    ("[probe]\ntimeout = 1" + "0" * 400 + "\n", "must be a number"),
    ('[xsched]\nsource = "~a\\u0000b"\n', "NUL"),
    ('[xsched.env]\n"" = "1"\n', "not a valid environment variable name"),
    ('[xsched.env]\n"A=B" = "1"\n', "not a valid environment variable name"),
    ('[xsched.env]\nXLOG_LEVEL = "a\\u0000"\n', "NUL"),
])
def test_found_by_fuzzing(tmp_path: Path, text: str, words: str) -> None:
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        load(config_path=str(p), environ={}, cwd=str(tmp_path))
    assert words in str(err.value) and str(p) in str(err.value)


CLI_FILES = {
    "bytes": b"\xff\xfe\x00[xsched\x80",
    "not-a-table": b"logs = 5\n",
    "port-inf": b"[xserver]\nport = inf\n",
    "huge-timeout": b"[probe]\ntimeout = 1" + b"0" * 400 + b"\n",
    "bad-pattern": b'[logs]\npatterns = [{regex = "a{99999999999999999999}"}]\n',
}


@pytest.mark.parametrize("name", sorted(CLI_FILES))
def test_cli_exit_64_without_traceback(tmp_path: Path, name: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_bytes(CLI_FILES[name])
    env = {k: v for k, v in os.environ.items() if not k.startswith("XSCHED")}
    done = subprocess.run([sys.executable, "-m", "xsched_tui", "--config", str(p), "check", "--list"],
                          capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 64, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    line = done.stderr.strip()
    assert "\n" not in line and str(p) in line, line
