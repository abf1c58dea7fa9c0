from __future__ import annotations

import pytest

from xsched_tui.core.config import DEFAULT_XSCHED_ENV, ConfigError, load


def test_defaults_schedule_something(tmp_path):
    cfg = load(environ={}, cwd=str(tmp_path))
    assert cfg.file is None
    assert dict(cfg.xsched_env) == DEFAULT_XSCHED_ENV
    assert cfg.origin["xsched.env.XSCHED_POLICY"] == "default"
    assert cfg.xserver_port == 50000 and cfg.stream == "explicit"


def test_precedence_file_env_flag(tmp_path):
    (tmp_path / "xsched-tui.toml").write_text(
        '[xsched]\nsource = "/src/xsched"\nplatform = "hip"\n'
        '[xsched.env]\nXSCHED_SCHEDULER = "GLB"\nXSCHED_AUTO_XQUEUE = true\n'
        "[xserver]\nport = 50001\n"
    )
    env = {"XSCHED_TUI_PLATFORM": "cuda", "XSCHED_AUTO_XQUEUE_PRIORITY": "1"}
    cfg = load(flags={"xserver_port": 50002}, environ=env, cwd=str(tmp_path))
    f = str(tmp_path / "xsched-tui.toml")
    assert cfg.file == f
    assert cfg.source == "/src/xsched" and cfg.origin["xsched.source"] == f"file:{f}"
    assert cfg.install_dir() == "/src/xsched/output" and cfg.build_dir() == "/src/xsched/build"
    assert cfg.platform == "cuda" and cfg.origin["xsched.platform"] == "env:XSCHED_TUI_PLATFORM"
    assert cfg.xserver_port == 50002 and cfg.origin["xserver.port"] == "flag:--port"
    # the file's table replaced the default env; the shell's XSched var merges over it;
    # TOML true becomes ON (XSched would read "True" as off)
    assert dict(cfg.xsched_env) == {
        "XSCHED_SCHEDULER": "GLB", "XSCHED_AUTO_XQUEUE": "ON", "XSCHED_AUTO_XQUEUE_PRIORITY": "1"}
    assert cfg.origin["xsched.env.XSCHED_AUTO_XQUEUE_PRIORITY"] == "env:XSCHED_AUTO_XQUEUE_PRIORITY"
    rows = {k: (v, o) for k, v, o in cfg.effective()}
    assert rows["xsched.install"] == ("/src/xsched/output", "derived from xsched.source")


def test_xdg_file_used_when_no_local(tmp_path):
    xdg = tmp_path / "xdg"
    (xdg / "xsched-tui").mkdir(parents=True)
    (xdg / "xsched-tui" / "config.toml").write_text('[workloads]\nstream = "default"\n')
    cfg = load(environ={"XDG_CONFIG_HOME": str(xdg)}, cwd=str(tmp_path))
    assert cfg.stream == "default"
    # a local file wins over XDG (only the first found is read)
    (tmp_path / "xsched-tui.toml").write_text("[xserver]\nport = 1234\n")
    cfg = load(environ={"XDG_CONFIG_HOME": str(xdg)}, cwd=str(tmp_path))
    assert cfg.stream == "explicit" and cfg.xserver_port == 1234


def test_flag_env_and_removal(tmp_path):
    cfg = load(flag_env={"XSCHED_SCHEDULER": "GLB"}, environ={}, cwd=str(tmp_path))
    assert dict(cfg.xsched_env) == {"XSCHED_SCHEDULER": "GLB"}
    cfg = load(flag_env={"XSCHED_POLICY": ""}, environ={"XSCHED_POLICY": "HPF"}, cwd=str(tmp_path))
    assert "XSCHED_POLICY" not in cfg.xsched_env


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("[xsched\n", "not valid TOML"),
        ('[xsched]\nplatform = "rocm"\n', "unknown platform"),
        ("[xserver]\nport = 99999\n", "out of range"),
        ('[xserver]\nport = "x"\n', "must be an integer"),
        ("[nope]\na = 1\n", "unknown table"),
        ("[xsched]\nsorce = 1\n", "unknown key xsched.sorce"),
        ('[xsched]\nenv = "x"\n', "must be a table"),
        ("[probe]\ntimeout = -1\n", "must be in"),
        ("[probe]\ntimeout = inf\n", "must be in"),
        ("[xserver]\nport = true\n", "expected a number"),
        ("[logs]\npatterns = [{name = \"x\", regex = \"(\"}]\n", "invalid regular expression"),
        ("[logs]\npatterns = \"x\"\n", "list of tables"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, text, msg):
    (tmp_path / "xsched-tui.toml").write_text(text)
    with pytest.raises(ConfigError, match=msg):
        load(environ={}, cwd=str(tmp_path))


def test_binary_and_missing_files(tmp_path):
    p = tmp_path / "bin.toml"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match=r"not (UTF-8|valid TOML)"):
        load(config_path=str(p), environ={}, cwd=str(tmp_path))
    with pytest.raises(ConfigError, match="does not exist"):
        load(config_path=str(tmp_path / "none.toml"), environ={}, cwd=str(tmp_path))
    with pytest.raises(ConfigError, match="is a folder"):
        load(config_path=str(tmp_path), environ={}, cwd=str(tmp_path))


def test_non_scheduling_vars_merge_over_the_defaults(tmp_path):
    cfg = load(environ={"XLOG_LEVEL": "INFO"}, cwd=str(tmp_path))
    assert dict(cfg.xsched_env) == {**DEFAULT_XSCHED_ENV, "XLOG_LEVEL": "INFO"}
    cfg = load(flag_env={"XSCHED_CUDA_LIB": "/x"}, environ={}, cwd=str(tmp_path))
    assert cfg.xsched_env["XSCHED_POLICY"] == "HPF" and cfg.xsched_env["XSCHED_CUDA_LIB"] == "/x"
    cfg = load(environ={"XSCHED_SCHEDULER": "GLB"}, cwd=str(tmp_path))
    assert dict(cfg.xsched_env) == {"XSCHED_SCHEDULER": "GLB"}


def test_log_patterns_and_absolute_paths(tmp_path):
    (tmp_path / "xsched-tui.toml").write_text(
        '[logs]\npatterns = [{name = "lat", regex = "latency=(?P<ms>[0-9.]+)", level = "warn"}]\n'
        '[xsched]\ninstall = "rel/output"\n')
    cfg = load(environ={}, cwd=str(tmp_path))
    assert cfg.log_patterns == (("lat", "latency=(?P<ms>[0-9.]+)", "warn"),)
    assert cfg.install is not None and cfg.install.startswith("/")
