"""Alerts: things an operator must hear about (a refused model, a stale model, a failed nightly
run). Sinks are isolated from each other; `RedisAlertStream` keeps every alert in Redis."""

from bot.alerts.alert import Alert, AlertSink, LogAlertSink, RedisAlertStream, Severity

__all__ = ["Alert", "AlertSink", "LogAlertSink", "RedisAlertStream", "Severity"]
