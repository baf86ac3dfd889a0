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


def test_readme_synopsis_names_every_cli_flag():
    """The README's command-line synopsis is complete: every option of every command."""
    from zoo.cli import build_parser

    synopsis = README.split("## Command line", 1)[1].split("- Callbacks", 1)[0]
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for command, parser in sub.choices.items():
        assert f"zoo {command}" in synopsis, command
        for action in parser._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert flag in synopsis, f"zoo {command} {flag}"


def test_repository_stands_alone():
    """No file points a reader outside the repository."""
    outside = ("../shared", "FACTS.md", "DESIGN.md")
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if path.suffix not in (".py", ".md", ".toml", ".sh") or any(
            p.startswith(".") or p.endswith(".egg-info") for p in parts[:-1]
        ):
            continue
        if path.name == "test_docs.py":
            continue
        text = path.read_text(errors="replace")
        for word in outside:
            assert word not in text, f"{path.relative_to(ROOT)} mentions {word}"
