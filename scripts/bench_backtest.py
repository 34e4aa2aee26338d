"""`tradebot backtest` beside two established backtesters, on the same real bars and the same rules.

    .venv/bin/python scripts/bench_backtest.py                  # FILUSDT 1m, sma 20/60, 3 repeats
    .venv/bin/python scripts/bench_backtest.py --repeats 5 --data bot/sim/recordings/spot_BTCUSDT_1m_2025-09-22_2025-09-25.csv --fast 5 --slow 20

The rules are the issue's convention for sma_cross with guards and exchange filters off: a cross
decided on the close of bar t fills at the open of bar t+1; a buy spends all cash,
qty = cash / (price * (1 + fee)), fee in quote; a sell of the whole position yields
qty * price * (1 - fee); an open position at the end is valued at the last close without an exit
fee and is not a trade. Long-only: enter when fast[t] > slow[t] and fast[t-1] <= slow[t-1], exit
on the opposite cross. Every peer decides the crosses on exactly compared averages
(tests/backtest/vectorized_oracle.py explains why: real FILUSDT bars have exact SMA ties).

PEERS
  backtesting.py  an event loop in Python (`Backtest.run`, a Strategy whose next() runs per bar),
                  trade_on_close=False (market orders fill at the next open), commission=fee,
                  through backtesting.lib.FractionalBacktest so it can hold fractions of a coin
                  (it only trades whole units; the unit here is 1e-10 of a coin).
  vectorbt        `Portfolio.from_signals`, numba-compiled; the sma_cross oracle of the tests.
  tradebot        the engine itself (`run_tradebot`): the daemon's engine, strategy, risk and
                  paper broker event by event, guards off and on.

Timing covers the run only (signals, simulation, results), not reading the CSV, and is the
median of --repeats runs. vectorbt's first call in a process JIT-compiles its simulator; that
first figure is reported apart, after which vectorbt runs warm.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPOSITORY = Path(__file__).resolve().parent.parent
# The oracle lives with the tests (tests/ is their import root, as under pytest).
if str(REPOSITORY / "tests") not in sys.path:
    sys.path.insert(0, str(REPOSITORY / "tests"))

from backtest.vectorized_oracle import cross_signals, exact_sma_side, load_klines_frame, sma_cross_oracle  # noqa: E402

DEFAULT_DATA = REPOSITORY / "scripts/data/futures_um_FILUSDT_1m_2023-08-01_2023-11-30.csv.gz"
# backtesting.py trades whole units only; FractionalBacktest rescales prices so that one of its
# units is this fraction of a coin. 1e-10 makes the rounding of a buy at most 1e-10 coin
# (measured on BTCUSDT 5/20: equity off vectorbt by 2e-6 with 1e-6, 2e-8 with 1e-8, 2e-10 with
# 1e-10: the whole-unit rounding is the only difference).
FRACTIONAL_UNIT = 1e-10
# backtesting.py reads a size in (0, 1) as "this fraction of available cash" and needs it below
# 1: all the cash but 1e-12 of it. With the whole-unit floor, a buy's quantity is at most
# 1e-12 relative + one 1e-10 unit short of cash / (price * (1 + fee)).
ALL_CASH = 1 - 1e-12


@dataclass(frozen=True)
class PeerResult:
    name: str
    bars: int
    seconds: float  # median of the timed repeats
    n_trades: int  # closed round trips
    final_equity: float  # open position at the last close, no exit fee
    first_call_seconds: float | None = None  # vectorbt: the first run of the process (JIT compile)
    fills: tuple[tuple[float, float], ...] = ()  # (entry price, exit price) of each closed trade

    @property
    def bars_per_second(self) -> float:
        return self.bars / self.seconds


def timed_median(run, repeats: int) -> tuple[float, object]:
    """Median wall time of `repeats` calls of run(), and the last call's result."""
    durations = []
    result = None
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        result = run()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations), result


def backtesting_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The OHLCV columns under the names backtesting.py requires."""
    return frame[["open", "high", "low", "close", "volume"]].rename(columns=str.capitalize)


def backtesting_strategy(fast: int, slow: int):
    from backtesting import Strategy

    class SmaCrossExact(Strategy):
        """sma_cross as the convention states it. backtesting.lib.crossover is not used: it
        wants a[-2] < b[-2] (strict), the rule wants fast[t-1] <= slow[t-1], and it compares
        float means. The side of fast vs slow is an indicator made with self.I, so
        backtesting.py also skips the warm-up bars itself."""

        def init(self) -> None:
            # FractionalBacktest scaled the prices by FRACTIONAL_UNIT; undo it for the exact
            # comparison (exact_sma_side rounds to the tick, so the float round trip is harmless).
            self.side = self.I(
                exact_sma_side, np.asarray(self.data.Close) / FRACTIONAL_UNIT, fast, slow,
                name="side", plot=False,
            )

        def next(self) -> None:
            now, before = self.side[-1], self.side[-2]
            if now > 0 and before <= 0 and not self.position:
                self.buy(size=ALL_CASH)
            elif now < 0 and before >= 0 and self.position:
                self.position.close()

    return SmaCrossExact


def run_backtesting_py(frame: pd.DataFrame, fast: int, slow: int, cash: float, fee_rate: float, repeats: int = 3) -> PeerResult:
    import backtesting.backtesting
    from backtesting.lib import FractionalBacktest

    # Its tqdm progress bar is not part of a backtest: a plain iteration instead.
    backtesting.backtesting._tqdm = lambda sequence, **_: sequence

    data = backtesting_frame(frame)
    strategy = backtesting_strategy(fast, slow)

    def run():
        backtest = FractionalBacktest(
            data, strategy, cash=cash, commission=fee_rate, trade_on_close=False,
            exclusive_orders=False, finalize_trades=False, fractional_unit=FRACTIONAL_UNIT,
        )
        with warnings.catch_warnings():
            # "Some trades remain open at the end": intended, the convention does not close them.
            warnings.simplefilter("ignore", UserWarning)
            # Its statistics use pandas APIs that pandas deprecates; not ours to act on.
            warnings.simplefilter("ignore", DeprecationWarning)
            return backtest.run()

    seconds, stats = timed_median(run, repeats)
    return PeerResult(
        name="backtesting.py",
        bars=len(frame),
        seconds=seconds,
        n_trades=int(stats["# Trades"]),  # closed trades only (finalize_trades=False)
        final_equity=float(stats["Equity Final [$]"]),  # cash + open position at last close
        fills=tuple(zip(stats["_trades"]["EntryPrice"].tolist(), stats["_trades"]["ExitPrice"].tolist())),
    )


def run_vectorbt(frame: pd.DataFrame, fast: int, slow: int, cash: float, fee_rate: float, repeats: int = 3) -> PeerResult:
    def run():
        return sma_cross_oracle(frame, fast, slow, cash=cash, fee_rate=fee_rate)

    started = time.perf_counter()
    run()  # warm-up: the first call in a process compiles vectorbt's simulator
    first_call = time.perf_counter() - started
    seconds, oracle = timed_median(run, repeats)
    return PeerResult(
        name="vectorbt",
        bars=len(frame),
        seconds=seconds,
        n_trades=oracle.n_trades,
        final_equity=oracle.final_equity,
        first_call_seconds=first_call,
        fills=tuple(zip(oracle.entry_prices, oracle.exit_prices)),
    )


def run_tradebot(path: Path, fast: int, slow: int, cash: float, fee_rate: float, guards: bool, repeats: int = 3) -> PeerResult:
    """The engine's `tradebot backtest` on the same file: sma_cross fast/slow, --fill next-open,
    --no-exchange-filters, the given cash and fee, guards on or off. The whole engine runs (bars,
    strategy, guards, risk, the paper broker with Decimal money), event by event, as in the
    daemon. Timed: the run (median of `repeats`), not reading the file; the file's loading
    (parse, checks, websocket frames, decoding: what the replay exchange and ingest would do)
    is measured once and printed beside it."""
    from decimal import Decimal

    from bot.backtest.data import DataSpec, load_market_data
    from bot.backtest.results import equity_curve, round_trips
    from bot.backtest.runner import BacktestOptions, run_in_process

    started = time.perf_counter()
    data = load_market_data([DataSpec(path)])
    loading = time.perf_counter() - started
    options = BacktestOptions(
        strategy="sma_cross", parameters={"fast_period": fast, "slow_period": slow}, cash=Decimal(str(cash)),
        fee_bps=Decimal(str(fee_rate)) * 10_000, exchange_filters=False, guards=guards,
    )
    seconds, run = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        run = run_in_process(options, data)
        seconds.append(time.perf_counter() - started)
    assert run is not None
    trips = round_trips(run.fills)
    bars = sum(len(closes) for closes in run.closes.values())
    print(f"tradebot (guards {'on' if guards else 'off'}): loading {bars:,} bars took {loading:.2f} s ({bars / loading:,.0f} bars/s), not timed below")
    return PeerResult(
        name=f"tradebot (guards {'on' if guards else 'off'})",
        bars=bars,
        seconds=statistics.median(seconds),
        n_trades=len(trips),
        final_equity=float(equity_curve(run)[-1].equity),
        fills=tuple((float(trip.entry_price), float(trip.exit_price)) for trip in trips),
    )


def same_fills(one: PeerResult, other: PeerResult) -> bool:
    """Same fill prices trade by trade (to 1e-12: backtesting.py's are scaled back by the unit)."""
    return len(one.fills) == len(other.fills) and all(
        math.isclose(a, b, rel_tol=1e-12)
        for pair_one, pair_other in zip(one.fills, other.fills)
        for a, b in zip(pair_one, pair_other)
    )


def print_table(results: list[PeerResult], reference: PeerResult) -> None:
    header = f"{'peer':<26}{'bars':>9}{'seconds':>10}{'bars/s':>13}{'x bt.py':>9}{'trades':>8}{'final equity':>16}{'rel. diff':>11}"
    print(header)
    print("-" * len(header))
    for result in results:
        ratio = result.bars_per_second / reference.bars_per_second
        difference = (result.final_equity - reference.final_equity) / reference.final_equity
        print(
            f"{result.name:<26}{result.bars:>9,}{result.seconds:>10.3f}{result.bars_per_second:>13,.0f}"
            f"{ratio:>9.2f}{result.n_trades:>8}{result.final_equity:>16.6f}{difference:>11.2e}"
        )
    print("(x bt.py: bars/s relative to backtesting.py; rel. diff: final equity relative to backtesting.py)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="kline CSV (.csv or .csv.gz)")
    parser.add_argument("--fast", type=int, default=20)
    parser.add_argument("--slow", type=int, default=60)
    parser.add_argument("--cash", type=float, default=10000.0)
    parser.add_argument("--fee", type=float, default=0.001, help="fee rate, 0.001 = 10 bps")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per peer (median)")
    arguments = parser.parse_args(argv)

    frame = load_klines_frame(arguments.data)
    rules = (arguments.fast, arguments.slow, arguments.cash, arguments.fee)
    up, down = cross_signals(exact_sma_side(frame["close"].to_numpy(), arguments.fast, arguments.slow))
    print(f"data: {arguments.data.name}: {len(frame):,} bars, {frame.index[0]} to {frame.index[-1]} UTC")
    print(
        f"sma_cross {arguments.fast}/{arguments.slow}, cash {arguments.cash:g}, fee {arguments.fee:g}, "
        f"next-open fills, no filters; {int(up.sum())} up and {int(down.sum())} down crosses; "
        f"median of {arguments.repeats} run(s)"
    )

    reference = run_backtesting_py(frame, *rules, repeats=arguments.repeats)
    vectorbt = run_vectorbt(frame, *rules, repeats=arguments.repeats)
    results = [reference, vectorbt]
    for guards in (False, True):
        try:
            results.append(run_tradebot(arguments.data, *rules, guards=guards, repeats=arguments.repeats))
        except NotImplementedError as error:
            print(f"tradebot (guards {'on' if guards else 'off'}): not run: {error}")
    print()
    print_table(results, reference)
    print()
    print(
        f"vectorbt first call (JIT compile + run): {vectorbt.first_call_seconds:.2f} s = "
        f"{vectorbt.bars / vectorbt.first_call_seconds:,.0f} bars/s; warm: {vectorbt.seconds:.3f} s"
    )
    agreement = math.isclose(reference.final_equity, vectorbt.final_equity, rel_tol=1e-9)
    print(
        f"backtesting.py vs vectorbt: trades {reference.n_trades} vs {vectorbt.n_trades}, final equity "
        f"relative difference {(reference.final_equity - vectorbt.final_equity) / vectorbt.final_equity:.2e}"
        f"{' (within 1e-9)' if agreement else ''}; entry and exit prices of every trade "
        f"{'the same' if same_fills(reference, vectorbt) else 'DIFFER'}"
    )
    print(
        f"Expected difference: backtesting.py buys whole units of {FRACTIONAL_UNIT:g} coin with 1 - 1e-12 of the "
        f"cash (a size must be below 1), so each buy is up to ~1e-12 relative + {FRACTIONAL_UNIT:g} coin short of\n"
        "cash / (price * (1 + fee)); the shortfall stays as cash, so equity differs by about that per "
        "trade, compounding over the trades."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
