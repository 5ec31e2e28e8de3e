"""Every variable the settings read is listed in .env.example and in the README's table."""

from __future__ import annotations

import re
from pathlib import Path

from governance.env import REGISTRY

ROOT = Path(__file__).resolve().parents[1]


def _example_names() -> set[str]:
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.add(match.group(1))
    return names


def test_env_example_lists_exactly_the_variables_the_settings_read():
    assert _example_names() == set(REGISTRY)


def test_readme_configuration_table_documents_every_variable():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in REGISTRY if f"`{name}`" not in readme]
    assert missing == []
