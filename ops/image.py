"""Building the container image with buildah (``make image``, ``make image-test``).

No Docker engine is needed: Debian's ``buildah`` builds the ``Dockerfile`` with the ``vfs``
storage driver and runs commands in the result with ``--isolation chroot`` (its default OCI
runtime does not work in every sandbox). Where no registry of base images can be reached,
:func:`local_base` makes one from Debian packages with ``debootstrap`` against the mirror apt
already uses, and the build takes it as the ``BASE`` build argument.

``python -m ops.image build [--local-base | --base REF] [--tag T]`` is what ``make image``
runs when ``docker`` is not installed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from core.settings import PROJECT_ROOT, Settings, get_settings
from ops.services._base import ServiceError, apt_install

IMAGE_NAME = "pvara/pvara"
LOCAL_BASE = "localhost/pvara-base:bookworm"
SUITE = "bookworm"


class ImageError(RuntimeError):
    """buildah or debootstrap failed; the message carries the end of their output."""


def project_version(root: Path = PROJECT_ROOT) -> str:
    """The version in ``pyproject.toml``: the image tag the build sets by default."""
    with (root / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def default_tag() -> str:
    return f"{IMAGE_NAME}:{project_version()}"


@dataclass(frozen=True)
class Buildah:
    """``buildah`` with one storage location (``root``) and the settings this sandbox needs."""

    root: Path | None = None

    def argv(self, *args: str) -> list[str]:
        storage = (
            ["--root", str(self.root), "--runroot", str(self.root / "run")] if self.root else []
        )
        return ["buildah", *storage, "--storage-driver", "vfs", *args]

    def run(self, *args: str, timeout_s: float = 1800) -> str:
        done = subprocess.run(
            self.argv(*args), capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if done.returncode != 0:
            raise ImageError(
                f"buildah {args[0]} failed ({done.returncode}):\n"
                f"{done.stdout[-3000:]}{done.stderr[-3000:]}"
            )
        return done.stdout

    def has_image(self, ref: str) -> bool:
        done = subprocess.run(
            self.argv("inspect", "--type", "image", ref), capture_output=True, check=False
        )
        return done.returncode == 0


def require_tools(*tools: str) -> None:
    """Install the Debian packages of missing ``tools`` (buildah, debootstrap) when allowed."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        try:
            apt_install(*missing)
        except ServiceError as exc:
            raise ImageError(str(exc)) from exc


def debian_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian archive URI apt is configured with (deb822 ``URIs:`` or a ``deb`` line)."""
    candidates = [*sorted(sources.glob("sources.list.d/*.sources")), sources / "sources.list"]
    for path in candidates:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            line = line.strip()
            match = re.match(r"URIs:\s*(\S+)", line) or re.match(
                r"deb\s+(?:\[[^]]*]\s+)?(\S+)", line
            )
            if match and "security" not in match[1] and "debian" in match[1]:
                return match[1]
    raise ImageError(f"no Debian mirror found in {sources}/sources.list*; pass --mirror")


def local_base(
    settings: Settings, buildah: Buildah, *, mirror: str | None = None, ref: str = LOCAL_BASE
) -> str:
    """A minimal Debian base with python3 and venv, built once with debootstrap (~3 min)."""
    if buildah.has_image(ref):
        return ref
    require_tools("debootstrap")
    work = settings.home / "image"
    rootfs = work / "rootfs"
    stamp = work / "rootfs.done"
    if not stamp.exists():
        if rootfs.exists():
            shutil.rmtree(rootfs)
        work.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv",
                SUITE,
                str(rootfs),
                mirror or debian_mirror(),
            ],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        if done.returncode != 0:
            raise ImageError(f"debootstrap failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        # Package caches and lists are not part of an image.
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        stamp.write_text(SUITE)
    container = buildah.run("from", "scratch").strip()
    try:
        buildah.run("copy", container, f"{rootfs}/", "/")
        buildah.run("config", "--env", "LANG=C.UTF-8", "--cmd", "/bin/bash", container)
        buildah.run("commit", "--rm", container, ref)
    except ImageError:
        subprocess.run(buildah.argv("rm", container), capture_output=True, check=False)
        raise
    return ref


def pip_ca_file() -> Path | None:
    """The CA bundle pip is configured with here (``PIP_CERT`` or pip's ``global.cert``), to
    hand to the build as the ``pip-ca`` secret: a TLS-inspecting proxy's CA is in it."""
    configured = os.environ.get("PIP_CERT")
    if not configured:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.cert"],
            capture_output=True,
            text=True,
            check=False,
        )
        configured = done.stdout.strip() if done.returncode == 0 else ""
    return Path(configured) if configured and Path(configured).is_file() else None


def build(
    buildah: Buildah,
    tag: str,
    *,
    base: str | None = None,
    context: Path = PROJECT_ROOT,
    ca_file: Path | None = None,
) -> str:
    """``buildah bud`` of the Dockerfile in ``context``; returns ``tag``."""
    # Docker format: the OCI image format has no HEALTHCHECK (buildah would drop it).
    args = ["bud", "--isolation", "chroot", "--layers=false", "--format", "docker"]
    args += ["-f", str(context / "Dockerfile")]
    args += ["--build-arg", f"VERSION={tag.rpartition(':')[2]}"]
    if base:
        args += ["--build-arg", f"BASE={base}"]
    if ca_file is not None:
        args += ["--secret", f"id=pip-ca,src={ca_file}"]
    buildah.run(*args, "-t", tag, str(context), timeout_s=3600)
    return tag


def run_in_image(
    buildah: Buildah, image: str, command: Sequence[str], env: dict[str, str], log: IO[bytes]
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a fresh working container of ``image`` on the host's network.

    The container is removed when the process ends (``buildah run`` in a shell that removes
    it afterwards), so stopping the returned process is enough.
    """
    container = buildah.run("from", "--pull-never", image).strip()
    env_args = [a for k, v in env.items() for a in ("--env", f"{k}={v}")]
    run = buildah.argv(
        "run", "--isolation", "chroot", "--network", "host", *env_args, container, "--", *command
    )
    remove = buildah.argv("rm", container)
    script = 'trap "$REMOVE" EXIT; "$@" & child=$!; trap "kill $child" TERM INT; wait $child'
    return subprocess.Popen(
        ["bash", "-c", script, "run-in-image", *run],
        env={"REMOVE": " ".join(remove), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.image", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    cmd = sub.add_parser("build", help="build the image with buildah")
    cmd.add_argument("--tag", default=default_tag())
    group = cmd.add_mutually_exclusive_group()
    group.add_argument("--base", help="base image reference (default: the Dockerfile's)")
    group.add_argument(
        "--local-base", action="store_true", help="build a Debian base with debootstrap first"
    )
    cmd.add_argument("--mirror", help="Debian mirror for debootstrap (default: apt's)")
    cmd.add_argument("--storage", type=Path, help="buildah storage root (default: buildah's)")
    args = parser.parse_args(argv)
    settings = get_settings()
    try:
        require_tools("buildah")
        buildah = Buildah(args.storage)
        base = local_base(settings, buildah, mirror=args.mirror) if args.local_base else args.base
        print(f"building {args.tag}" + (f" on {base}" if base else ""), flush=True)
        build(buildah, args.tag, base=base, ca_file=pip_ca_file())
    except (ImageError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"built {args.tag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
