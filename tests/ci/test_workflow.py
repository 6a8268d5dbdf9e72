"""The CI/CD workflow passes actionlint (built from the Go module proxy on first use), does
what it must (lint, tests with services, pip-audit of the lock, image build and scan), and the
lock, the image name and its tag agree with pyproject.toml, the Makefile and the k8s overlay."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
TOOLS_BIN = ROOT / ".pvara" / "tools" / "bin"
ACTIONLINT_MODULE = "github.com/rhysd/actionlint/cmd/actionlint"
ACTIONLINT_VERSION = "v1.7.12"


@pytest.fixture(scope="session")
def actionlint() -> Path:
    """actionlint at ACTIONLINT_VERSION, built with Go when missing (about a minute)."""
    binary = TOOLS_BIN / "actionlint"
    if binary.exists():
        done = subprocess.run([binary, "-version"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.startswith(ACTIONLINT_VERSION):
            return binary
    go = shutil.which("go")
    if go is None:
        pytest.fail("Go is needed to build actionlint (apt-get install golang)")
    TOOLS_BIN.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(TOOLS_BIN), "GOTOOLCHAIN": "local"}
    done = subprocess.run(
        [go, "install", f"{ACTIONLINT_MODULE}@{ACTIONLINT_VERSION}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"go install {ACTIONLINT_MODULE}@{ACTIONLINT_VERSION} failed:\n{done.stderr}")
    return binary


def _lint(actionlint: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [actionlint, "-no-color", str(path)], capture_output=True, text=True, check=False
    )


def test_the_workflow_passes_actionlint(actionlint: Path) -> None:
    done = _lint(actionlint, WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(actionlint: Path, tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    text = WORKFLOW.read_text().replace("needs: lint", "needs: lnt", 1)
    broken.write_text(text.replace("${{ env.PYTHON_VERSION }}", "${{ env.PYTHON_VERSON }", 1))

    done = _lint(actionlint, broken)

    assert done.returncode == 1
    assert "lnt" in done.stdout


def _workflow() -> dict[str, object]:
    loaded = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _commands(job: dict[str, object]) -> str:
    steps = job["steps"]
    assert isinstance(steps, list)
    return "\n".join(str(s.get("run", "")) + str(s.get("uses", "")) for s in steps)


def test_the_workflow_lints_tests_with_services_audits_and_builds_and_scans_the_image() -> None:
    jobs = _workflow()["jobs"]
    assert isinstance(jobs, dict)

    assert "make lint" in _commands(jobs["lint"])
    test = jobs["test"]
    assert set(test["services"]) == {"postgres", "redis", "kafka"}
    assert {"PVARA_DATABASE_URL", "PVARA_REDIS_URL", "PVARA_KAFKA_BOOTSTRAP"} <= set(test["env"])
    assert "make test" in _commands(test)
    assert test["timeout-minutes"] <= 90
    audit = _commands(jobs["audit"])
    assert "pip-audit" in audit and "-r requirements.lock" in audit and "--strict" in audit
    image = _commands(jobs["image"])
    assert "docker/build-push-action" in image
    assert "aquasecurity/trivy-action" in image


def _requirement_names(lock: str) -> set[str]:
    return {m[1].lower() for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", lock, re.MULTILINE)}


def test_the_lock_pins_every_runtime_dependency_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = (ROOT / "requirements.lock").read_text()
    wanted = {
        re.split(r"[\[<>=~! ;]", d, maxsplit=1)[0].lower().replace("_", "-")
        for d in project["dependencies"]
    }
    pinned = {n.replace("_", "-") for n in _requirement_names(lock)}

    missing = wanted - pinned
    assert not missing, f"requirements.lock lacks {sorted(missing)}: run `make lock`"
    entries = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", lock)[1:]
    assert len(entries) == len(_requirement_names(lock))
    assert all("--hash=sha256:" in entry for entry in entries)


def test_image_name_and_tag_agree_with_the_build_and_the_manifests() -> None:
    from ops.image import IMAGE_NAME, default_tag, project_version

    makefile = (ROOT / "Makefile").read_text()
    overlay = yaml.safe_load((ROOT / "k8s/overlays/production/kustomization.yaml").read_text())

    assert re.search(rf"^IMAGE\s*\?=\s*{re.escape(IMAGE_NAME)}$", makefile, re.MULTILINE)
    assert overlay["images"] == [{"name": IMAGE_NAME, "newTag": project_version()}]
    assert default_tag() == f"{IMAGE_NAME}:{project_version()}"
