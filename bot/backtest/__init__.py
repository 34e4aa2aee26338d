"""Backtests: a paper-trading run of the real engine over recorded data, and its results."""
