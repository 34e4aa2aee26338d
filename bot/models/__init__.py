"""The model registry (versions on disk, an atomically switched CURRENT pointer), the checks a
model must pass before the daemon trades on it, and the daemon's hot-loading of new versions."""
