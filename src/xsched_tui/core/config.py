"""Typed configuration with documented precedence and per-value provenance.

Precedence, lowest to highest:

1. built-in defaults
2. one TOML file: ``--config FILE``, else ``$XSCHED_TUI_CONFIG``, else ``./xsched-tui.toml``,
   else ``$XDG_CONFIG_HOME/xsched-tui/config.toml`` (``~/.config/...``); the first that exists
3. environment variables ``XSCHED_TUI_*`` (and, for the XSched environment applied to workloads,
   the shell's own ``XSCHED_*`` / ``XLOG_LEVEL`` variables)
4. command-line flags

``xsched-tui config`` prints every effective value and the layer it came from.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

from xsched_tui.core.platforms import PLATFORM_NAMES

ENV_PREFIX = "XSCHED_TUI_"
# The XSched environment used when no layer sets one: a configuration that actually schedules
# (local HPF, auto-created XQueues). A run with no scheduler would schedule nothing (FACTS §0.3).
DEFAULT_XSCHED_ENV: dict[str, str] = {
    "XSCHED_POLICY": "HPF",
    "XSCHED_AUTO_XQUEUE": "ON",
}
# Setting one of these in a higher layer replaces the default table: they decide what is
# scheduled. Other variables (XLOG_LEVEL, *_LIB...) merge over the defaults.
SCHEDULING_VARS = ("XSCHED_SCHEDULER", "XSCHED_POLICY", "XSCHED_AUTO_XQUEUE")
ENABLE_MODES = ("auto", "LD_PRELOAD", "LD_LIBRARY_PATH")
STREAM_MODES = ("explicit", "default")


class ConfigError(ValueError):
    """A configuration problem phrased for the user (file, key and what is wrong)."""


@dataclass(frozen=True)
class Config:
    source: str | None = None  # XSched source folder
    build: str | None = None  # default <source>/build
    install: str | None = None  # default <source>/output, else discovered
    platform: str = "auto"  # auto or one of PLATFORM_NAMES
    enable: str = "auto"  # auto (per platform), LD_PRELOAD or LD_LIBRARY_PATH
    python: str = sys.executable  # interpreter that runs workloads and the probe
    stream: str = "explicit"  # workloads submit on an explicit stream unless "default"
    xsched_env: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_XSCHED_ENV))
    xserver_host: str = "127.0.0.1"
    xserver_port: int = 50000
    logs: str | None = None  # folder of per-process logs to watch
    results: str = "xsched-results"
    probe_timeout: float = 120.0
    readonly: bool = False
    # user-defined log patterns: (name, regex, level or None); named groups become fields
    log_patterns: tuple[tuple[str, str, str | None], ...] = ()
    # key -> where its value came from: "default", "file:<path>", "env:<NAME>", "flag:--x",
    # "detected" (filled in later by checks that detect e.g. the platform)
    origin: Mapping[str, str] = field(default_factory=dict)
    file: str | None = None  # the TOML file that was read, if any

    @property
    def xserver_url(self) -> str:
        return f"http://{self.xserver_host}:{self.xserver_port}"

    def build_dir(self) -> str | None:
        if self.build:
            return self.build
        return os.path.join(self.source, "build") if self.source else None

    def install_dir(self) -> str | None:
        if self.install:
            return self.install
        return os.path.join(self.source, "output") if self.source else None

    def effective(self) -> list[tuple[str, str, str]]:
        """(key, value, origin) rows for ``xsched-tui config``."""
        rows = []
        for key, attr in _KEYS.items():
            val = getattr(self, attr)
            if key == "xsched.build" and not val and self.build_dir():
                rows.append((key, self.build_dir() or "", "derived from xsched.source"))
                continue
            if key == "xsched.install" and not val and self.install_dir():
                rows.append((key, self.install_dir() or "", "derived from xsched.source"))
                continue
            rows.append((key, "" if val is None else str(val), self.origin.get(key, "default")))
        for name, val in sorted(self.xsched_env.items()):
            key = f"xsched.env.{name}"
            rows.append((key, val, self.origin.get(key, "default")))
        return rows

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "values": {k: {"value": v, "origin": o} for k, v, o in self.effective()},
        }


# TOML key -> Config attribute
_KEYS: dict[str, str] = {
    "xsched.source": "source",
    "xsched.build": "build",
    "xsched.install": "install",
    "xsched.platform": "platform",
    "xsched.enable": "enable",
    "workloads.python": "python",
    "workloads.stream": "stream",
    "xserver.host": "xserver_host",
    "xserver.port": "xserver_port",
    "paths.logs": "logs",
    "paths.results": "results",
    "probe.timeout": "probe_timeout",
}
# Config attribute -> environment variable
ENV_VARS: dict[str, str] = {
    "source": "XSCHED_TUI_SOURCE",
    "build": "XSCHED_TUI_BUILD",
    "install": "XSCHED_TUI_INSTALL",
    "platform": "XSCHED_TUI_PLATFORM",
    "enable": "XSCHED_TUI_ENABLE",
    "python": "XSCHED_TUI_PYTHON",
    "stream": "XSCHED_TUI_STREAM",
    "xserver_host": "XSCHED_TUI_XSERVER_HOST",
    "xserver_port": "XSCHED_TUI_XSERVER_PORT",
    "logs": "XSCHED_TUI_LOGS",
    "results": "XSCHED_TUI_RESULTS",
    "probe_timeout": "XSCHED_TUI_PROBE_TIMEOUT",
}
_PATH_ATTRS = {"source", "build", "install", "logs", "results"}


def is_xsched_env_name(name: str) -> bool:
    """Variables XSched itself reads (our own XSCHED_TUI_* are not among them)."""
    return (name.startswith("XSCHED_") and not name.startswith(ENV_PREFIX)) or name == "XLOG_LEVEL"


def config_file_candidates(environ: Mapping[str, str], cwd: str) -> list[str]:
    xdg = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return [os.path.join(cwd, "xsched-tui.toml"), os.path.join(xdg, "xsched-tui", "config.toml")]


def _coerce(attr: str, value: Any, where: str) -> Any:
    if attr in ("xserver_port", "probe_timeout") and isinstance(value, bool):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if attr in ("xserver_port",):
        try:
            port = int(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: inf
            raise ConfigError(f"{where}: xserver port must be an integer, got {value!r}") from None
        if not 0 < port < 65536:
            raise ConfigError(f"{where}: xserver port {port} is out of range 1-65535")
        return port
    if attr == "probe_timeout":
        try:
            t = float(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond 1e308
            raise ConfigError(f"{where}: probe timeout must be a number, got {value!r}") from None
        if not 0 < t <= 3600:  # also rejects nan and inf: the probe must have a hard limit
            raise ConfigError(f"{where}: probe timeout must be in (0, 3600] seconds, got {value}")
        return t
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected text, got {type(value).__name__} {value!r}")
    if attr == "platform":
        v = value.strip().lower()
        if v not in ("auto", *PLATFORM_NAMES):
            raise ConfigError(
                f"{where}: unknown platform {value!r} (one of: auto, {', '.join(PLATFORM_NAMES)})"
            )
        return v
    if attr == "enable":
        v = value.strip()
        match = {m.lower(): m for m in ENABLE_MODES}.get(v.lower())
        if match is None:
            raise ConfigError(f"{where}: enable must be one of {', '.join(ENABLE_MODES)}")
        return match
    if attr == "stream":
        v = value.strip().lower()
        if v not in STREAM_MODES:
            raise ConfigError(f"{where}: stream must be 'explicit' or 'default', got {value!r}")
        return v
    if attr in _PATH_ATTRS:
        if "\0" in value:
            raise ConfigError(f"{where}: a path cannot contain a NUL character")
        return os.path.abspath(os.path.expanduser(value)) if value else None
    return value


def _env_table(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [xsched.env] must be a table of NAME = \"value\"")
    out = {}
    for k, v in value.items():
        if isinstance(v, bool):
            v = "ON" if v else "OFF"  # TOML true would otherwise become "True", which XSched ignores
        if not isinstance(v, (str, int)):
            raise ConfigError(f"{where}: xsched.env.{k} must be text or a number, got {v!r}")
        if not k or "=" in k or "\0" in k:
            raise ConfigError(f"{where}: {k!r} is not a valid environment variable name")
        if "\0" in str(v):
            raise ConfigError(f"{where}: xsched.env.{k} contains a NUL character")
        out[str(k)] = str(v)
    return out


def read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except PermissionError:
        raise ConfigError(f"config file {path} is not readable (permission denied)") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text: {exc.reason}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def load(
    *,
    flags: Mapping[str, Any] | None = None,
    flag_env: Mapping[str, str] | None = None,
    config_path: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> Config:
    """Build the effective Config. ``flags`` maps Config attributes to values given on the
    command line (None = not given); ``flag_env`` holds ``--env NAME=VALUE`` pairs (an empty
    value removes the variable)."""
    environ = os.environ if environ is None else environ
    cwd = os.getcwd() if cwd is None else cwd
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    xenv: dict[str, str] = dict(DEFAULT_XSCHED_ENV)
    xenv_origin = {k: "default" for k in xenv}

    # 2. file
    path = config_path or environ.get("XSCHED_TUI_CONFIG")
    chosen: str | None = None
    if path:
        chosen = os.path.expanduser(path)
        if not os.path.exists(chosen):
            raise ConfigError(f"config file {chosen} does not exist")
    else:
        for cand in config_file_candidates(environ, cwd):
            if os.path.isfile(cand):
                chosen = cand
                break
    if chosen:
        data = read_toml(chosen)
        tag = f"file:{chosen}"
        known_tables = {"xsched", "workloads", "xserver", "paths", "probe", "logs"}
        for table in data:
            if table not in known_tables:
                raise ConfigError(
                    f"{chosen}: unknown table [{table}] (known: {', '.join(sorted(known_tables))})"
                )
        for key, attr in _KEYS.items():
            table, name = key.split(".")
            tbl = data.get(table, {})
            if not isinstance(tbl, dict):
                raise ConfigError(f"{chosen}: [{table}] must be a table")
            if name in tbl:
                values[attr] = _coerce(attr, tbl[name], f"{chosen}: {key}")
                origin[key] = tag
        for table, tbl in data.items():
            if not isinstance(tbl, dict):
                raise ConfigError(f"{chosen}: [{table}] must be a table")
            allowed = {k.split(".")[1] for k in _KEYS if k.startswith(table + ".")}
            if table == "xsched":
                allowed.add("env")
            if table == "logs":
                allowed.add("patterns")
            for name in tbl:
                if name not in allowed:
                    raise ConfigError(
                        f"{chosen}: unknown key {table}.{name} "
                        f"(known: {', '.join(sorted(allowed))})"
                    )
        if "env" in data.get("xsched", {}):
            # A table in the file replaces the default environment wholesale.
            xenv = _env_table(data["xsched"]["env"], f"{chosen}: [xsched.env]")
            xenv_origin = {k: tag for k in xenv}
        if "patterns" in data.get("logs", {}):
            values["log_patterns"] = _patterns(data["logs"]["patterns"], f"{chosen}: logs.patterns")
            origin["logs.patterns"] = tag

    # 3. environment
    for attr, var in ENV_VARS.items():
        if var in environ and environ[var] != "":
            key = next(k for k, a in _KEYS.items() if a == attr)
            values[attr] = _coerce(attr, environ[var], f"${var}")
            origin[key] = f"env:{var}"
    shell = {k: v for k, v in environ.items() if is_xsched_env_name(k)}
    if shell:
        if any(k in shell for k in SCHEDULING_VARS) and all(
            o == "default" for o in xenv_origin.values()
        ):
            xenv, xenv_origin = {}, {}
        for k, v in shell.items():
            xenv[k] = v
            xenv_origin[k] = f"env:{k}"

    # 4. flags
    for attr, val in (flags or {}).items():
        if val is None:
            continue
        key = next((k for k, a in _KEYS.items() if a == attr), None)
        if key is None:
            if attr == "readonly":
                values["readonly"] = bool(val)
                origin["readonly"] = "flag:--readonly"
                continue
            raise ConfigError(f"internal: unknown flag attribute {attr}")
        values[attr] = _coerce(attr, val, f"--{key.split('.')[1]}")
        origin[key] = f"flag:--{key.split('.')[1]}"
    if flag_env:
        if any(k in flag_env for k in SCHEDULING_VARS) and all(
            o == "default" for o in xenv_origin.values()
        ):
            xenv, xenv_origin = {}, {}
        for k, v in flag_env.items():
            if v == "":
                xenv.pop(k, None)
                xenv_origin.pop(k, None)
            else:
                xenv[k] = v
                xenv_origin[k] = "flag:--env"

    for k, o in xenv_origin.items():
        origin[f"xsched.env.{k}"] = o
    return replace(Config(), **values, xsched_env=xenv, origin=origin, file=chosen)


def _patterns(value: Any, where: str) -> tuple[tuple[str, str, str | None], ...]:
    """[[logs.patterns]] / patterns = [{name, regex, level}] -> validated tuples."""
    from xsched_tui.core.logparse import CustomPattern

    if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
        raise ConfigError(f"{where}: expected a list of tables {{name, regex, level}}")
    out = []
    for i, p in enumerate(value):
        name, rx, level = p.get("name", f"pattern{i + 1}"), p.get("regex"), p.get("level")
        if not isinstance(rx, str) or not isinstance(name, str):
            raise ConfigError(f"{where}[{i}]: needs name and regex as text")
        try:
            CustomPattern(name, rx, level).compile()
        except ValueError as exc:
            raise ConfigError(f"{where}[{i}]: {exc}") from None
        out.append((name, rx, level if isinstance(level, str) else None))
    return tuple(out)


def custom_patterns(cfg: Config) -> tuple:
    """The configured patterns as logparse.CustomPattern objects."""
    from xsched_tui.core.logparse import CustomPattern

    return tuple(CustomPattern(n, r, lv) for n, r, lv in cfg.log_patterns)


def parse_env_pairs(pairs: list[str] | None) -> dict[str, str]:
    """``--env NAME=VALUE`` arguments to a dict; raises ConfigError on a malformed pair."""
    out: dict[str, str] = {}
    for p in pairs or []:
        if "=" not in p:
            raise ConfigError(f"--env {p!r}: expected NAME=VALUE")
        k, v = p.split("=", 1)
        if not k:
            raise ConfigError(f"--env {p!r}: empty variable name")
        out[k] = v
    return out
