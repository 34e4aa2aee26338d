"""Running the nightly pipeline (spark_batch.nightly) from the daemon or the command line: one run
at a time (a Redis lock), in its own process with a time limit, its outcome kept in Redis, turned
into metrics and alerts, and a promoted model announced to the daemon."""
