"""README's configuration table lists every setting, as the settings model defines it."""

from __future__ import annotations

from pathlib import Path

from ops.settings_table import BEGIN, END, render

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_table_is_current() -> None:
    text = README.read_text()
    table = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert table == render(), "run: .venv/bin/python -m ops.settings_table"
