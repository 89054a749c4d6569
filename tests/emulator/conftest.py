from tests.emulator.fixtures import binance_emulator, binance_emulator_factory  # noqa: F401
