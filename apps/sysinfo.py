"""Where a number was measured: the CPU and accelerator names recorded beside results.

Its own module so export, optimize and the benches can describe the machine without
importing training code (which closed an import circle through the CLI).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_name() -> str:
    """The CPU model name, for recording where a number was measured."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name() -> str:
    """The GPUs' names when TensorFlow sees any, else ``CPU: <model> (<n> cores)``."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return ", ".join(
            tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus
        )
    return f"CPU: {cpu_name()} ({os.cpu_count()} cores)"
