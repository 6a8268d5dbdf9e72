"""``pvara services``: PostgreSQL, Redis and Kafka started by the project itself.

Every test here runs the real ``pvara`` command in a subprocess with its own ``PVARA_HOME``
and its own ports, so the shared instances other tests use are never touched. One isolated
instance (started from nothing) is shared by the module, and stopped by its finalizer.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from kafka import KafkaAdminClient

from core.settings import Settings
from ingest.topics import topic_partitions
from ops.services import KafkaService

PVARA = Path(sys.executable).with_name("pvara")
START_TIMEOUT_S = 180


# --- helpers --------------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports nobody listens on right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_is_free(port: int) -> bool:
    """Whether a server could bind ``127.0.0.1:port`` now (as ours do, with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def process_running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped has stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def process_stopped(pid: int) -> bool:
    return not process_running(pid)


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


def pvara_env(**settings: str) -> dict[str, str]:
    """This environment without any inherited ``PVARA_*`` setting, plus ``settings``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PVARA_")}
    env.update(settings)
    return env


def pvara(
    *args: str, env: dict[str, str], timeout_s: float = START_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PVARA), *args], env=env, capture_output=True, text=True, timeout=timeout_s
    )


def statuses(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    done = pvara("services", "status", "--json", env=env, timeout_s=60)
    return {entry["name"]: entry for entry in json.loads(done.stdout)}


def make_home() -> Path:
    """A fresh folder under /tmp that the ``postgres`` user can traverse."""
    home = Path(tempfile.mkdtemp(prefix="pvara-test-", dir="/tmp"))
    home.chmod(0o755)
    return home


def seed_kafka_jars(home: Path, source: Path) -> None:
    """Hard-link the resolved Kafka jars (and their ``.resolved`` stamp) into ``home``."""
    if not (source / ".resolved").exists():
        return  # nothing cached: `services up` resolves them from Maven Central
    target = home / "kafka" / "libs"
    target.parent.mkdir(parents=True, exist_ok=True)

    def link_or_copy(src: str, dst: str) -> object:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        return dst

    shutil.copytree(source, target, copy_function=link_or_copy)


@dataclass
class Isolated:
    home: Path
    env: dict[str, str]
    ports: dict[str, int]
    up: subprocess.CompletedProcess[str]
    up_seconds: float


@pytest.fixture(scope="module")
def isolated(settings: Settings) -> Iterator[Isolated]:
    """PostgreSQL, Redis and Kafka brought up from nothing in a temporary home."""
    home = make_home()
    pg, rd, kf, ctl = free_ports(4)
    ports = {"postgres": pg, "redis": rd, "kafka": kf, "kafka_controller": ctl}
    env = pvara_env(
        PVARA_HOME=str(home),
        PVARA_POSTGRES_PORT=str(pg),
        PVARA_REDIS_PORT=str(rd),
        PVARA_KAFKA_PORT=str(kf),
        PVARA_KAFKA_CONTROLLER_PORT=str(ctl),
        PVARA_SUBMITTED_PARTITIONS=str(settings.submitted_partitions),
        PVARA_TOPIC_PARTITIONS=str(settings.topic_partitions),
    )
    seed_kafka_jars(home, settings.home / "kafka" / "libs")
    started = time.monotonic()
    try:
        up = pvara("services", "up", env=env)
        instance = Isolated(home, env, ports, up, time.monotonic() - started)
        assert up.returncode == 0, f"services up failed:\n{up.stdout}\n{up.stderr}"
        yield instance
    finally:
        _tear_down(home, env)


def _tear_down(home: Path, env: dict[str, str]) -> None:
    """``pvara services down``, then make sure nothing of ours survives, then remove ``home``."""
    pids = [
        pid
        for pid in (
            _pid_from(home / "postgres" / "data" / "postmaster.pid"),
            _pid_from(home / "redis" / "redis.pid"),
            _pid_from(home / "kafka" / "kafka.pid"),
        )
        if pid is not None
    ]
    try:
        pvara("services", "down", env=env, timeout_s=120)
    finally:
        for pid in pids:
            if process_running(pid) and str(home) in _cmdline(pid) + _cwd(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(home, ignore_errors=True)


def _pid_from(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


# --- one isolated instance, from nothing to down ---------------------------------------------


def test_up_from_nothing_starts_all_three_and_each_answers(isolated: Isolated) -> None:
    status = statuses(isolated.env)

    assert set(status) == {"postgres", "redis", "kafka"}
    for name, entry in status.items():
        assert entry["managed"] is True, name
        assert entry["answering"] is True, name
        assert isinstance(entry["pid"], int) and process_running(entry["pid"]), name
    assert status["postgres"]["address"] == f"127.0.0.1:{isolated.ports['postgres']}/pvara"
    assert status["redis"]["detail"]["appendonly"] is True

    # The data of each server lives in the isolated home, not in the shared one.
    url = f"postgresql://pvara@127.0.0.1:{isolated.ports['postgres']}/pvara"
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None
    assert Path(row[0]).resolve() == (isolated.home / "postgres" / "data").resolve()
    client = redis.Redis(port=isolated.ports["redis"], socket_timeout=5)
    assert client.config_get("dir")["dir"] == str(isolated.home / "redis")


def test_isolated_kafka_is_the_real_apache_kafka_4_3_1_jvm(isolated: Isolated) -> None:
    kafka = statuses(isolated.env)["kafka"]

    assert kafka["detail"] == {
        "process": "java",
        "main_class": "kafka.Kafka",
        "version": "4.3.1",
        "jar": "kafka_2.13-4.3.1.jar",
    }
    pid = kafka["pid"]
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    assert Path(argv[0]).name == "java"
    assert "kafka.Kafka" in argv
    libs = isolated.home / "kafka" / "libs"
    assert argv[argv.index("-cp") + 1] == f"{libs}/*"
    assert argv[-2] == str(isolated.home / "kafka" / "server.properties")
    # The JVM has the 4.3.1 broker jar of the isolated home open.
    open_files = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir() if fd.is_symlink()}
    assert str(libs / "kafka_2.13-4.3.1.jar") in open_files

    # The broker answering on the isolated port is the one whose storage is in that home.
    meta = (isolated.home / "kafka" / "data" / "meta.properties").read_text()
    cluster_id = next(
        line.split("=", 1)[1] for line in meta.splitlines() if line.startswith("cluster.id=")
    )
    admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{isolated.ports['kafka']}")
    try:
        assert admin.describe_cluster()["cluster_id"] == cluster_id
    finally:
        admin.close()


def test_up_again_is_fast_and_keeps_the_same_processes(isolated: Isolated) -> None:
    before = {name: entry["pid"] for name, entry in statuses(isolated.env).items()}

    started = time.monotonic()
    again = pvara("services", "up", "--json", env=isolated.env, timeout_s=60)
    elapsed = time.monotonic() - started

    assert again.returncode == 0, again.stderr
    after = {entry["name"]: entry["pid"] for entry in json.loads(again.stdout)}
    assert after == before
    assert elapsed < min(15.0, isolated.up_seconds), (elapsed, isolated.up_seconds)


def test_migrate_on_fresh_services_applies_schema_and_creates_topics(
    isolated: Isolated, settings: Settings
) -> None:
    first = pvara("migrate", env=isolated.env, timeout_s=120)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_schema" in first.stdout
    assert "kafka topics created:" in first.stdout

    second = pvara("migrate", env=isolated.env, timeout_s=120)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split("\n")[:2] == ["schema up to date", "kafka topics ok"]

    wanted = topic_partitions(settings)
    admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{isolated.ports['kafka']}")
    try:
        described = admin.describe_topics(list(wanted))
    finally:
        admin.close()
    assert {t["name"]: len(t["partitions"]) for t in described} == wanted


def test_down_stops_all_three_and_frees_their_ports(isolated: Isolated) -> None:
    pids = {name: entry["pid"] for name, entry in statuses(isolated.env).items()}
    # An idle client (a worker's pool) must not hold PostgreSQL's shutdown up.
    url = f"postgresql://pvara@127.0.0.1:{isolated.ports['postgres']}/pvara"
    client = psycopg.connect(url, connect_timeout=5)

    started = time.monotonic()
    down = pvara("services", "down", env=isolated.env, timeout_s=120)
    took = time.monotonic() - started

    assert down.returncode == 0, down.stderr
    assert took < 20, f"down took {took:.1f} s"
    for name, pid in pids.items():
        wait_for(partial(process_stopped, pid), 30, f"{name} (pid {pid}) to exit")
    for name, port in isolated.ports.items():
        wait_for(partial(port_is_free, port), 30, f"{name} port {port} to be free")
    with pytest.raises(psycopg.OperationalError):
        client.execute("SELECT 1")
    client.close()

    started = time.monotonic()
    after = statuses(isolated.env)
    assert time.monotonic() - started < 10  # stopped services are reported at once
    assert not any(entry["answering"] for entry in after.values())
    assert all(entry["pid"] is None for entry in after.values())


# --- errors and external servers (no local server started) ----------------------------------


@pytest.fixture
def home() -> Iterator[Path]:
    path = make_home()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("holder", ["listening", "bound"])
def test_port_taken_by_another_program_is_named_in_the_error(
    services_up: Settings, home: Path, holder: str
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        if holder == "listening":
            squatter.listen()
        port = squatter.getsockname()[1]
        kafka_port, controller_port = free_ports(2)
        env = pvara_env(
            PVARA_HOME=str(home),
            PVARA_DATABASE_URL=services_up.effective_database_url,
            PVARA_REDIS_PORT=str(port),
            PVARA_KAFKA_PORT=str(kafka_port),
            PVARA_KAFKA_CONTROLLER_PORT=str(controller_port),
        )

        done = pvara("services", "up", env=env, timeout_s=60)

    assert done.returncode == 1
    assert f"port {port}" in done.stderr
    assert "PVARA_REDIS_PORT" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (home / "redis" / "redis.pid").exists()
    assert not (home / "kafka").exists()  # stopped at the first failure


def test_existing_servers_are_used_and_nothing_is_started(
    services_up: Settings, home: Path
) -> None:
    unused = free_ports(4)
    env = pvara_env(
        PVARA_HOME=str(home / "never-created"),
        PVARA_DATABASE_URL=services_up.effective_database_url,
        PVARA_REDIS_URL=services_up.effective_redis_url,
        PVARA_KAFKA_BOOTSTRAP=services_up.effective_kafka_bootstrap,
        PVARA_POSTGRES_PORT=str(unused[0]),
        PVARA_REDIS_PORT=str(unused[1]),
        PVARA_KAFKA_PORT=str(unused[2]),
        PVARA_KAFKA_CONTROLLER_PORT=str(unused[3]),
    )

    done = pvara("services", "up", "--json", env=env, timeout_s=60)

    assert done.returncode == 0, done.stderr
    reported = {entry["name"]: entry for entry in json.loads(done.stdout)}
    assert set(reported) == {"postgres", "redis", "kafka"}
    for name, entry in reported.items():
        assert (entry["managed"], entry["answering"], entry["pid"]) == (False, True, None), name
    assert reported["redis"]["address"] == services_up.effective_redis_url
    assert reported["kafka"]["address"] == services_up.effective_kafka_bootstrap
    assert not (home / "never-created").exists()
    assert all(port_is_free(port) for port in unused)


@pytest.mark.parametrize(
    "auto_install", [{"PVARA_AUTO_INSTALL": "0"}, {}], ids=["auto-install-off", "no-apt-get"]
)
def test_missing_java_is_a_clear_error(
    services_up: Settings, home: Path, auto_install: dict[str, str]
) -> None:
    empty_bin = home / "bin"  # a PATH with no java (and no apt-get to install it)
    empty_bin.mkdir()
    kafka_port, controller_port = free_ports(2)
    env = pvara_env(
        PATH=str(empty_bin),
        PVARA_HOME=str(home / "pvara"),
        PVARA_DATABASE_URL=services_up.effective_database_url,
        PVARA_REDIS_URL=services_up.effective_redis_url,
        PVARA_KAFKA_PORT=str(kafka_port),
        PVARA_KAFKA_CONTROLLER_PORT=str(controller_port),
        **auto_install,
    )

    done = pvara("services", "up", env=env, timeout_s=60)

    assert done.returncode == 1
    assert "no Java runtime" in done.stderr
    assert "Java 17" in done.stderr
    assert "openjdk-17-jre-headless" in done.stderr
    assert "PVARA_KAFKA_BOOTSTRAP" in done.stderr
    if auto_install:
        assert "PVARA_AUTO_INSTALL=0" in done.stderr
    else:
        assert "apt-get is not available" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (home / "pvara" / "kafka" / "kafka.pid").exists()
    assert port_is_free(kafka_port)


def test_maven_resolves_the_kafka_jars_from_the_local_repository(
    settings: Settings, home: Path
) -> None:
    cache = settings.home / "m2"
    shared_libs = settings.home / "kafka" / "libs"
    if not cache.is_dir() or not shared_libs.is_dir():
        pytest.skip("no local Maven repository yet (the shared Kafka was not resolved here)")
    (home / "m2").symlink_to(cache)
    service = KafkaService(Settings(home=home))

    service._resolve_jars()

    pom = Path(__file__).resolve().parents[2] / "ops" / "kafka" / "pom.xml"
    assert (service.libs / ".resolved").read_text() == hashlib.sha256(pom.read_bytes()).hexdigest()
    jars = {path.name for path in service.libs.glob("*.jar")}
    assert "kafka_2.13-4.3.1.jar" in jars
    assert jars == {path.name for path in shared_libs.glob("*.jar")}


def test_postgres_data_behind_a_folder_the_postgres_user_cannot_enter(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A checkout under /root (mode 700): the data lives in /var/lib/pvara, linked from home."""
    from core.settings import Settings
    from ops.processes import free_port
    from ops.services import PostgresService

    private = tmp_path_factory.mktemp("private")
    private.chmod(0o700)  # like /root: the postgres user cannot traverse it
    settings = Settings(home=private / ".pvara", postgres_port=free_port())
    service = PostgresService(settings)
    try:
        status = service.up()
        assert status.answering
        link = settings.home / "postgres" / "data"
        assert link.is_symlink()
        assert str(link.resolve()).startswith("/var/lib/pvara/")
        assert (link / "PG_VERSION").exists()
    finally:
        service.down()
        target = (settings.home / "postgres" / "data").resolve()
        if str(target).startswith("/var/lib/pvara/"):
            shutil.rmtree(target.parent, ignore_errors=True)
    assert not service.answers()
