"""The binance emulator in a process of its own, driven over stdin/stdout (one JSON line each).

Started by ``bench.rest_procs.EmulatorProcess``. First line out: ``{"base_url": ...}``. Commands
in: ``stats`` (request counts by path), ``reset`` (clear the counts), ``quit``. End of
stdin also stops it, so a dead parent never leaves it behind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from tests.emulator.binance import BinanceEmulator


def _stats(emulator: BinanceEmulator) -> dict[str, object]:
    return {
        "total": sum(emulator.counts.values()),
        "counts": dict(emulator.counts),
        # answers by status of the per-IP weight rules (200, 429, 418): bench/budget.py
        "statuses": {str(k): v for k, v in emulator.weights.statuses.items()},
    }


async def serve(symbols: int, weight_limit: int | None = None, accounts: int = 0) -> None:
    emulator = BinanceEmulator(
        symbols=symbols,
        weight_limit=weight_limit,
        accounts={f"bench-key-{i}": f"bench-secret-{i}" for i in range(accounts)},
    )
    await emulator.start()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def reply(payload: object) -> None:
        sys.stdout.write(json.dumps(payload) + "\n")
        sys.stdout.flush()

    reply({"base_url": emulator.base_url, "symbols": len(emulator.bases)})
    try:
        while line := (await reader.readline()).decode().strip():
            if line == "stats":
                reply(_stats(emulator))
            elif line == "reset":
                emulator.counts.clear()
                emulator.host_counts.clear()
                emulator.requests.clear()  # grows by one tuple per request otherwise
                emulator.weights.reset()  # used weight, 429 and 418 state
                reply({"ok": True})
            elif line == "quit":
                reply({"ok": True})
                break
            else:
                reply({"error": f"unknown command {line!r}"})
    finally:
        await emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=2000)
    parser.add_argument(
        "--weight-limit",
        type=int,
        default=None,
        help="per-IP REQUEST_WEIGHT per minute; over it 429, then 418",
    )
    parser.add_argument(
        "--accounts", type=int, default=0, help="extra API keys bench-key-<i> / bench-secret-<i>"
    )
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:  # the plain loop only makes the upstream slower
        asyncio.run(serve(args.symbols, args.weight_limit, args.accounts))
    else:
        uvloop.run(serve(args.symbols, args.weight_limit, args.accounts))


if __name__ == "__main__":
    main()
