"""TensorFlow runtime settings the zoo applies before TensorFlow is imported.

TensorFlow enables its oneDNN kernels by default only on some Intel CPUs; on
the others (the AMD machines these benchmarks ran on among them) convolutions
train markedly slower without them (see benchmarks/RESULTS.md). The settings
are environment variables TensorFlow reads once, at import, so they only take
effect when ``import zoo`` comes first. A variable the user has already set is
left alone, and ``ZOO_RUNTIME_DEFAULTS=0`` turns the whole thing off.
"""

from __future__ import annotations

import contextlib
import os
import sys

#: Environment variables the zoo sets unless the user already has.
RUNTIME_ENV: dict[str, str] = {
    "TF_CPP_MIN_LOG_LEVEL": "2",  # keep TF's C++ banner out of user output
    "TF_ENABLE_ONEDNN_OPTS": "1",
}


def _switch(name: str, default: bool) -> bool:
    """A yes/no setting from environment variable ``name``: ``0`` is off, ``1`` on, and
    unset is ``default``. Read when a training step is traced, so a change also applies to
    models already built."""
    return os.environ.get(name, "1" if default else "0") != "0"


#: Set to 0 to train batch norm with Keras' own ops instead of TensorFlow's fused kernel.
FUSED_BATCH_NORM_ENV = "ZOO_FUSED_BATCH_NORM"


def fused_batch_norm() -> bool:
    """Whether the zoo's batch norm trains through TensorFlow's fused kernel."""
    return _switch(FUSED_BATCH_NORM_ENV, default=True)


#: Set to 0 to update Adam and AdamW with Keras' own ops instead of TensorFlow's fused one.
FUSED_OPTIMIZER_ENV = "ZOO_FUSED_OPTIMIZER"


def fused_optimizer() -> bool:
    """Whether the zoo's Adam and AdamW update through TensorFlow's fused op."""
    return _switch(FUSED_OPTIMIZER_ENV, default=True)


#: Set to 0 to run masked RNNs through Keras' masked loop even when a batch is right-padded.
UNMASKED_RIGHT_PADDING_ENV = "ZOO_UNMASKED_RIGHT_PADDING"


def unmasked_right_padding() -> bool:
    """Whether the zoo's RNNs run a right-padded batch unmasked (zoo.models._recurrent)."""
    return _switch(UNMASKED_RIGHT_PADDING_ENV, default=True)


#: Set to 1 to let tf.data autotune the zoo's pipelines (see zoo.data.core.steady_options).
DATA_AUTOTUNE_ENV = "ZOO_DATA_AUTOTUNE"


def data_autotune() -> bool:
    """Whether the zoo's ``tf.data`` pipelines autotune (off unless the variable says 1)."""
    return _switch(DATA_AUTOTUNE_ENV, default=False)


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


#: What TensorFlow prints on stderr while it probes for GPUs and CPU features, before
#: its own log level applies: noise for a CPU user, never an answer to a question asked.
PROBE_NOISE = (
    "All log messages before absl::InitializeLog()",
    "port.cc:",  # oneDNN custom operations are on
    "cudart_stub.cc:",
    "cuda_platform.cc:",  # failed call to cuInit
    "cuda_executor.cc:",
    "cuda_dnn.cc:",
    "cuda_fft.cc:",
    "cuda_blas.cc:",
    "cpu_feature_guard.cc:",
    "To enable the following instructions:",
    "computation_placer.cc:",
    "Unable to register cu",
    "TF-TRT Warning",
    "Created TensorFlow Lite XNNPACK delegate",  # every TFLite interpreter says it
)


@contextlib.contextmanager
def filtered_stderr(noise: tuple[str, ...] = PROBE_NOISE):
    """Hold back lines containing any of ``noise`` that C++ code writes to stderr (file
    descriptor 2) inside the block; every other line is passed on when the block ends."""
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace")
            kept = [
                line for line in text.splitlines(keepends=True) if not any(n in line for n in noise)
            ]
            sys.stderr.write("".join(kept))


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and find its devices with TensorFlow's probe lines filtered out of
    stderr. Any other line is passed on, and a GPU is still found and used when present."""
    if "tensorflow" in sys.modules:
        return
    with filtered_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe happens here
