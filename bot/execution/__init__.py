"""Execution: the Broker protocol, the paper broker, and (later) the live broker."""
