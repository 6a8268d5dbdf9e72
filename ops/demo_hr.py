"""The HR part of the demo, through the HTTP API: log in, tighten the criteria, rebuild,
and show what moved in the shortlist and why."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx

TIGHTER_SKILL = "Kubernetes"
TIGHTER_YEARS = 5
_YEARS_RE = re.compile(r"(\d+(?:\.\d+)?) years from (?:dated entries|the résumé's own claim)")


def change_criteria_and_rebuild(
    base: str, job_id: uuid.UUID, email: str, password: str, *, timeout_s: float = 300
) -> dict[str, Any]:
    """As HR: require Kubernetes and five years, rebuild the shortlist, print what moved and
    why; returns the new shortlist."""
    with httpx.Client(base_url=base, timeout=30) as client:
        login = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        login.raise_for_status()
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        before = client.get(f"/api/v1/jobs/{job_id}/shortlist", headers=auth)
        before.raise_for_status()

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
        print(render_moves(before.json(), result, _details(client, auth, before.json(), result)))
        return result


def _details(
    client: httpx.Client, auth: dict[str, str], before: dict[str, Any], after: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The rescored applications that left the shortlist (their new score and reasons)."""
    kept = {e["application_id"] for e in after["entries"]}
    found = {}
    for entry in before["entries"]:
        if entry["application_id"] not in kept:
            reply = client.get(
                f"/api/v1/applications/{entry['application_id']}/details", headers=auth
            )
            if reply.status_code == 200:
                found[entry["application_id"]] = reply.json()
    return found


def _why(skills_missing: list[Any], reasoning: str) -> str:
    """What the tightened criteria found: the new must-have, and the years against five."""
    parts = [
        f"no {TIGHTER_SKILL} (now a must-have)"
        if TIGHTER_SKILL in map(str, skills_missing)
        else f"has {TIGHTER_SKILL}"
    ]
    years = _YEARS_RE.search(reasoning or "")
    if years:
        value = float(years.group(1))
        sign = "<" if value < TIGHTER_YEARS else "≥"
        parts.append(f"{value:g} years {sign} {TIGHTER_YEARS} asked")
    return "; ".join(parts)


def _reasoning(item: dict[str, Any]) -> str:
    text = item.get("reasoning") or item.get("ai_reasoning") or ""
    if isinstance(text, dict):
        text = str(text.get("reasoning") or text)
    return str(text)


def render_moves(
    before: dict[str, Any], after: dict[str, Any], left: dict[str, dict[str, Any]]
) -> str:
    """Who moved between two shortlists, by how much, and why."""
    old = {e["application_id"]: e for e in before["entries"]}
    new = {e["application_id"]: e for e in after["entries"]}
    changed = [e["application_id"] for e in before["entries"]] != [
        e["application_id"] for e in after["entries"]
    ]
    lines = [
        f"== What moved (criteria v{before['criteria_version']} → v{after['criteria_version']}; "
        f"changed: {changed}) =="
    ]
    for app, entry in sorted(new.items(), key=lambda item: item[1]["rank"]):
        why = _why(entry["skills_missing"], _reasoning(entry))
        if app in old:
            was = old[app]
            if was["rank"] == entry["rank"] and was["score"] == entry["score"]:
                continue
            move = f"#{was['rank']} → #{entry['rank']}"
            scores = f"{was['score']:.1f} → {entry['score']:.1f}"
        else:
            move, scores = f"new → #{entry['rank']}", f"{entry['score']:.1f}"
        lines.append(f"  {entry['candidate_name'][:26]:<26} {move:<10} {scores:<13} {why}")
    for app, entry in sorted(old.items(), key=lambda item: item[1]["rank"]):
        if app in new:
            continue
        detail = left.get(app, {})
        score = detail.get("score")
        scores = (
            f"{entry['score']:.1f} → {score:.1f}" if score is not None else f"{entry['score']:.1f}"
        )
        why = _why(detail.get("skills_missing", []), _reasoning(detail)) if detail else ""
        move = f"#{entry['rank']} → out"
        lines.append(f"  {entry['candidate_name'][:26]:<26} {move:<10} {scores:<13} {why}")
    if len(lines) == 1:
        lines.append("  (no change)")
    return "\n".join(lines)


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
