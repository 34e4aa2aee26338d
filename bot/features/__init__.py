"""Pure, incremental feature calculators and the feature spec shared with spark_batch.

Calculators take one closed bar's numbers at a time and expose `value` (None until warmed up).
Floats are fine here: features are opinions about prices, never money.
"""
