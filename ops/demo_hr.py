"""The HR part of the demo, through the HTTP API: log in, tighten a criterion, rebuild."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx


def change_criteria_and_rebuild(
    base: str, job_id: uuid.UUID, email: str, password: str, *, timeout_s: float = 300
) -> dict[str, Any]:
    """As HR: require Kubernetes and five years, rebuild the shortlist; returns the new one."""
    with httpx.Client(base_url=base, timeout=30) as client:
        login = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        login.raise_for_status()
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}

        current = client.get(f"/api/v1/jobs/{job_id}/criteria", headers=auth)
        current.raise_for_status()
        criteria = current.json()["criteria"]
        rules = criteria["screening_criteria"]
        kubernetes = next(
            (s for s in rules["nice_to_have_skills"] if s["name"] == "Kubernetes"),
            {"name": "Kubernetes", "years": 1},
        )
        rules["nice_to_have_skills"] = [
            s for s in rules["nice_to_have_skills"] if s["name"] != "Kubernetes"
        ]
        rules["must_have_skills"].append(kubernetes)
        rules["min_experience_years"] = 5
        changed = client.put(
            f"/api/v1/jobs/{job_id}/criteria", json={"criteria": criteria}, headers=auth
        )
        changed.raise_for_status()
        version = changed.json()["version"]
        print(
            f"HR {email} logged in; criteria v{version}: Kubernetes is now a must-have, "
            "5 years minimum"
        )

        accepted = client.post(f"/api/v1/jobs/{job_id}/shortlist/rebuild", headers=auth)
        accepted.raise_for_status()
        task_id = accepted.json()["task_id"]
        print(f"shortlist rebuild requested: 202, task {task_id}")
        deadline = time.monotonic() + timeout_s
        while True:
            task = client.get(f"/api/v1/tasks/{task_id}", headers=auth).json()
            if task["state"] in ("succeeded", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        print(f"task {task['state']}: {task.get('result') or task.get('error')}")
        shortlist = client.get(f"/api/v1/jobs/{job_id}/shortlist", headers=auth)
        shortlist.raise_for_status()
        result: dict[str, Any] = shortlist.json()
        return result


def render_shortlist(shortlist: dict[str, Any]) -> str:
    lines = [
        f"== New shortlist (version {shortlist['version']}, "
        f"criteria v{shortlist['criteria_version']}) ==",
        f"  {'rank':>4}  {'score':>5}  {'candidate':<26} {'recommend':<9}  missing",
    ]
    for entry in shortlist["entries"][:10]:
        missing = ", ".join(map(str, entry["skills_missing"])) or "-"
        lines.append(
            f"  {entry['rank']:>4}  {entry['score']:>5.1f}  {entry['candidate_name'][:26]:<26} "
            f"{(entry['recommendation'] or '-'):<9}  {missing}"
        )
    if not shortlist["entries"]:
        lines.append("  (nobody meets the tightened criteria)")
    return "\n".join(lines)
