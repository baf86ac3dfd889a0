"""The README stays true: it lists every model and CI runs its test command."""

from __future__ import annotations

import re
from pathlib import Path

import zoo

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_lists_every_registered_model():
    listed = set(re.findall(r"^\| `([a-z0-9_]+)` \|", README, flags=re.M))
    assert set(zoo.list_models()) <= listed


def test_readme_lists_every_registered_dataset():
    for name in zoo.data.list_datasets():
        assert f"`{name}`" in README, name


def test_ci_runs_the_readme_test_command():
    quick = README.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.strip().splitlines()]
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci
