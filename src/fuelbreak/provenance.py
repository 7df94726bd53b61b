"""Where a result was made: the machine, CPU model, library versions and thread counts.

Training records this beside its run (`summary.json`) and the shipped policy's record copies it, so
that a reader knows what reproduces bit for bit (the same CPU model, torch version and threads:
see the README) and what only in quality (another CPU model: numpy's and torch's vectorised
kernels differ by instruction set).
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

# CPU features whose presence changes numpy's or torch's arithmetic (DESIGN.md: AVX-512 changes an
# aspect cell of three synthetic tiles by 3e-5), recorded with the model name
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile")


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> dict:
    """The CPU's model name and its arithmetic features of note, from /proc/cpuinfo (Linux).

    The platform's processor string elsewhere.
    """
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return {"model": platform.processor() or "unknown", "flags": []}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
        if not line.strip() and fields:  # the first processor's block is enough
            break
    flags = set(fields.get("flags", "").split())
    return {"model": fields.get("model name", "unknown"), "flags": [f for f in CPU_FLAGS if f in flags]}


def machine_record(torch_threads: int | None = None) -> dict:
    """The machine and software a result was made with.

    CPU model and features, cores, torch's version and thread count, numpy's, Python's and fuelbreak's
    versions.
    """
    import os

    import numpy as np
    import torch

    try:
        version = metadata.version("fuelbreak")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "system": platform.system(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": int(torch_threads if torch_threads is not None else torch.get_num_threads()),
        "numpy": np.__version__,
        "fuelbreak": version,
    }
