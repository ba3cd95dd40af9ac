"""The machine a run happens on: device, CPU threads, allocator, seeds, the hardware line, the time.

Every training entry point (notebooks, ``python -m cnnlib.zoo``, ``python -m cnnlib.experiments``,
the benchmarks, the test suite) calls :func:`use_all_cores`; every result records
:func:`hardware_summary` and :func:`utc_now`. A foundation module: it imports nothing of ``cnnlib``.
"""

from __future__ import annotations

import ctypes
import datetime
import functools
import os
import platform
import random
import re
import sys
from pathlib import Path

import torch

__all__ = [
    "available_cpus",
    "cpu_capability",
    "hardware_summary",
    "pick_device",
    "processor_name",
    "reuse_freed_memory",
    "running_in_vm",
    "seed_everything",
    "use_all_cores",
    "utc_now",
]


def pick_device(prefer: str | None = None) -> torch.device:
    """CUDA if present, else Apple MPS, else the CPU; ``prefer`` (or ``$CNNLIB_DEVICE``) overrides."""
    prefer = prefer or os.environ.get("CNNLIB_DEVICE")
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


_TORCH_DEFAULT_THREADS = torch.get_num_threads()  # torch's own choice, read before anything changes it


def _cgroup_cpu_limit() -> float | None:
    """The CPU quota of this process's cgroup (a container's ``--cpus``), in CPUs; None if there is none."""
    try:  # cgroup v2: "max 100000" (no quota) or "200000 100000" (2 CPUs)
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1: a quota of -1 means none
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def available_cpus() -> int:
    """The logical CPUs this process may run on: its affinity mask, capped by a container's CPU quota."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = _cgroup_cpu_limit()
    if limit is not None:
        n = min(n, int(limit))
    return max(1, n)


def _cpuinfo(field: str) -> str | None:
    """The value of the first ``field`` line of /proc/cpuinfo (Linux), or None."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.split(":", 1)[0].strip() == field:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def running_in_vm() -> bool:
    """Whether the CPU reports the ``hypervisor`` flag (Linux on x86 inside a virtual machine)."""
    return "hypervisor" in (_cpuinfo("flags") or "").split()


def use_all_cores(threads: int | None = None) -> int:
    """Give torch one CPU thread per core this process has, unless told otherwise.

    torch's own default is the number of *physical* cores that its cpuinfo library finds
    (c10's ``TaskThreadPoolBase::defaultNumThreads``). On real hardware that is right (a
    hyper-thread shares its core's vector units; Apple's efficiency cores are left out). In a
    virtual machine the topology is invented: a cloud VM often presents its two vCPUs as one
    core with two hyper-threads, and torch then trains on one thread. The zoo's first
    resnet20, plain20 and lenet5 runs did ("torch threads 1" in their logs): resnet20's epochs
    1-9 took 329-457 s; of its 21 epochs resumed with ``--threads 2``, 16 took 122-216 s.
    So: in a VM (:func:`running_in_vm`), one thread per vCPU; on real hardware, torch's
    choice; both capped by the CPUs the process may use (:func:`available_cpus`, which
    includes a container's quota: more threads than that only queue and thrash).

    Told otherwise means, in this order: ``threads`` (a CLI's ``--threads``), then
    ``$CNNLIB_THREADS``, then ``$OMP_NUM_THREADS`` or ``$MKL_NUM_THREADS`` (torch already
    honours those, so they are left alone). Every training entry point calls this: the
    notebooks (through :func:`cnnlib.nbtools.start`), ``python -m cnnlib.zoo``,
    ``python -m cnnlib.experiments``, the benchmarks and the test suite (``conftest.py``).
    Returns the number of threads torch now uses.
    """
    if threads is None and os.environ.get("CNNLIB_THREADS"):
        value = os.environ["CNNLIB_THREADS"]
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"$CNNLIB_THREADS must be a positive whole number of threads, not {value!r}")
        threads = int(value)
    if threads is None and (os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS")):
        return torch.get_num_threads()
    if threads is not None and threads < 1:
        raise ValueError(f"the number of CPU threads must be at least 1, not {threads}")
    if threads is None:
        threads = available_cpus() if running_in_vm() else min(_TORCH_DEFAULT_THREADS, available_cpus())
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


@functools.cache
def reuse_freed_memory() -> bool:
    """Make glibc keep freed memory in the process for reuse (Linux; a no-op elsewhere).

    By default glibc takes each large block (a batch of activations) as fresh pages from the
    kernel and hands it back when freed, so every forward pass also pays for the kernel mapping
    and zeroing those pages. On our 2-core VM, evaluating resnet56 and densenet_bc40 on 10,000
    test images took 65 s, 60 of its 123 CPU-seconds in the kernel; with this setting 29.6 s.
    It also made latencies vary between processes (resnext29 at batch 64: 93 vs 300 ms). Kept
    memory is what jemalloc, tcmalloc and PyTorch's CUDA allocator do.

    The setting is process-wide and lasts until the process exits; the price is that up to
    1 GiB of freed memory stays with the process. ``predict``, ``fit`` and ``median_seconds``
    call it. Returns whether it took effect.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): leave the allocator alone
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's <malloc.h>
    # glibc before 2.36 refuses an mmap threshold above 32 MiB (on 64-bit); fall back to that.
    # Setting it first matters: fixing any threshold turns off glibc's self-adjusting one, so the
    # trim threshold is only changed once the mmap threshold has been raised.
    if not any(mallopt(m_mmap_threshold, ctypes.c_int(size)) == 1 for size in (1 << 30, 32 << 20)):
        return False
    return mallopt(m_trim_threshold, ctypes.c_int(1 << 30)) == 1


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, torch (all devices) and return a CPU generator for data order and augmentation."""
    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def hardware_summary(device: torch.device | None = None) -> str:
    """One line naming the processor, threads, device and library versions, for every printed result."""
    import torchvision

    device = device or pick_device()
    cpu = _cpuinfo("model name") or platform.processor() or platform.machine()
    extra = ""
    if device.type == "cuda":
        extra = f", GPU {torch.cuda.get_device_name(device)}"
    return (
        f"{cpu}; {os.cpu_count()} logical cores, torch threads {torch.get_num_threads()}; device {device}{extra}; "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}; "
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, Python {platform.python_version()}"
    )


def processor_name(hardware: str) -> str:
    """The processor's name from a :func:`hardware_summary` line, without the (R) and (TM) marks:
    ``"Intel(R) Xeon(R) Processor; 2 logical cores, ..."`` -> ``"Intel Xeon Processor"``."""
    return re.sub(r"\((R|TM)\)", "", hardware.split(";")[0]).strip()


def cpu_capability(hardware: str) -> str:
    """ATen's CPU capability (``"AVX2"``, ``"AVX512"``, ...) from a :func:`hardware_summary` line."""
    found = re.search(r"CPU capability (\w+)", hardware)
    if found is None:
        raise ValueError(f"no 'CPU capability' in the hardware line {hardware!r}: not written by hardware_summary")
    return found.group(1)


def utc_now() -> str:
    """The current UTC time as ISO 8601 to the second: how every log of the course timestamps."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
