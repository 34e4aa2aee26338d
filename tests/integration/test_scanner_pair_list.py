"""The scanner chooses what the daemon trades (scanner.select_symbols).

The replay exchange serves the real all-symbol 24 h ticker snapshot of 2020-09-29 (1,072
symbols); the daemon must subscribe and build its strategies for exactly the pairs the filters
select, computed here independently from the raw JSON.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from decimal import Decimal
from pathlib import Path

from bot.app import Daemon
from bot.config import load_settings
from bot.config.sections import RECORDINGS_DIRECTORY

ROOT = Path(__file__).parents[2]


def expected_pairs(max_pairs: int) -> list[str]:
    with gzip.open(RECORDINGS_DIRECTORY / "spot_ticker_24hr_all_symbols_2020-09-29.json.gz", "rb") as file:
        rows = json.load(file)
    chosen = []
    for row in rows:
        bid, ask, volume = Decimal(row["bidPrice"]), Decimal(row["askPrice"]), Decimal(row["quoteVolume"])
        if not row["symbol"].endswith("USDT") or bid <= 0 or ask <= 0 or ask < bid or int(row["count"]) == 0:
            continue
        spread_bps = (ask - bid) / ((ask + bid) / 2) * 10_000
        move = abs(Decimal(row["priceChangePercent"]))
        # The default filters: >= 1 M quote volume, spread <= 20 bps, no HIGH anomaly (a move of
        # 30 % or more is HIGH; none of the top pairs moved that much that day).
        if volume >= 1_000_000 and spread_bps <= 20 and move < 30:
            chosen.append((-volume, row["symbol"]))
    return [symbol for _, symbol in sorted(chosen)[:max_pairs]]


async def test_the_daemon_trades_the_pairs_the_scanner_selects(redis_url, tmp_path):
    settings = load_settings(ROOT / "config/tradebot.yaml", {
        "TRADEBOT_REDIS__URL": redis_url, "TRADEBOT_DATA_DIRECTORY": str(tmp_path),
        "TRADEBOT_METRICS__ENABLED": "false", "TRADEBOT_REPLAY_EXCHANGE__SPEED": "",
        "TRADEBOT_SCANNER__SELECT_SYMBOLS": "true",
        "TRADEBOT_SCANNER__PAIR_FILTERS": '{"max_pairs": 3}',
    })
    daemon = Daemon(settings)
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(stop))
    try:
        await asyncio.wait_for(daemon.ready.wait(), 60)
        chosen = expected_pairs(3)
        assert chosen[0] == "BTCUSDT" and len(chosen) == 3
        assert list(daemon.settings.ingest.symbols) == chosen
        traded = sorted({(strategy.name, strategy.symbol) for strategy in daemon.runner.engine.strategies})
        assert traded == sorted((name, symbol) for name in ("breakout", "sma_cross") for symbol in chosen)
        # The scan that chose the symbols is the scanner's first: no second scan right after it,
        # and exchangeInfo is fetched once for the engine and the scanner together.
        await asyncio.sleep(1.0)
        requests = daemon.simulator.counters.rest_requests_by_path
        assert (requests["/api/v3/ticker/24hr"], requests["/api/v3/exchangeInfo"]) == (1, 1)
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
