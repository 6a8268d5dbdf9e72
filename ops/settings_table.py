"""Renders the configuration table of README.md from the settings model itself."""

from __future__ import annotations

from pydantic import SecretStr

from core.settings import Settings

BEGIN = "<!-- settings-table:begin -->"
END = "<!-- settings-table:end -->"


def render() -> str:
    """A markdown table: environment variable, default, meaning."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, SecretStr):
            shown = "(dev value; set in production)"
        elif name == "home":
            shown = "`<checkout>/.pvara`"
        elif default in ("", None):
            shown = "(empty)"
        elif isinstance(default, dict | list):
            shown = "see `core/settings.py`"
        else:
            shown = f"`{default}`"
        lines.append(f"| `PVARA_{name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join(lines)


def update_readme(text: str) -> str:
    """Replace the table between the markers in ``text``."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{render()}\n{END}{tail}"


if __name__ == "__main__":
    from pathlib import Path

    readme = Path(__file__).resolve().parent.parent / "README.md"
    readme.write_text(update_readme(readme.read_text()))
