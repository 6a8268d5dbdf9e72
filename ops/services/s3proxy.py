"""s3proxy 2.6.0 (``org.gaul:s3proxy``, Apache-2.0): a real S3-compatible server on the JDK.

Not one of the default services (résumés live on local disk unless ``PVARA_BLOB_URL`` says
``s3://``): the S3 blob store tests start one on a free port, with the filesystem backend and
s3proxy's own at-rest encryption, and ``pvara services`` never touches it.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import httpx

from core.settings import Settings
from ops.services._base import ServiceError, stop_pid, wait_until
from ops.services._maven import resolve_jars
from ops.services.kafka import _require_java

S3PROXY_VERSION = "2.6.0"
_HERE = Path(__file__).resolve().parent.parent / "s3proxy"
_POM = _HERE / "pom.xml"
_LOGBACK = _HERE / "logback.xml"


class S3ProxyServer:
    """One s3proxy process serving ``data_dir`` on ``127.0.0.1:port``; use as a context manager.

    ``encrypt_at_rest`` turns on s3proxy's encrypted blob store (AES on disk), the server-side
    encryption an S3-compatible store does by itself (s3proxy refuses the SSE request header).
    """

    def __init__(
        self,
        settings: Settings,
        port: int,
        data_dir: Path,
        *,
        access_key: str = "pvara-test",
        encrypt_at_rest: bool = True,
    ) -> None:
        self.settings = settings
        self.port = port
        self.data_dir = Path(data_dir)
        self.access_key = access_key
        self.secret_key = secrets.token_hex(16)
        self.encrypt_at_rest = encrypt_at_rest
        self.dir = settings.home / "s3proxy"
        self.libs = self.dir / "libs"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answers(self) -> bool:
        try:
            # Unsigned: s3proxy answers 403 AccessDenied, which proves it serves S3.
            return httpx.get(self.endpoint, timeout=1).status_code in (200, 403)
        except httpx.HTTPError:
            return False

    def start(self, timeout_s: float = 90) -> S3ProxyServer:
        java = _require_java()
        resolve_jars(
            "s3proxy", _POM, self.libs, self.settings.home / "m2", f"s3proxy-{S3PROXY_VERSION}.jar"
        )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.dir / f"s3proxy-{self.port}.properties"
        lines = [
            f"s3proxy.endpoint={self.endpoint}",
            "s3proxy.authorization=aws-v2-or-v4",
            f"s3proxy.identity={self.access_key}",
            f"s3proxy.credential={self.secret_key}",
            "jclouds.provider=filesystem",
            f"jclouds.filesystem.basedir={self.data_dir}",
        ]
        if self.encrypt_at_rest:
            lines += [
                "s3proxy.encrypted-blobstore=true",
                f"s3proxy.encrypted-blobstore-password={secrets.token_hex(16)}",
                f"s3proxy.encrypted-blobstore-salt={secrets.token_hex(8)}",
            ]
        config.write_text("\n".join(lines) + "\n")
        config.chmod(0o600)
        log = (self.dir / f"s3proxy-{self.port}.log").open("ab")
        self._proc = subprocess.Popen(
            [
                java,
                "-Xmx256m",
                f"-Dlogback.configurationFile={_LOGBACK}",
                "-cp",
                f"{self.libs}/*",
                "org.gaul.s3proxy.Main",
                "--properties",
                str(config),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        proc = self._proc
        if not wait_until(lambda: self.answers() or proc.poll() is not None, timeout_s, 0.3):
            self.stop()
            raise ServiceError(f"s3proxy did not answer on {self.endpoint} in {timeout_s:.0f} s")
        if proc.poll() is not None:
            raise ServiceError(
                f"s3proxy exited with {proc.returncode}; see {self.dir}/s3proxy-{self.port}.log"
            )
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            stop_pid(self._proc.pid, timeout_s=15)
            self._proc.wait(5)
        self._proc = None

    def __enter__(self) -> S3ProxyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
