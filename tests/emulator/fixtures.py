"""pytest fixtures around BinanceEmulator; import them into a test module or conftest."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.emulator.binance import BinanceEmulator

EmulatorFactory = Callable[..., Awaitable[BinanceEmulator]]


@pytest.fixture
async def binance_emulator() -> AsyncIterator[BinanceEmulator]:
    """A started emulator with 5 symbols; ``.base_url``, ``.counts``, ``.overrides()``."""
    async with BinanceEmulator() as emulator:
        yield emulator


@pytest.fixture
async def binance_emulator_factory() -> AsyncIterator[EmulatorFactory]:
    """``await factory(symbols=2000)``: started emulators, all stopped at teardown."""
    started: list[BinanceEmulator] = []

    async def make(**kwargs: object) -> BinanceEmulator:
        emulator = BinanceEmulator(**kwargs)  # type: ignore[arg-type]
        await emulator.start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        await emulator.stop()
