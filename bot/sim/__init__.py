"""The local replay exchange: Binance Spot's wire protocol over loopback, replaying real recordings.

See bot.sim.exchange for the design notes.
"""

from bot.sim.counters import ExchangeCounters
from bot.sim.exchange import ReplayExchange, serve_forever
from bot.ingest.rest import point_client_at  # how clients reach this exchange; re-exported for tests
from bot.sim.settings import ReplaySettings
from bot.sim.source import RecordingError, RecordingSpec
from bot.sim.timeline import RECORDINGS_DIRECTORY

__all__ = [
    "RECORDINGS_DIRECTORY",
    "ExchangeCounters",
    "RecordingError",
    "RecordingSpec",
    "ReplayExchange",
    "ReplaySettings",
    "point_client_at",
    "serve_forever",
]
