"""TensorFlow runtime settings the zoo applies before TensorFlow is imported.

TensorFlow enables its oneDNN kernels by default only on some Intel CPUs; on
the others (the AMD machines these benchmarks ran on among them) convolutions
train markedly slower without them (see benchmarks/RESULTS.md). The settings
are environment variables TensorFlow reads once, at import, so they only take
effect when ``import zoo`` comes first. A variable the user has already set is
left alone, and ``ZOO_RUNTIME_DEFAULTS=0`` turns the whole thing off.
"""

from __future__ import annotations

import os
import sys

#: Environment variables the zoo sets unless the user already has.
RUNTIME_ENV: dict[str, str] = {
    "TF_CPP_MIN_LOG_LEVEL": "2",  # keep TF's C++ banner out of user output
    "TF_ENABLE_ONEDNN_OPTS": "1",
}


#: What :func:`configure` set in this process (so child processes can be run without it).
APPLIED: dict[str, str] = {}


def configure() -> dict[str, str]:
    """Apply :data:`RUNTIME_ENV`; returns what was set (empty when too late or disabled)."""
    if os.environ.get("ZOO_RUNTIME_DEFAULTS", "1") == "0" or "tensorflow" in sys.modules:
        return {}
    applied = {k: v for k, v in RUNTIME_ENV.items() if k not in os.environ}
    os.environ.update(applied)
    APPLIED.update(applied)
    return applied
