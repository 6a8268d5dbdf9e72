"""``pvara services`` and the optional Ollama server: off unless asked for, an existing server
used as is, and every reason it cannot be built or started told plainly - before any build.

Each test runs the real ``pvara`` command with its own ``PVARA_HOME`` and the session's
PostgreSQL, Redis and Kafka given as existing servers, so nothing else is started. Building
and serving the real server is the slow test's job (``tests/screening/test_ollama_real.py``).
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings, shared_folder
from ops.services.ollama_build import cpu_level
from tests.ops.test_services import free_ports, make_home, port_is_free, pvara, pvara_env


@pytest.fixture
def home() -> Iterator[Path]:
    path = make_home()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _env(services_up: Settings, home: Path, **extra: str) -> dict[str, str]:
    return pvara_env(
        PVARA_HOME=str(home / "pvara"),
        PVARA_DATABASE_URL=services_up.effective_database_url,
        PVARA_REDIS_URL=services_up.effective_redis_url,
        PVARA_KAFKA_BOOTSTRAP=services_up.effective_kafka_bootstrap,
        PVARA_OLLAMA_PORT=str(free_ports(1)[0]),
        **extra,
    )


def _reported(stdout: str) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in json.loads(stdout)}


def test_ollama_is_not_among_the_services_unless_asked_for(
    services_up: Settings, home: Path
) -> None:
    env = _env(services_up, home)

    plain = pvara("services", "status", "--json", env=env, timeout_s=60)
    asked = pvara("services", "status", "--json", "--with", "ollama", env=env, timeout_s=60)

    assert set(_reported(plain.stdout)) == {"postgres", "redis", "kafka"}
    ollama = _reported(asked.stdout)["ollama"]
    assert (ollama["managed"], ollama["answering"], ollama["pid"]) == (True, False, None)
    assert ollama["address"] == f"http://127.0.0.1:{env['PVARA_OLLAMA_PORT']}"
    assert asked.returncode == 1  # a service asked for that does not answer
    assert not (home / "pvara" / "ollama").exists()  # status starts and builds nothing


class _OllamaLike:
    """A server answering Ollama's version and model list, standing for one run elsewhere."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                bodies = {
                    "/api/version": {"version": "0.17.4"},
                    "/api/tags": {"models": [{"name": "llama3.1:8b"}, {"name": "qwen2.5:7b"}]},
                }
                body = json.dumps(bodies.get(self.path, {})).encode()
                self.send_response(200 if self.path in bodies else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def elsewhere() -> Iterator[_OllamaLike]:
    server = _OllamaLike()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_a_server_named_by_pvara_ollama_host_is_used_and_nothing_is_built(
    services_up: Settings, home: Path, elsewhere: _OllamaLike
) -> None:
    env = _env(services_up, home, PVARA_OLLAMA_HOST=elsewhere.url)

    done = pvara("services", "up", "--json", env=env, timeout_s=60)

    assert done.returncode == 0, done.stderr
    ollama = _reported(done.stdout)["ollama"]
    assert (ollama["managed"], ollama["answering"], ollama["pid"]) == (False, True, None)
    assert ollama["address"] == elsewhere.url
    assert ollama["detail"] == {"version": "0.17.4", "models": "llama3.1:8b,qwen2.5:7b"}
    assert not (home / "pvara" / "ollama").exists()
    assert port_is_free(int(env["PVARA_OLLAMA_PORT"]))


def _up_fails(env: dict[str, str]) -> str:
    done = pvara("services", "up", "--with", "ollama", env=env, timeout_s=60)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    return done.stderr


def test_without_go_the_error_says_what_to_install_or_set_instead(
    services_up: Settings, home: Path
) -> None:
    empty_bin = home / "bin"
    empty_bin.mkdir()

    stderr = _up_fails(_env(services_up, home, PATH=str(empty_bin)))

    assert "no `go` found" in stderr
    assert "Go 1.24 or newer" in stderr
    assert "PVARA_OLLAMA_BIN" in stderr and "PVARA_OLLAMA_HOST" in stderr
    assert not list((home / "pvara" / "ollama").glob("bin/ollama-*"))


def test_without_the_vendored_header_the_error_names_pvara_vendor_dir(
    services_up: Settings, home: Path
) -> None:
    if shutil.which("go") is None:
        pytest.skip("no Go here: the Go check comes first")
    (home / "vendor").mkdir()

    stderr = _up_fails(_env(services_up, home, PVARA_VENDOR_DIR=str(home / "vendor")))

    assert f"{home / 'vendor' / 'miniaudio' / 'miniaudio.h'} is missing" in stderr
    assert "PVARA_VENDOR_DIR" in stderr


def test_a_configured_binary_that_cannot_run_is_refused(services_up: Settings, home: Path) -> None:
    missing = home / "no-such-ollama"

    stderr = _up_fails(_env(services_up, home, PVARA_OLLAMA_BIN=str(missing)))

    assert f"PVARA_OLLAMA_BIN={missing} is not an executable" in stderr


def test_a_port_taken_by_another_program_is_named_before_anything_is_built(
    services_up: Settings, home: Path
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = _env(services_up, home)
        env["PVARA_OLLAMA_PORT"] = str(port)

        stderr = _up_fails(env)

    assert f"port {port}" in stderr and "PVARA_OLLAMA_PORT" in stderr
    assert not (home / "pvara" / "ollama").exists()


# --- where the build's inputs come from ------------------------------------------------------


def test_the_vendor_folder_is_found_like_a_data_set(tmp_path: Path) -> None:
    repo = tmp_path / "checkout"
    repo.mkdir()
    chosen = tmp_path / "mine"

    assert Settings(vendor_dir=chosen).effective_vendor_dir == chosen
    assert shared_folder("vendor", root=repo) == Path("/work/shared/vendor")
    (tmp_path / "shared" / "vendor").mkdir(parents=True)
    assert shared_folder("vendor", root=repo) == tmp_path / "shared" / "vendor"
    assert Settings(vendor_dir=None).effective_vendor_dir == shared_folder("vendor")


def test_the_build_uses_avx2_only_where_the_cpu_reports_it(tmp_path: Path) -> None:
    haswell = tmp_path / "haswell"
    haswell.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma f16c bmi2 movbe\n")
    old = tmp_path / "old"
    old.write_text("processor\t: 0\nflags\t\t: fpu sse2 sse4_2 avx\n")

    assert cpu_level(haswell) == ("avx2", ["-mavx", "-mavx2", "-mfma", "-mf16c", "-mbmi2"])
    assert cpu_level(old) == ("generic", [])
    assert cpu_level(tmp_path / "missing") == ("generic", [])
