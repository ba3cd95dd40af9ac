"""cnnlib.runtime: the device, the CPU threads (a VM's vCPUs, a container's quota), the allocator setting,
and that every entry point uses all cores."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import cnnlib.runtime as runtime
from cnnlib.runtime import pick_device


def test_pick_device(monkeypatch):
    monkeypatch.setenv("CNNLIB_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")
    monkeypatch.delenv("CNNLIB_DEVICE")
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert pick_device().type == expected


_PAGE_FAULTS_OF_FORWARD_PASSES = """
import resource, sys, torch, torch.nn as nn
from cnnlib.runtime import reuse_freed_memory

net = nn.Sequential(
    nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.Conv2d(32, 10, 1)
).eval()
x = torch.randn(64, 3, 32, 32)  # activations of 8 MiB: glibc's default hands such blocks back to the kernel

def page_faults_of_five_passes():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    with torch.inference_mode():
        for _ in range(5):
            net(x)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

if sys.argv[1] == "reuse":
    assert reuse_freed_memory()
page_faults_of_five_passes()  # warm-up
print(page_faults_of_five_passes())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator: Linux only")
def test_reuse_freed_memory_keeps_the_kernels_page_work_out_of_timed_passes():
    # Each case in a fresh process: the setting is process-wide and cannot be undone.
    # Without the settings that replace or tune the allocator, so both cases see glibc's own behaviour.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LD_PRELOAD", "GLIBC_TUNABLES", "THP_MEM_ALLOC_ENABLE") and not k.startswith("MALLOC_")
    }

    def faults(mode: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", _PAGE_FAULTS_OF_FORWARD_PASSES, mode],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        return int(out.stdout)

    pages_of_one_activation = 64 * 32 * 32 * 32 * 4 // 4096
    assert faults("default") > pages_of_one_activation  # fresh pages on every pass
    assert faults("reuse") < pages_of_one_activation // 10  # memory freed by one pass serves the next


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_use_all_cores_takes_every_vcpu_in_a_vm_and_torchs_choice_on_real_hardware(monkeypatch, restore_threads):
    from cnnlib.runtime import use_all_cores

    for name in ("CNNLIB_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(runtime, "available_cpus", lambda: 3)
    monkeypatch.setattr(runtime, "_TORCH_DEFAULT_THREADS", 1)  # two vCPUs shown as one core's hyper-threads
    monkeypatch.setattr(runtime, "running_in_vm", lambda: True)
    assert use_all_cores() == 3 == torch.get_num_threads()
    monkeypatch.setattr(runtime, "running_in_vm", lambda: False)  # real hardware: torch's physical cores
    assert use_all_cores() == 1
    monkeypatch.setattr(runtime, "_TORCH_DEFAULT_THREADS", 8)  # more than the process may use (a container)
    assert use_all_cores() == 3


def test_available_cpus_respects_a_containers_quota(monkeypatch):
    monkeypatch.setattr(runtime, "_cgroup_cpu_limit", lambda: 1.5)
    assert runtime.available_cpus() == 1
    monkeypatch.setattr(runtime, "_cgroup_cpu_limit", lambda: None)
    if hasattr(os, "sched_getaffinity"):
        assert runtime.available_cpus() == len(os.sched_getaffinity(0))


def test_use_all_cores_is_told_otherwise(monkeypatch, restore_threads):
    from cnnlib.runtime import use_all_cores

    for name in ("CNNLIB_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(runtime, "available_cpus", lambda: 3)
    monkeypatch.setattr(runtime, "running_in_vm", lambda: True)
    assert use_all_cores(1) == 1 == torch.get_num_threads()  # a CLI's --threads 1
    monkeypatch.setenv("CNNLIB_THREADS", "2")
    assert use_all_cores() == 2
    monkeypatch.setenv("CNNLIB_THREADS", "two")
    with pytest.raises(ValueError, match="CNNLIB_THREADS must be a positive whole number"):
        use_all_cores()
    monkeypatch.delenv("CNNLIB_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the user's OpenMP setting: torch honours it, so it is left alone
    torch.set_num_threads(1)
    assert use_all_cores() == 1
    with pytest.raises(ValueError, match="at least 1"):
        use_all_cores(0)


def test_every_entry_point_uses_all_cores():
    """The CLIs, the benchmarks and the notebooks' first cell call use_all_cores (a VM can make torch pick 1 thread)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    entry_points = (
        "cnnlib/zoo/__main__.py",
        "cnnlib/experiments/__main__.py",
        "cnnlib/nbtools.py",
        "conftest.py",
        "benchmarks/train_throughput.py",
        "benchmarks/repvgg_speed.py",
    )
    for path in entry_points:
        source = (root / path).read_text()
        assert "use_all_cores(" in source, path
        assert "set_num_threads" not in source, f"{path} sets threads itself instead of through use_all_cores"


def test_processor_name_and_capability_read_a_hardware_line():
    from cnnlib.runtime import cpu_capability, hardware_summary, processor_name

    line = "Intel(R) Xeon(R) Processor; 2 logical cores, torch threads 2; device cpu; CPU capability AVX512; torch 2"
    assert processor_name(line) == "Intel Xeon Processor" and cpu_capability(line) == "AVX512"
    here = hardware_summary(torch.device("cpu"))
    assert cpu_capability(here) == torch.backends.cpu.get_cpu_capability()
    with pytest.raises(ValueError, match="no 'CPU capability'"):
        cpu_capability("AMD EPYC; 2 logical cores")
