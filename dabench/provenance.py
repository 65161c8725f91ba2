"""What produced a result: package versions, git commit, hardware."""
from __future__ import annotations

import functools
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

PACKAGES = ("dabench", "torch", "torchvision", "numpy", "scipy", "scikit-learn")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@functools.cache
def git_commit() -> str:
    """HEAD of the dabench source tree, with "+dirty" when dabench/ has uncommitted changes; "unknown"
    outside git. Read once per process, at its first result: the code a process runs is the code it
    imported, whatever is committed later."""
    repo = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "dabench"], cwd=repo,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def device_name(device: torch.device, threads: int | None = None) -> str:
    """The GPU's name, or the CPU's with its instruction set and `threads` (default: torch's current count)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    # The vector instruction set picks torch's float kernels: runs agree bit for bit only within one.
    return f"cpu ({cpu}, {torch.backends.cpu.get_cpu_capability()}, {threads or torch.get_num_threads()} threads)"


def provenance(device: torch.device, threads: int) -> dict:
    """What a result row records of where it ran; `threads`: the CPU threads the run used."""
    return {"versions": package_versions(), "git_commit": git_commit(), "device": device_name(device, threads),
            "hostname": platform.node()}
