"""PySpark batch jobs: history lake -> features -> labels -> XGBoost training -> model registry.

Not written yet (the nightly pipeline issue). They will read the history that `bot.ingest`
records in Redis, archived to Parquet, and share their feature definitions with the daemon.
"""
