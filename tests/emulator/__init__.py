"""A loopback binance emulator for adapter, contract, e2e tests and the benchmark.

Use it in a test module with ``from tests.emulator.fixtures import binance_emulator``
(pytest then finds the fixture), or directly: ``async with BinanceEmulator() as emu``.
"""

from tests.emulator.binance import API_KEY, SECRET, BinanceEmulator, Failure
from tests.emulator.overrides import emulator_overrides, non_local_urls

__all__ = [
    "API_KEY",
    "SECRET",
    "BinanceEmulator",
    "Failure",
    "emulator_overrides",
    "non_local_urls",
]
