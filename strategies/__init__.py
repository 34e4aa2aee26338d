"""User strategies, one file each with its config class beside it.

The engine loads them by name from here. The first strategies (sma_cross, ema_cross,
rsi_reversion, breakout) arrive with the trading engine (not written yet); the ingest
daemon needs none.
"""
