"""Renders the role × operation table of docs/security.md from the app's OpenAPI document and
the access policy (:mod:`api.policy`)."""

from __future__ import annotations

from pathlib import Path

from api.policy import render_table

BEGIN = "<!-- roles-table:begin -->"
END = "<!-- roles-table:end -->"
DOC = Path(__file__).resolve().parent.parent / "docs" / "security.md"


def render() -> str:
    """The table of every operation ``pvara api`` serves."""
    from ops.web import create_ops_app

    return render_table(create_ops_app().openapi_schema.to_schema())


def update(text: str) -> str:
    """Replace the table between the markers in ``text``."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{render()}{END}{tail}"


if __name__ == "__main__":
    DOC.write_text(update(DOC.read_text()))
