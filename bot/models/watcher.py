"""The daemon's hot-loader: notices a newly promoted version, loads it off the event loop,
checks it, and swaps it into the model's holder; refuses anything that fails, keeping the old.

Two ways to notice: the nightly pipeline PUBLISHes the version on `<namespace>:models:<name>`
after promoting it, and the watcher also reads CURRENT every `poll_seconds`, so a notice lost
while Redis was away (pub/sub keeps nothing) only delays the switch. CURRENT is the truth either
way: a notice only wakes the watcher, which then reads CURRENT.

A refused version is not tried again until CURRENT names another one (a corrupt file stays
corrupt; retrying it every poll would only repeat the alert). Staleness is measured here with
the wall clock, for the operator (metric, one alert per transition to stale); the ML strategy
measures it in bar time, so a backtest and the live daemon decide alike.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from redis.exceptions import RedisError

from bot.alerts import Alert, AlertSink
from bot.bus.redis_keys import RedisKeys
from bot.clock import Clock
from bot.config.models import ModelSettings
from bot.features.spec import FEATURE_SPEC, FeatureSpec
from bot.models.holder import ModelHolder, holder_for
from bot.models.loader import LoadedModel, load_version
from bot.models.manifest import ModelRejected
from bot.models.metrics import ModelMetrics
from bot.models.registry import ModelRegistry, RegistryError

log = structlog.get_logger(__name__)

_NANOSECONDS_PER_MILLISECOND = 1_000_000


async def load_off_loop(
    registry: ModelRegistry, name: str, version: str, spec: FeatureSpec = FEATURE_SPEC
) -> LoadedModel:
    """`load_version` in a worker thread: parsing and the warm-up prediction never block the loop."""
    return await asyncio.to_thread(load_version, registry, name, version, spec)


class ModelWatcher:
    def __init__(
        self,
        name: str,
        registry: ModelRegistry,
        client,
        keys: RedisKeys,
        alerts: AlertSink,
        metrics: ModelMetrics,
        settings: ModelSettings,
        clock: Clock,
        holder: ModelHolder | None = None,
        spec: FeatureSpec = FEATURE_SPEC,
    ) -> None:
        self.name = name
        self.registry = registry
        self.client = client
        self.channel = keys.model_channel(name)
        self.alerts = alerts
        self.metrics = metrics
        self.settings = settings
        self.clock = clock
        self.holder = holder if holder is not None else holder_for(name)
        self.spec = spec
        self.refused_version: str | None = None  # not retried until CURRENT changes
        self.refusals = 0
        self.stale = False
        self.notices = 0
        metrics.age.labels(name).set_function(self._age_seconds)

    @property
    def version(self) -> str | None:
        model = self.holder.model
        return model.version if model is not None else None

    async def start(self) -> None:
        """The initial load, awaited before the engine trades: the first bars already have the
        current model (or, when none is promoted or it is refused, the strategy holds and says so)."""
        self.holder.swap(None)  # a holder left by an earlier daemon in this process is not ours
        await self.check()
        if self.holder.model is None:
            log.warning("no model to trade on yet", model=self.name, registry=str(self.registry.root))

    async def run(self) -> None:
        """Until cancelled: wait for a notice or `poll_seconds`, then check CURRENT."""
        pubsub = None
        try:
            while True:
                if pubsub is None:
                    pubsub = await self._subscribe()
                    if pubsub is not None:
                        await self.check()  # a promotion made while not subscribed
                if pubsub is None:
                    await asyncio.sleep(self.settings.poll_seconds)
                else:
                    try:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=self.settings.poll_seconds)
                    except (RedisError, OSError) as error:
                        log.warning("model notices lost, polling CURRENT only until Redis is back", model=self.name, error=repr(error))
                        await _close(pubsub)
                        pubsub = None
                        await asyncio.sleep(self.settings.poll_seconds)
                    else:
                        if message is not None:
                            self.notices += 1
                            log.info("model notice", model=self.name, version=_text(message.get("data")))
                await self.check()
        finally:
            if pubsub is not None:
                await _close(pubsub)

    async def _subscribe(self):
        pubsub = self.client.pubsub()
        try:
            await pubsub.subscribe(self.channel)
        except (RedisError, OSError) as error:
            log.warning("cannot subscribe to model notices, polling CURRENT", channel=self.channel, error=repr(error))
            await _close(pubsub)
            return None
        return pubsub

    async def check(self) -> None:
        """Load CURRENT if it names a version neither loaded nor already refused; then the age."""
        noticed = time.perf_counter()
        try:
            current = await asyncio.to_thread(self.registry.current_version, self.name)
        except (RegistryError, OSError) as error:
            await self._refuse(f"unreadable CURRENT: {error}", f"{self.name} CURRENT is unreadable: {error}")
            return
        if current is not None and current != self.version and current != self.refused_version:
            await self._load(current, noticed)
        await self._observe_age()

    async def _load(self, version: str, noticed: float) -> None:
        try:
            model = await load_off_loop(self.registry, self.name, version, self.spec)
        except ModelRejected as error:
            await self._refuse(version, str(error))
            return
        except Exception as error:  # noqa: BLE001 - any failing load keeps the old model
            await self._refuse(version, f"{self.name} {version}: load failed ({type(error).__name__}: {error})")
            return
        previous = self.holder.swap(model)  # one assignment on the loop's thread: old or new, never half
        seconds = time.perf_counter() - noticed
        self.refused_version = None
        previous_version = previous.version if previous is not None else None
        self.metrics.loaded(self.name, previous_version, version, seconds)
        self.stale = False  # the new model's age is judged afresh
        log.info("model swapped in", model=self.name, version=version, previous=previous_version,
                 kind=model.manifest.kind, seconds=round(seconds, 4))

    async def _refuse(self, version: str, reason: str) -> None:
        if version == self.refused_version:
            return
        self.refused_version = version
        self.refusals += 1
        self.metrics.refused(self.name)
        kept = self.version
        await self.alerts.send(Alert(
            kind="model_rejected", severity="warning", at_ns=self.clock.now_ns(),
            message=f"{reason}; still trading on {kept or 'no model'}",
            details={"model": self.name, "version": version, "kept_version": kept or ""},
        ))

    def _age_seconds(self) -> float:
        model = self.holder.model
        if model is None:
            return 0.0
        end_ns = model.manifest.training_window.end_ms * _NANOSECONDS_PER_MILLISECOND
        return (self.clock.now_ns() - end_ns) / 1e9

    async def _observe_age(self) -> None:
        model = self.holder.model
        stale = model is not None and self._age_seconds() * 1e9 > self.settings.max_age_ns
        self.metrics.stale.labels(self.name).set(1 if stale else 0)
        if stale and not self.stale:
            assert model is not None
            age_hours = self._age_seconds() / 3600
            await self.alerts.send(Alert(
                kind="model_stale", severity="warning", at_ns=self.clock.now_ns(),
                message=(f"{self.name} {model.version}: training data ended {age_hours:.1f} h ago, more than "
                         f"models.max_age_minutes={self.settings.max_age_minutes:g}; ml_signal holds on a model this old"),
                details={"model": self.name, "version": model.version, "age_seconds": f"{self._age_seconds():.0f}"},
            ))
        self.stale = stale


async def _close(pubsub) -> None:
    try:
        await pubsub.aclose()
    except (RedisError, OSError):
        pass


def _text(data) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)


def hot_loaded_models(strategies) -> list[str]:
    """The model names the configured ml_signal strategies take from the daemon's holders (those
    pinned to a `model_directory` load their own), sorted, each once."""
    from bot.strategy.registry import strategy_class  # the strategy's own config class parses its parameters

    names = set()
    for entry in strategies:
        if entry.name != "ml_signal":
            continue
        config = strategy_class(entry.name).config_type.model_validate(dict(entry.parameters))
        if getattr(config, "model_directory", None) is None:
            names.add(config.model_name)
    return sorted(names)
