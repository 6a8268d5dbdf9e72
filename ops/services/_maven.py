"""Jars of a JVM service resolved by Maven from Maven Central, once per pom version."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from ops.services._base import ServiceError, apt_install


def resolve_jars(service: str, pom: Path, libs: Path, repository: Path, expect: str) -> None:
    """``mvn dependency:copy-dependencies`` of ``pom`` into ``libs`` unless already done for
    this pom's content; ``expect`` is a jar that must be there afterwards.

    Raises:
        ServiceError: Maven is missing and cannot be installed, or could not resolve the jars.
    """
    stamp = libs / ".resolved"
    pom_hash = hashlib.sha256(pom.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == pom_hash:
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        apt_install("maven")
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ServiceError(f"{service}: Maven (mvn) is missing; `apt-get install maven`.")
    if libs.exists():
        shutil.rmtree(libs)
    done = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
            f"-Dmaven.repo.local={repository}",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not (libs / expect).exists():
        raise ServiceError(
            f"{service}: Maven could not resolve the jars from Maven Central ({pom}). Check that"
            f" Maven Central is reachable.\n{done.stdout[-1500:]}{done.stderr[-1500:]}"
        )
    stamp.write_text(pom_hash)
