"""PySpark batch jobs: history lake -> features -> labels -> XGBoost training -> model registry.

Written so far: the session (`session`), raw -> clean klines (`clean`), clean -> features
(`features`, with the single-process peer `feature_frame`). The same jobs run in local mode and,
unchanged, on a cluster master; see docs/architecture.md, "Nightly batch".
"""
