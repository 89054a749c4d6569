"""Settings: defaults, TOML file, environment, flags, and the token policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import StartupRefused, check_token_policy, main
from app.settings import SettingsError, load_settings


def test_defaults_match_the_original() -> None:
    settings = load_settings(env={})
    assert settings.port == 3001 and settings.cors_origins == ["*"]
    assert settings.cache.ttl_seconds == 24 * 3600 and settings.cache.sweep_interval_seconds == 600
    assert settings.effective_token == "your-secret-token" and settings.uses_default_token


def test_environment_variables() -> None:
    settings = load_settings(
        env={
            "PORT": "4000",
            "HOST": "0.0.0.0",
            "API_TOKEN": "t",
            "LOG_LEVEL": "debug",
            "CORS_ORIGINS": "https://a.example, https://b.example",
            "DOCS_ENABLED": "false",
        }
    )
    assert (settings.port, settings.host, settings.api_token) == (4000, "0.0.0.0", "t")
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.docs_enabled is False and settings.log_level == "debug"


def test_toml_file_with_per_exchange_ccxt_overrides(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    path.write_text(
        """
port = 3100
allowed_exchanges = ["binance", "sim"]
[cache]
ttl_seconds = 60
max_size = 5
[exchanges.binance.ccxt]
timeout = 5000
httpsProxy = "http://127.0.0.1:8080"
[exchanges.binance.ccxt.urls.api]
public = "http://127.0.0.1:9000/api/v3"
[exchanges.sim]
backend = "sim"
options = { seed = 7 }
"""
    )
    settings = load_settings(config_path=path, env={"PORT": "3200"})
    assert settings.port == 3200, "environment wins over the file"
    assert settings.allowed_exchanges == ["binance", "sim"]
    assert settings.cache.ttl_seconds == 60 and settings.cache.max_size == 5
    binance = settings.exchanges["binance"].ccxt
    assert binance["urls"]["api"]["public"] == "http://127.0.0.1:9000/api/v3"
    assert settings.exchanges["sim"].backend == "sim"
    assert settings.exchanges["sim"].options == {"seed": 7}


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("port = 3300\n")
    assert load_settings(env={"PROFITMAKER_CONFIG": str(path)}).port == 3300


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("port = ", "not valid TOML"),
        ("port = 'x'", "invalid configuration"),
        ("unknown_setting = 1", "invalid configuration"),
        ("[cache]\nttl = 5", "invalid configuration"),
    ],
)
def test_bad_config_files_are_refused_with_a_reason(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(SettingsError, match=message):
        load_settings(config_path=path, env={})


def test_missing_config_file() -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings(config_path="/nonexistent/profitmaker.toml", env={})


def test_bad_port_in_environment() -> None:
    with pytest.raises(SettingsError, match="PORT must be an integer"):
        load_settings(env={"PORT": "abc"})


@pytest.mark.parametrize(
    ("env", "overrides", "field"),
    [
        ({"PORT": "99999"}, {}, "port"),
        ({}, {"port": -1}, "port"),
        ({}, {"socket_port": 70000}, "socket_port"),
        ({"METRICS_PORT": "65536"}, {}, "metrics_port"),
    ],
)
def test_a_port_out_of_range_is_a_configuration_error(
    env: dict[str, str], overrides: dict[str, int], field: str
) -> None:
    # Was an OverflowError traceback from bind() at start-up.
    with pytest.raises(SettingsError, match=rf"invalid configuration: .* `\$\.{field}`"):
        load_settings(env=env, overrides=overrides)


def test_the_whole_port_range_is_accepted() -> None:
    # positive control for the bounds above: 0 (a free port) and 65535 are valid
    assert load_settings(env={}, overrides={"port": 0, "socket_port": 65535}).port == 0
    assert load_settings(env={"PORT": "65535"}).port == 65535


def test_an_unknown_log_level_is_a_configuration_error() -> None:
    with pytest.raises(SettingsError, match="log_level must be one of debug, info"):
        load_settings(env={"LOG_LEVEL": "loud"})
    # positive control: the usual spellings, in any case
    assert load_settings(env={"LOG_LEVEL": "DEBUG"}).log_level == "DEBUG"
    assert load_settings(env={"LOG_LEVEL": "warning"}).log_level == "warning"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.5"])
def test_default_token_is_allowed_on_loopback_with_a_warning(host: str) -> None:
    warning = check_token_policy(load_settings(env={"HOST": host}))
    assert warning is not None and "your-secret-token" not in warning


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.internal"])
def test_default_token_off_loopback_refuses_to_start(host: str) -> None:
    with pytest.raises(StartupRefused, match="API_TOKEN"):
        check_token_policy(load_settings(env={"HOST": host}))


@pytest.mark.parametrize("blank", ["", " ", "   ", "\t \n"])
def test_blank_token_counts_as_unset_and_refuses_off_loopback(blank: str) -> None:
    """A token of blanks is no token: it must not pass the off-loopback refusal (and so never
    become a password of spaces); the explicit token below is the positive control."""
    settings = load_settings(env={"HOST": "0.0.0.0", "API_TOKEN": blank})
    assert settings.uses_default_token and settings.api_token is None
    with pytest.raises(StartupRefused, match="API_TOKEN"):
        check_token_policy(settings)


def test_explicit_token_may_listen_anywhere() -> None:
    assert check_token_policy(load_settings(env={"HOST": "0.0.0.0", "API_TOKEN": "x" * 32})) is None


def test_cli_refuses_and_never_prints_the_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("API_TOKEN", raising=False)
    monkeypatch.delenv("PROFITMAKER_CONFIG", raising=False)
    assert main(["--host", "0.0.0.0", "--port", "3999"]) == 2
    captured = capsys.readouterr()
    assert "API_TOKEN" in captured.err
    assert "your-secret-token" not in captured.err + captured.out


def test_runtime_config_matches_what_the_fanout_benchmark_measured() -> None:
    from app.cli import uvicorn_config

    settings = load_settings(env={"PORT": "3555", "HOST": "127.0.0.1"})
    config = uvicorn_config(settings, object())
    assert (config.host, config.port) == ("127.0.0.1", 3555)
    assert config.ws_per_message_deflate is False and config.ws == "websockets-sansio"
    assert config.timeout_graceful_shutdown == int(settings.shutdown_grace_seconds)


def test_socket_port_defaults_to_port_plus_one_and_zero_turns_it_off() -> None:
    assert load_settings(env={}).effective_socket_port == 3002
    assert load_settings(env={"PORT": "4000"}).effective_socket_port == 4001
    assert load_settings(env={"SOCKET_PORT": "5000"}).effective_socket_port == 5000
    assert load_settings(env={"SOCKET_PORT": "0"}).effective_socket_port is None
    assert load_settings(env={}, overrides={"port": 0}).effective_socket_port is None
    assert load_settings(env={"SOCKET_PORT": "5000"}, overrides={"socket_port": 0}).socket_port == 0
    with pytest.raises(SettingsError, match="SOCKET_PORT must be an integer"):
        load_settings(env={"SOCKET_PORT": "next"})
