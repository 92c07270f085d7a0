"""The compiled CPU GRU recurrence (``csrc/gru_cpu.cpp``): built once by ``make``, loaded when present.

Build: :func:`main` (the Makefile's install step, ``make``) compiles
the C++ source with ``torch.utils.cpp_extension`` (g++ and ninja) into
``build/gru_ext/<key>/`` inside the repository, where ``key`` is a digest of the
source, the flags, the torch and Python versions and the machine type: a changed
source or a new torch never loads a stale build. Flags: ``-O3 -fno-math-errno
-fno-trapping-math`` (no ``-march=native``); the element-wise kernels are compiled
twice, for AVX2 + FMA (``#pragma GCC target``) and generic, and the AVX2 ones are
chosen at run time when the CPU has them, so the same build runs on any x86-64.
On a CPU with AVX-512F the fused kernels of ``csrc/gru_avx512.h`` run float32 layers
whose hidden size is a multiple of 16 (inference of whole stacks with their read-outs,
the attention score, the training forward); ``kernels()`` says which run,
``set_avx512(False)`` turns them off in one process.

At run time :func:`extension` imports the build for this key, or returns None and
logs once why (then :mod:`kgml_core.models.fast_gru` runs its pure-PyTorch loop).
``KGML_GRU_EXT=0`` turns the extension off (benchmarks and tests compare both paths).
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import platform
import sys
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import torch

log = logging.getLogger(__name__)

NAME = "kgml_gru_ext"
CSRC = Path(__file__).resolve().parent / "csrc"
SOURCE = CSRC / "gru_cpu.cpp"
BUILD_ROOT = Path(__file__).resolve().parents[2] / "build" / "gru_ext"
CFLAGS = ["-O3", "-fno-math-errno", "-fno-trapping-math"]  # as torch itself; no -ffast-math


def build_key() -> str:
    """Digest of what a build depends on: the source, the flags, torch's and Python's versions, the machine type."""
    h = hashlib.sha256()
    for path in sorted(CSRC.iterdir()):          # the source and its kernel header
        h.update(path.name.encode() + path.read_bytes())
    h.update(" ".join(CFLAGS + [torch.__version__, platform.python_version(), platform.machine()]).encode())
    return h.hexdigest()[:16]


def build_dir() -> Path:
    """Where the build for the current key lives."""
    return BUILD_ROOT / build_key()


def build(verbose: bool = False) -> Path:
    """Compile the extension into :func:`build_dir` (a no-op when it is there); returns the library's path."""
    import shutil
    from torch.utils.cpp_extension import load
    out = build_dir()
    for old in BUILD_ROOT.glob("*"):            # builds of other sources or torch versions
        if old.is_dir() and old != out:
            shutil.rmtree(old, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    load(NAME, [str(SOURCE)], extra_cflags=CFLAGS, build_directory=str(out), verbose=verbose)
    return _library(out)


def _library(folder: Path) -> Path:
    return folder / f"{NAME}.so"


_switched_off = False


def extension():
    """The loaded extension module, or None (logged once) when it is turned off, not built or fails to load."""
    return None if _switched_off else _load()


@contextmanager
def switched_off():
    """Within the block the pure-PyTorch loop runs (benchmarks and tests compare the two paths in one process)."""
    global _switched_off
    before, _switched_off = _switched_off, True
    try:
        yield
    finally:
        _switched_off = before


@lru_cache(maxsize=None)
def _load():
    if os.environ.get("KGML_GRU_EXT", "1") == "0":
        log.info("fused GRU extension turned off (KGML_GRU_EXT=0): pure-PyTorch GRU loop")
        return None
    lib = _library(build_dir())
    if not lib.exists():
        log.warning("fused GRU extension not built for this source and torch (%s missing; run `make`): "
                    "using the slower pure-PyTorch GRU loop", lib)
        return None
    try:
        spec = importlib.util.spec_from_file_location(NAME, lib)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (ImportError, OSError) as err:
        log.warning("fused GRU extension %s failed to load (%s): using the pure-PyTorch GRU loop", lib, err)
        return None
    sys.modules.setdefault(NAME, module)
    return module


def main() -> None:
    """Build (``make``); prints the library's path."""
    print(f"fused GRU extension: {build(verbose='-v' in sys.argv)}")


if __name__ == "__main__":
    main()
