"""Settings of the daemon's start and stop: the namespace lease and the shutdown grace period."""

from __future__ import annotations

from pydantic import PositiveFloat, model_validator

from bot.config.sections import SectionModel


class LifecycleSettings(SectionModel):
    # SIGTERM to exit: the engine commits the batch in hand, ingest flushes to Redis, the archive
    # makes its last pass, alerts are flushed, connections close. Docker's default stop timeout
    # is 10 s before SIGKILL, so the default fits inside it.
    shutdown_grace_seconds: PositiveFloat = 10.0
    # The leases on `<ns>:daemon:lock:<role>` that keep a second daemon off the namespace. A crashed
    # daemon's lease runs out by itself after this long; a running one renews it.
    lock_lease_seconds: PositiveFloat = 15.0
    # How often the lease is renewed. A third of the lease: two renewals may fail (a slow Redis,
    # a long event-loop stall) before it runs out.
    lock_renew_seconds: PositiveFloat = 5.0

    @model_validator(mode="after")
    def _renewal_inside_the_lease(self) -> LifecycleSettings:
        if self.lock_renew_seconds >= self.lock_lease_seconds:
            raise ValueError(
                f"lock_renew_seconds ({self.lock_renew_seconds:g}) must be shorter than lock_lease_seconds "
                f"({self.lock_lease_seconds:g}), or the lease runs out between renewals"
            )
        return self
