"""Benchmarks: the zoo against the tutorial's own Keras and PyTorch code.

``python -m benchmarks`` (or ``make bench``) runs every section and writes
``benchmarks/RESULTS.md``; ``bash benchmarks/setup.sh`` installs what the
comparison needs beyond the zoo (CPU PyTorch, Debian's Fashion-MNIST).
Nothing here is imported by the zoo or its tests' timing: speed is judged
only as ratios of programs run back to back on the same machine.
"""
