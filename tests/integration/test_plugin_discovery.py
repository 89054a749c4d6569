"""Backends are found through the ``profitmaker_server.backends.v1`` entry points.

Real installed distributions (this package's ccxt and sim, the example plugin) and temporary
ones written as ``*.dist-info`` folders on ``sys.path``, so that discovery runs through
``importlib.metadata`` exactly as it does for a pip-installed plugin.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from app.adapters.backends import ENTRY_POINT_GROUP, BackendRegistry
from app.domain.config import ExchangeConfig
from app.domain.errors import UnknownExchange
from app.plugin import BackendContext
from app.settings import ExchangeSettings, Settings


def install_fake_distribution(
    root: Path, name: str, entry_points: str, modules: dict[str, str]
) -> None:
    """Write a minimal installed distribution (dist-info + modules) under ``root``."""
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_points}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


GOOD_PLUGIN = """
    from app.testing import FakeBackend

    def factory(context):
        backend = FakeBackend(name="tempgood", exchange_ids=frozenset({"tempgood"}))
        backend.context = context  # what the server handed over, for the test to inspect
        return backend
"""


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for module in (
        "temp_good_plugin",
        "temp_broken_import",
        "temp_broken_factory",
        "temp_leaky_factory",
    ):
        sys.modules.pop(module, None)


def test_builtin_backends_are_plugins_of_the_same_group() -> None:
    registry = BackendRegistry.discover(Settings())
    loaded = {row["name"]: row for row in registry.describe()}
    assert loaded["sim"]["status"] == "loaded" and loaded["sim"]["exchanges"] == 1
    assert loaded["ccxt"]["status"] == "loaded" and loaded["ccxt"]["exchanges"] > 50
    assert registry.backend_for("sim").name == "sim"
    assert registry.backend_for("binance").name == "ccxt"


def test_discovered_sim_receives_its_options_from_settings() -> None:
    settings = Settings(
        exchanges={"sim": ExchangeSettings(options={"seed": 7, "tick_hz": 10, "symbols": ["X/Y"]})}
    )
    sim: Any = BackendRegistry.discover(settings).backend_for("sim")
    assert (sim.options.seed, sim.options.tick_hz, sim.options.symbols) == (7, 10.0, ("X/Y",))


def test_a_sim_with_bad_options_is_reported_not_fatal() -> None:
    settings = Settings(exchanges={"sim": ExchangeSettings(options={"tick_hz": -1})})
    with capture_logs() as logs:
        registry = BackendRegistry.discover(settings)
    failed = {row["name"]: row for row in registry.describe() if row["status"] == "failed"}
    assert "tick_hz" in failed["sim"]["error"]
    assert not registry.is_known("sim") and registry.is_known("binance")
    assert any(e["event"] == "backend_plugin_failed" and e["plugin"] == "sim" for e in logs)


async def test_the_installed_example_plugin_serves_its_exchange_id() -> None:
    registry = BackendRegistry.discover(Settings())
    assert registry.is_known("example")
    backend = registry.backend_for("example")
    assert backend.name == "example"
    gateway = registry.create(ExchangeConfig("example"))
    await gateway.load_markets()
    assert (await gateway.fetch_ticker("BTC/USDT"))["last"] > 0
    await gateway.close()


def test_config_routes_another_exchange_id_to_a_plugin() -> None:
    settings = Settings(exchanges={"replay": ExchangeSettings(backend="example")})
    registry = BackendRegistry.discover(settings)
    assert registry.backend_for("replay").name == "example"
    assert registry.create(ExchangeConfig("replay")).exchange_id == "replay"


def test_a_plugin_that_fails_on_import_is_reported_and_skipped(plugin_dir: Path) -> None:
    install_fake_distribution(
        plugin_dir,
        "temp_plugins",
        "tempgood = temp_good_plugin:factory\n"
        "tempimport = temp_broken_import:Backend\n"
        "tempfactory = temp_broken_factory:factory",
        {
            "temp_good_plugin": GOOD_PLUGIN,
            "temp_broken_import": "raise ImportError('needs libfoo 9')\n",
            "temp_broken_factory": """
                def factory(settings):
                    raise RuntimeError('no licence key configured')
            """,
        },
    )
    with capture_logs() as logs:
        registry = BackendRegistry.discover(Settings())
    rows = {row["name"]: row for row in registry.describe()}
    assert rows["tempimport"]["status"] == "failed"
    assert "ImportError: needs libfoo 9" in rows["tempimport"]["error"]
    assert rows["tempfactory"]["status"] == "failed"
    assert "RuntimeError: no licence key configured" in rows["tempfactory"]["error"]
    for name in ("tempgood", "sim", "ccxt"):
        assert rows[name]["status"] == "loaded"
    assert registry.backend_for("tempgood").name == "tempgood"
    warnings = {e["plugin"]: e for e in logs if e["event"] == "backend_plugin_failed"}
    assert set(warnings) == {"tempimport", "tempfactory"}
    assert all(e["log_level"] == "warning" for e in warnings.values())


def test_a_failed_plugins_error_is_scrubbed_of_secrets_in_api_backends(plugin_dir: Path) -> None:
    # /api/backends shows the error to API clients: the same redaction as the log line.
    install_fake_distribution(
        plugin_dir,
        "temp_leaky",
        "templeaky = temp_leaky_factory:factory",
        {
            "temp_leaky_factory": """
                def factory(context):
                    raise RuntimeError('login refused: api_key=AKIA-plugin-1234 password=hunter2x')
            """,
        },
    )
    with capture_logs() as logs:
        registry = BackendRegistry.discover(Settings())
    row = next(row for row in registry.describe() if row["name"] == "templeaky")
    assert row["status"] == "failed"
    assert row["error"].startswith("RuntimeError: login refused: api_key=")  # the reason stays
    assert "AKIA-plugin-1234" not in row["error"] and "hunter2x" not in row["error"]
    warning = next(e for e in logs if e["event"] == "backend_plugin_failed")
    assert "AKIA-plugin-1234" not in warning["error"] and "hunter2x" not in warning["error"]


def test_a_plugin_factory_receives_the_narrow_context_not_the_settings(plugin_dir: Path) -> None:
    install_fake_distribution(
        plugin_dir,
        "temp_plugins",
        "tempgood = temp_good_plugin:factory",
        {"temp_good_plugin": GOOD_PLUGIN},
    )
    settings = Settings(
        exchanges={"tempgood": ExchangeSettings(options={"region": "eu"}, ccxt={"timeout": 5})}
    )
    backend: Any = BackendRegistry.discover(settings).backend_for("tempgood")
    context = backend.context
    assert isinstance(context, BackendContext) and not isinstance(context, Settings)
    assert context.options("tempgood") == {"region": "eu"}
    assert context.ccxt_overrides_for("tempgood") == {"timeout": 5}
    assert not hasattr(context, "api_token") and not hasattr(context, "exchanges")


def test_disabled_plugins_are_not_loaded(plugin_dir: Path) -> None:
    install_fake_distribution(
        plugin_dir, "temp_plugins", "tempgood = temp_good_plugin:factory",
        {"temp_good_plugin": GOOD_PLUGIN},
    )  # fmt: skip
    registry = BackendRegistry.discover(Settings(disabled_plugins=["tempgood", "sim"]))
    assert not registry.is_known("tempgood") and not registry.is_known("sim")
    with pytest.raises(UnknownExchange):
        registry.backend_for("sim")
