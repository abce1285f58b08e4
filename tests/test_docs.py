"""What README.md and the documentation site (docs/) say exists does exist: every flag a documented
``stylesnake`` command gives, every key a documented ``--config`` sets, every file path the text
names. The site itself is built with warnings as errors in CI (``.ci/run``), which checks its
cross-references; these tests check what a reader copies."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from pipeline.cli import build_parser, verbs

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
#: Folders of the checkout a documented path may start with.
TOP = ("pipeline", "benchmarks", "tests", "docs", "profiles", "schemas", "masks", "rules", ".ci", "envs", "report")


def _shell_lines(text: str) -> list[str]:
    """The lines of a page's shell examples (continuation lines joined), and the commands its
    prose quotes inline (`` `stylesnake video --frames 120:240` ``)."""
    blocks = re.findall(r"```(?:sh|bash|console)\n(.*?)```", text, re.S)
    lines = [line.strip() for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    inline = re.findall(r"(?<!`)`((?:\.venv/bin/)?(?:stylesnake|snakemake) [^`]+)`", text)
    return [line for line in lines + inline if line]


def _commands(program: str) -> list[tuple[Path, list[str]]]:
    """Every documented command line that runs ``program``, split as a shell splits it, from the
    program on (so ``.venv/bin/stylesnake`` and ``stylesnake`` both count)."""
    found = []
    for page in PAGES:
        for line in _shell_lines(page.read_text()):
            for part in re.split(r"&&|\|\||;|\|", line):
                try:
                    words = shlex.split(part, comments=True)
                except ValueError:
                    continue
                starts = [i for i, w in enumerate(words) if Path(w).name == program]
                if starts:
                    found.append((page, words[starts[0] :]))
    return found


def test_every_documented_stylesnake_flag_exists_for_its_verb() -> None:
    parsers = verbs(build_parser())
    commands = _commands("stylesnake")
    assert len(commands) > 70, "the examples were not found: did the pages' code fences change?"
    wrong = []
    for page, words in commands:
        if len(words) < 2 or words[1].startswith("-") or words[1].isupper():  # `stylesnake VERB --help`
            continue
        verb = words[1]
        if verb not in parsers:
            wrong.append(f"{page.relative_to(ROOT)}: no verb {verb!r} in {shlex.join(words)}")
            continue
        known = {option for action in parsers[verb]._actions for option in action.option_strings}
        for word in words[2:]:
            flag = word.split("=", 1)[0]
            if flag.startswith("--") and flag not in known:
                wrong.append(f"{page.relative_to(ROOT)}: stylesnake {verb} has no {flag}")
    assert not wrong, "\n".join(wrong)


def test_every_documented_config_key_is_in_the_schema() -> None:
    schema = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())
    keys = set(schema["properties"])
    settings = []
    for page, words in _commands("snakemake"):
        if "--config" not in words:
            continue
        for word in words[words.index("--config") + 1 :]:
            if word.startswith("-"):
                break
            settings.append((page, word.split("=", 1)[0]))
    assert len(settings) > 10
    unknown = [f"{page.relative_to(ROOT)}: {key}" for page, key in settings if key not in keys]
    assert not unknown, unknown


def test_every_file_path_the_docs_name_exists() -> None:
    tops = "|".join(re.escape(top) for top in TOP)
    pattern = re.compile(rf"`((?:{tops})/[^`\s]*)`")
    named = {
        (page, path)
        for page in PAGES
        for path in pattern.findall(page.read_text())
        if not re.search(r"[<>*{}]|_build", path)  # patterns and build outputs, not files
    }
    assert len(named) > 40
    missing = sorted(f"{page.relative_to(ROOT)}: {path}" for page, path in named if not (ROOT / path).exists())
    assert not missing, missing


def test_every_package_and_page_is_where_a_reader_looks() -> None:
    """Each subpackage of ``pipeline`` has its row in the map of the code, and every page of the
    site is linked from README (the guides) or the site's index (the rest)."""
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    packages = sorted(p.parent.name for p in (ROOT / "pipeline").glob("*/__init__.py"))
    assert [p for p in packages if f"`pipeline/{p}/`" not in architecture] == []
    readme, index = (ROOT / "README.md").read_text(), (ROOT / "docs" / "index.md").read_text()
    guides = sorted((ROOT / "docs" / "guides").glob("*.md"))
    assert [g.name for g in guides if f"docs/guides/{g.name}" not in readme] == []
    pages = [p for p in (ROOT / "docs").glob("*.*") if p.suffix in (".md", ".rst") and p.stem != "index"]
    assert [p.name for p in pages if p.stem not in index] == []


@pytest.mark.parametrize("page", [ROOT / "README.md", ROOT / "docs" / "getting-started.md"], ids=lambda p: p.name)
def test_the_two_setup_commands_are_what_ci_runs(page: Path) -> None:
    """README's and the getting-started page's two commands: the first installs and runs the demo,
    the second is, word for word, the test command ``.ci/run`` ends with."""
    block = re.search(r"```sh\n(# 1\..*?)```", page.read_text(), re.S)
    assert block, f"{page.name} lost its two set-up commands"
    lines = [line for line in block.group(1).splitlines() if line and not line.startswith("#")]
    assert len(lines) == 2
    assert "pip install -e '.[test]'" in lines[0] and "snakemake --cores" in lines[0]
    ci = (ROOT / ".ci" / "run").read_text().rstrip().splitlines()
    assert ci[-1] == lines[1]


def test_readme_fits_on_a_few_screens() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
