"""The compared training programs, each run in a fresh process.

Each prints one JSON line per model, ``{"model": ..., "samples_per_s": ...}``:
a warm-up epoch (tracing, caches) is run first and not timed. The arrays
come from an ``.npz`` the harness writes, so every program sees the same data.
"""
