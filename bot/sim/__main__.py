"""`python -m bot.sim RECORDING...`: run the replay exchange by hand or from a benchmark script."""

from __future__ import annotations

import argparse
import asyncio

from bot.sim.exchange import serve_forever
from bot.sim.settings import ReplaySettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.sim", description=__doc__)
    parser.add_argument("recordings", nargs="+", help="recording files (.jsonl, .csv, .json, optionally .gz)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ws-port", type=int, default=0)
    parser.add_argument("--rest-port", type=int, default=0)
    parser.add_argument("--speed", default="max", help="'max' or a factor of real time (1 = real time)")
    parser.add_argument("--loop", action="store_true", help="start the timeline again when it ends")
    arguments = parser.parse_args(argv)
    speed = None if arguments.speed == "max" else float(arguments.speed)
    settings = ReplaySettings(
        recordings=tuple(arguments.recordings),
        host=arguments.host,
        ws_port=arguments.ws_port,
        rest_port=arguments.rest_port,
        speed=speed,
        loop=arguments.loop,
    )
    try:
        asyncio.run(serve_forever(settings))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
