"""Apache Kafka 4.3.1 in KRaft mode (one combined broker/controller), run from Maven jars.

The jars are resolved by Maven from ``ops/kafka/pom.xml`` into ``.pvara/kafka/libs`` once;
the storage is formatted once; the broker runs as a detached JVM with a small heap.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
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
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        # kafka-python logs every refused connection at ERROR; a probe expects refusals.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.address,
                request_timeout_ms=5000,
                client_id="pvara-status",
            )
        except (KafkaError, OSError, ValueError):
            return False
        try:
            admin.describe_cluster()
            return True
        except (KafkaError, OSError):
            return False
        finally:
            admin.close()
            logging.getLogger("kafka").setLevel(logging.WARNING)

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
        info: dict[str, Any] = {}
        pid = None if self.external else self.pid()
        if pid is not None:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            info["process"] = os.path.basename(cmdline[0].decode())
            info["main_class"] = "kafka.Kafka"
            jar = self.libs / f"kafka_2.13-{KAFKA_VERSION}.jar"
            if jar.exists():
                info["version"] = KAFKA_VERSION
                info["jar"] = jar.name
        return info

    # --- start / stop -------------------------------------------------------------------

    def _start(self) -> None:
        java = _require_java()
        if self.pid() is None:
            ensure_port_free("kafka", self.settings.kafka_port, "PVARA_KAFKA_PORT")
            ensure_port_free(
                "kafka controller", self.settings.kafka_controller_port,
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
        if self.pid() is None:
            out = (self.dir / "kafka.out").open("ab")
            heap = self.settings.kafka_heap
            proc = subprocess.Popen(
                [java, "-Xms128m", f"-Xmx{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                 "-Djava.awt.headless=true",
                 f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
                 f"-Dkafka.logs.dir={self.dir / 'logs'}",
                 "-cp", classpath, "kafka.Kafka", str(config)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=self.dir,
            )
            (self.dir / "kafka.pid").write_text(str(proc.pid))
        if not wait_until(lambda: self.answers() or self.pid() is None, 90, interval_s=0.5):
            raise ServiceError(f"kafka: the broker did not answer on {self.address} in 90 s. "
                               f"See {self.dir / 'logs'} and {self.dir / 'kafka.out'}.")
        if self.pid() is None:
            tail = (self.dir / "kafka.out").read_text(errors="replace")[-2000:]
            raise ServiceError(f"kafka: the broker exited during start-up.\n{tail}")

    def _stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, timeout_s=45)

    def _resolve_jars(self) -> None:
        stamp = self.libs / ".resolved"
        pom_hash = hashlib.sha256(_POM.read_bytes()).hexdigest()
        if stamp.exists() and stamp.read_text() == pom_hash:
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            apt_install("maven")
            mvn = shutil.which("mvn")
            if mvn is None:
                raise ServiceError("kafka: Maven (mvn) is missing; `apt-get install maven`.")
        if self.libs.exists():
            shutil.rmtree(self.libs)
        done = subprocess.run(
            [mvn, "-q", "-B", "-f", str(_POM), "dependency:copy-dependencies",
             f"-DoutputDirectory={self.libs}", "-DincludeScope=runtime",
             f"-Dmaven.repo.local={self.settings.home / 'm2'}"],
            capture_output=True, text=True,
        )
        if done.returncode != 0 or not (self.libs / f"kafka_2.13-{KAFKA_VERSION}.jar").exists():
            raise ServiceError(
                "kafka: Maven could not resolve the Kafka jars from Maven Central "
                f"({_POM}). Check that Maven Central is reachable, or set PVARA_KAFKA_BOOTSTRAP "
                f"to an existing cluster.\n{done.stdout[-1500:]}{done.stderr[-1500:]}"
            )
        stamp.write_text(pom_hash)

    def _write_config(self) -> Path:
        config = self.dir / "server.properties"
        config.write_text(_TEMPLATE.read_text().format(
            port=self.settings.kafka_port,
            controller_port=self.settings.kafka_controller_port,
            data_dir=self.dir / "data",
            partitions=self.settings.submitted_partitions,
        ))
        (self.dir / "log4j2.properties").write_text(
            _LOG4J.read_text().replace("@LOG_DIR@", str(self.dir / "logs"))
        )
        return config

    def _run_tool(self, java: str, classpath: str, args: list[str]) -> str:
        done = subprocess.run(
            [java, "-Xmx256m", f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
             "-cp", classpath, "kafka.tools.StorageTool", *args],
            capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise ServiceError(f"kafka: StorageTool {args[0]} failed.\n{done.stdout}{done.stderr}")
        return done.stdout


def _require_java() -> str:
    java = shutil.which("java")
    if java is None:
        apt_install("openjdk-17-jre-headless")
        java = shutil.which("java")
    if java is None:
        raise ServiceError(
            "kafka: no Java runtime found. Kafka 4 needs Java 17 or newer: "
            "`apt-get install openjdk-17-jre-headless`, or set PVARA_KAFKA_BOOTSTRAP."
        )
    return java
