"""Convert a SavedModel to TFLite in a child process (run as a script, not imported).

The TFLite converter can crash the whole process (full-int8 calibration of a
while-loop RNN segfaults, docs/PLATFORM_NOTES.md), so ``zoo.export`` never runs it in the
caller's process. This script reads a JSON job list, converts each job with
builtin ops only, writes each file and prints ``DONE <path>`` after each one,
so the parent knows which job was running when a crash happened.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def convert(src: str, quantize: str | None, rep_path: str | None, int8_io: bool) -> bytes:
    import numpy as np
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_saved_model(src)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex: phones lack it
    if quantize in ("dynamic", "float16", "int8"):
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        conv.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        rep = np.load(rep_path, allow_pickle=False)
        arrays = [rep[k] for k in sorted(rep.files)]

        def representative():
            for i in range(len(arrays[0])):
                yield [a[i : i + 1] for a in arrays]

        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
    return conv.convert()


def die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when its parent dies, so a killed export leaves no orphan."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the parent's handlers still end us
        pass
    if os.getppid() != parent:  # the parent died before the call above took effect
        os._exit(1)


def main(spec_path: str) -> int:
    if "ZOO_PARENT_PID" in os.environ:
        die_with_parent(int(os.environ["ZOO_PARENT_PID"]))
    with open(spec_path) as f:
        spec = json.load(f)
    for job in spec["jobs"]:
        try:
            data = convert(spec["src"], job["quantize"], job.get("rep"), job.get("int8_io", False))
        except Exception as exc:  # reported to the parent, which raises a ZooError
            print(f"FAILED {job['out']}\t{type(exc).__name__}: {exc}".replace("\n", " "))
            sys.stdout.flush()
            return 1
        with open(job["out"], "wb") as f:
            f.write(data)
        print(f"DONE {job['out']}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
