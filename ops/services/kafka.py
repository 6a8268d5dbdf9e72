"""Apache Kafka 4.3.1 in KRaft mode (one combined broker/controller), run from Maven jars.

The jars are resolved by Maven from ``ops/kafka/pom.xml`` into ``.pvara/kafka/libs`` once;
the storage is formatted once; the broker runs as a detached JVM with a small heap.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from ops.services._base import (
    Service,
    ServiceError,
    apt_install,
    ensure_port_free,
    read_pid,
    stop_pid,
    wait_until,
)
from ops.services._maven import resolve_jars

KAFKA_VERSION = "4.3.1"
_POM = Path(__file__).resolve().parent.parent / "kafka" / "pom.xml"
_TEMPLATE = Path(__file__).resolve().parent.parent / "kafka" / "server.properties"
_LOG4J = Path(__file__).resolve().parent.parent / "kafka" / "log4j2.properties"


class KafkaService(Service):
    name = "kafka"

    @property
    def external(self) -> bool:
        return bool(self.settings.kafka_bootstrap)

    @property
    def address(self) -> str:
        return self.settings.effective_kafka_bootstrap

    @property
    def libs(self) -> Path:
        return self.dir / "libs"

    def answers(self) -> bool:
        # Refused connections fail here at once: kafka-python's bootstrap would retry for
        # ``bootstrap_timeout_ms`` and leave a network thread behind for every failed client.
        if not _reachable(self.address):
            return False
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        # kafka-python logs every refused connection at ERROR; a probe expects refusals.
        kafka_log = logging.getLogger("kafka")
        level = kafka_log.level
        kafka_log.setLevel(logging.CRITICAL)
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.address,
                request_timeout_ms=5000,
                bootstrap_timeout_ms=5000,
                client_id="pvara-status",
            )
            try:
                admin.describe_cluster()
            finally:
                admin.close()
            return True
        except (KafkaError, OSError, ValueError):
            return False
        finally:
            kafka_log.setLevel(level)

    def pid(self) -> int | None:
        pid = read_pid(self.dir / "kafka.pid")
        if pid is None:
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        return pid if b"kafka.Kafka" in cmdline else None

    def detail(self) -> dict[str, Any]:
        """What the running broker process is, read from its own command line."""
        pid = None if self.external else self.pid()
        if pid is None:
            return {}
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return {}
        argv = [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]
        info: dict[str, Any] = {"process": os.path.basename(argv[0])}
        if "kafka.Kafka" in argv:
            info["main_class"] = "kafka.Kafka"
        classpath = argv[argv.index("-cp") + 1] if "-cp" in argv[:-1] else ""
        jar = _broker_jar(classpath)
        if jar is not None:
            info["version"] = jar.name.removeprefix("kafka_2.13-").removesuffix(".jar")
            info["jar"] = jar.name
        return info

    # --- start / stop -------------------------------------------------------------------

    def _start(self) -> None:
        java = _require_java()
        if self.pid() is None:
            ensure_port_free("kafka", self.settings.kafka_port, "PVARA_KAFKA_PORT")
            ensure_port_free(
                "kafka controller",
                self.settings.kafka_controller_port,
                "PVARA_KAFKA_CONTROLLER_PORT",
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        self._resolve_jars()
        config = self._write_config()
        classpath = f"{self.libs}/*"
        data = self.dir / "data"
        if not (data / "meta.properties").exists():
            cluster_id = self._run_tool(java, classpath, ["random-uuid"]).strip()
            self._run_tool(java, classpath, ["format", "-t", cluster_id, "-c", str(config)])
        proc: subprocess.Popen[bytes] | None = None
        if self.pid() is None:
            out = (self.dir / "kafka.out").open("ab")
            heap = self.settings.kafka_heap
            proc = subprocess.Popen(
                [
                    java,
                    "-Xms128m",
                    f"-Xmx{heap}",
                    "-XX:+UseG1GC",
                    "-XX:MaxGCPauseMillis=20",
                    "-Djava.awt.headless=true",
                    f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
                    f"-Dkafka.logs.dir={self.dir / 'logs'}",
                    "-cp",
                    classpath,
                    "kafka.Kafka",
                    str(config),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.dir,
            )
            (self.dir / "kafka.pid").write_text(str(proc.pid))

        def exited() -> bool:
            # The process we started, not /proc/<pid>/cmdline: the java launcher may exec
            # itself again, and while it does the command line reads empty.
            return proc.poll() is not None if proc is not None else self.pid() is None

        if not wait_until(lambda: self.answers() or exited(), 90, interval_s=0.5):
            raise ServiceError(
                f"kafka: the broker did not answer on {self.address} in 90 s. "
                f"See {self.dir / 'logs'} and {self.dir / 'kafka.out'}."
            )
        if exited():
            tail = (self.dir / "kafka.out").read_text(errors="replace")[-2000:]
            raise ServiceError(f"kafka: the broker exited during start-up.\n{tail}")

    def _stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, timeout_s=45)

    def _resolve_jars(self) -> None:
        try:
            resolve_jars(
                "kafka",
                _POM,
                self.libs,
                self.settings.home / "m2",
                f"kafka_2.13-{KAFKA_VERSION}.jar",
            )
        except ServiceError as exc:
            raise ServiceError(
                f"{exc} Or set PVARA_KAFKA_BOOTSTRAP to an existing cluster."
            ) from exc

    def _write_config(self) -> Path:
        config = self.dir / "server.properties"
        config.write_text(
            _TEMPLATE.read_text().format(
                port=self.settings.kafka_port,
                controller_port=self.settings.kafka_controller_port,
                data_dir=self.dir / "data",
                partitions=self.settings.submitted_partitions,
            )
        )
        (self.dir / "log4j2.properties").write_text(
            _LOG4J.read_text().replace("@LOG_DIR@", str(self.dir / "logs"))
        )
        return config

    def _run_tool(self, java: str, classpath: str, args: list[str]) -> str:
        done = subprocess.run(
            [
                java,
                "-Xmx256m",
                f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                *args,
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise ServiceError(f"kafka: StorageTool {args[0]} failed.\n{done.stdout}{done.stderr}")
        return done.stdout


def _require_java() -> str:
    java = shutil.which("java")
    why_not_installed = ""
    if java is None:
        try:
            apt_install("openjdk-17-jre-headless")
        except ServiceError as exc:
            why_not_installed = f" ({exc})"
        java = shutil.which("java")
    if java is None:
        raise ServiceError(
            "kafka: no Java runtime (`java`) found on PATH. Kafka 4 needs Java 17 or newer: "
            "`apt-get install openjdk-17-jre-headless`, or set PVARA_KAFKA_BOOTSTRAP to an "
            f"existing cluster.{why_not_installed}"
        )
    return java


def _reachable(bootstrap: str) -> bool:
    """Whether a TCP connection to any of the ``host:port`` bootstrap servers succeeds."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), 2):
                return True
        except (OSError, ValueError):
            continue
    return False


def _broker_jar(classpath: str) -> Path | None:
    """The ``kafka_2.13-<version>.jar`` on a JVM class path (entries may be ``dir/*``)."""
    for entry in classpath.split(os.pathsep):
        if entry.endswith("*"):
            found = sorted(Path(entry[:-1] or ".").glob("kafka_2.13-*.jar"))
            if found:
                return found[0]
        elif Path(entry).name.startswith("kafka_2.13-") and entry.endswith(".jar"):
            return Path(entry)
    return None
