"""Building the pinned Ollama release from its Go module (``go install``, cgo), once.

Go module archives leave out llama.cpp's ``vendor/`` headers, so ``miniaudio.h`` comes from
``PVARA_VENDOR_DIR`` (else ``../shared/vendor``, else ``/work/shared/vendor``), nlohmann/json
and stb_image from Debian. ggml's CPU kernels are compiled for this CPU's vector level
(:func:`cpu_level`): without ``-m`` flags they are built for baseline x86-64 and decode an
order of magnitude slower.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from core.settings import Settings
from ops.services._base import ServiceError, apt_install

log = logging.getLogger(__name__)

OLLAMA_MODULE = "github.com/ollama/ollama"
OLLAMA_VERSION = "0.17.4"

_GO_MIN = (1, 24)  # go.mod of v0.17.4
# Headers the cgo build needs from Debian (the vendored miniaudio.h: PVARA_VENDOR_DIR).
_HEADERS = {
    Path("/usr/include/nlohmann/json.hpp"): "nlohmann-json3-dev",
    Path("/usr/include/stb/stb_image.h"): "libstb-dev",
}
_MINIAUDIO = Path("miniaudio") / "miniaudio.h"
_PROGRESS_EVERY_S = 30.0


def build_ollama(settings: Settings, target: Path, build_log: Path) -> None:
    """Build the server into ``target`` (atomically), logging progress; minutes.

    Raises:
        ServiceError: Go, a compiler or a header is missing and cannot be installed, or the
            build failed or timed out.
    """
    go = _require_go()
    if shutil.which("g++") is None or shutil.which("gcc") is None:
        apt_install("g++")
    missing = sorted({pkg for header, pkg in _HEADERS.items() if not header.exists()})
    if missing:
        apt_install(*missing)
    vendor = settings.effective_vendor_dir
    if not (vendor / _MINIAUDIO).is_file():
        raise ServiceError(
            f"ollama: {vendor / _MINIAUDIO} is missing (Go module archives leave out "
            "llama.cpp's vendor/ headers). Point PVARA_VENDOR_DIR at a folder holding "
            "miniaudio/miniaudio.h, or set PVARA_OLLAMA_BIN to a built binary or "
            "PVARA_OLLAMA_HOST to a running server."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    # Without -m flags ggml's CPU kernels are compiled for baseline x86-64 (SSE2): ~10x
    # slower matrix products. Ollama's own releases build per-CPU variants with CMake.
    simd = " ".join(cpu_level()[1])
    env = {
        **os.environ,
        "CGO_ENABLED": "1",
        "CGO_CPPFLAGS": f"{os.environ.get('CGO_CPPFLAGS', '')} -I{vendor}".strip(),
        "CGO_CFLAGS": f"-O2 {simd}".strip(),
        "CGO_CXXFLAGS": f"-O2 {simd}".strip(),
    }
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as out_dir:
        env["GOBIN"] = out_dir
        log.info(
            "building Ollama from its Go module (once; minutes)",
            extra={"version": OLLAMA_VERSION, "log": str(build_log)},
        )
        started = time.monotonic()
        with build_log.open("w") as sink:
            code = _run_with_progress(
                [
                    go,
                    "install",
                    "-v",
                    # What `ollama --version` and /api/version report (else 0.0.0).
                    f"-ldflags=-X={OLLAMA_MODULE}/version.Version={OLLAMA_VERSION}",
                    f"{OLLAMA_MODULE}@v{OLLAMA_VERSION}",
                ],
                env=env,
                sink=sink,
                log_path=build_log,
                timeout_s=settings.ollama_build_timeout_s,
            )
        built = Path(out_dir) / "ollama"
        if code != 0 or not built.exists():
            raise ServiceError(
                f"ollama: `go install {OLLAMA_MODULE}@v{OLLAMA_VERSION}` failed "
                f"({'timed out' if code is None else f'exit {code}'}); see {build_log}.\n"
                + log_tail(build_log)
            )
        os.replace(built, target)
    log.info(
        "built Ollama",
        extra={"binary": str(target), "seconds": round(time.monotonic() - started)},
    )


# Vector extensions ggml's x86 kernels use, by compile-time macro (AVX2 + FMA + F16C is
# llama.cpp's "haswell" level). No -march=native: it may enable what a VM does not allow
# (AMX, field notes).
_AVX2_LEVEL = ("avx", "avx2", "fma", "f16c", "bmi2")


def cpu_level(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, list[str]]:
    """This CPU's build variant: ``("avx2", [-m flags])`` where it has them, else generic."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        text = ""
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    flags = set(line.partition(":")[2].split())
    if all(flag in flags for flag in _AVX2_LEVEL):
        return "avx2", [f"-m{flag}" for flag in _AVX2_LEVEL]
    return "generic", []


def _require_go() -> str:
    go = shutil.which("go")
    hint = (
        f"Go {_GO_MIN[0]}.{_GO_MIN[1]} or newer is needed to build Ollama {OLLAMA_VERSION} "
        "(https://go.dev/dl; Debian's golang-go is too old), or set PVARA_OLLAMA_BIN to an "
        "Ollama binary, or PVARA_OLLAMA_HOST to a running server."
    )
    if not go:
        raise ServiceError(f"ollama: no `go` found. {hint}")
    done = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True)
    version = done.stdout.strip().removeprefix("go")
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if done.returncode != 0 or parts < _GO_MIN:
        raise ServiceError(f"ollama: {go} is go{version or '?'}. {hint}")
    return go


def _run_with_progress(
    argv: list[str], *, env: dict[str, str], sink: Any, log_path: Path, timeout_s: float
) -> int | None:
    """Run the build, logging a progress line now and then; ``None`` if it timed out."""
    proc = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT, cwd="/")
    started = last = time.monotonic()
    while True:
        try:
            return proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if now - started > timeout_s:
            proc.kill()
            proc.wait()
            return None
        if now - last >= _PROGRESS_EVERY_S:
            last = now
            packages = sum(
                1
                for line in log_path.read_text(errors="replace").splitlines()
                if line and not line.startswith(("go: ", "#"))
            )
            log.info(
                "still building Ollama",
                extra={"seconds": round(now - started), "packages_built": packages},
            )


def log_tail(path: Path, chars: int = 1500) -> str:
    """The end of a log file, for an error message ("" if there is none)."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""
