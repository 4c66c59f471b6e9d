"""The repository stands alone: nothing in it cites the design documents that lived outside it.

The figures the project compares against are restated in its own docs/requirements.md and
called "the original design" everywhere else. This test walks every file git knows about
(tracked, plus new files that are not ignored), text files only, and fails with file:line
for each citation of the outside documents, by name or by their folder, and for each
symlink that points out of the repository. Snapshots are checked like any other file: one
that cites the outside documents is fixed where it is generated, and then updated.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

# The outside documents' names, split so that this file does not cite them itself.
_SPEC = "SP" + "EC"
_DESIGN = "DE" + "SIGN"
_SHARED = ".." + "/shared"
# Their upper-case names as whole words, with or without ".md" ("SPECIFIC", "SPEC_TOTALS",
# "DESIGNER" and Kubernetes' "spec" do not match), and the folder they lived in.
OUTSIDE_REFERENCE = re.compile(rf"\b(?:{_SPEC}|{_DESIGN})(?:\.md)?\b|{re.escape(_SHARED)}(?![\w-])")
# Enough of a line to find it again; a snapshot line can be 2,000 characters.
MAX_SHOWN = 160


def outside_references(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line of ``text`` that cites the outside documents."""
    return [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), 1)
        if OUTSIDE_REFERENCE.search(line)
    ]


def text_of(data: bytes) -> str | None:
    """The file's text, or None for a binary file (a NUL byte, or not UTF-8)."""
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def repository_files() -> list[Path]:
    """Every file git knows about in the work tree: tracked, and new files not ignored."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"not a git work tree, or git is missing: {error}")
    names = sorted({name for name in listed.decode().split("\0") if name})
    # A tracked file deleted in the work tree is not there to read.
    return [ROOT / name for name in names if os.path.lexists(ROOT / name)]


def problems_in(path: Path, root: Path = ROOT) -> list[str]:
    """``file:line: text`` for each citation in a text file; a symlink out of ``root``."""
    relative = path.relative_to(root)
    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(root.resolve()):
            return [f"{relative}: a symlink to {os.readlink(path)}, outside the repository"]
        return []
    if not path.is_file():
        return []
    text = text_of(path.read_bytes())
    if text is None:
        return []
    return [f"{relative}:{number}: {line[:MAX_SHOWN]}" for number, line in outside_references(text)]


def test_no_file_cites_documents_outside_the_repository() -> None:
    files = repository_files()
    assert len(files) > 100, "git listed too few files: is ROOT the repository?"
    found = [problem for path in files for problem in problems_in(path)]
    assert not found, (
        f"{len(found)} line(s) cite documents outside the repository; say 'the original "
        "design' and, in docs, link docs/requirements.md:\n" + "\n".join(found)
    )


# --- the matcher itself ------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        f"numbers as {_SPEC} lists them",
        f"the {_SPEC}'s targets",
        f"# {_SPEC}: memory (MB) and timeout (s) per function.",
        f"see {_SPEC}.md, section Network",
        f"as {_DESIGN}.md's layout says",
        f"(render without aws_cdk ({_DESIGN}: no CDK import)",
        f'Capacity is a test ({_DESIGN}, "Deploy day")',
        f"restated from {_SHARED}/{_SPEC}.md",
        f"the documents in {_SHARED}",
        f'"description": "latency against the {_SPEC} targets (p95 < 500 ms)"',
        f"| {_SPEC} before → after | 418 → 249 |",
    ],
)
def test_the_matcher_finds_a_citation(line: str) -> None:
    assert outside_references(line) == [(1, line)]


@pytest.mark.parametrize(
    "line",
    [
        "the original design's numbers (docs/requirements.md)",
        f"{_SPEC}IFIC and IN{_SPEC}T are other words",
        f"{_SPEC}_DEV_BEFORE = {{}}  # an identifier, not a citation",
        f"the {_DESIGN}ER of the {_DESIGN}S",
        "spec:\n  replicas: 2",
        'pod = obj["spec"]["template"]["spec"]',
        "design.md and spec.md in lower case are not the outside documents' names",
        f"{_SHARED}-config and {_SHARED}files are other folders",
        "podSpec, PodSpec, specs, inspect",
    ],
)
def test_the_matcher_leaves_other_words_alone(line: str) -> None:
    assert outside_references(line) == []


def test_the_matcher_reports_the_line_numbers() -> None:
    text = f"first\nsecond cites {_SPEC}\nthird\n  fourth cites {_DESIGN}.md  \n"
    assert outside_references(text) == [
        (2, f"second cites {_SPEC}"),
        (4, f"fourth cites {_DESIGN}.md"),
    ]


def test_binary_files_are_skipped_and_text_files_read() -> None:
    assert text_of(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + _SPEC.encode()) is None
    assert text_of(b"\xff\xfe not UTF-8") is None
    assert text_of(f"cites {_SPEC}".encode()) == f"cites {_SPEC}"


def test_a_file_that_cites_them_is_reported(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text(f"fine\nsee {_SHARED}/{_DESIGN}.md\n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\0" + _SPEC.encode())
    (tmp_path / "outside").symlink_to(tmp_path.parent)
    assert problems_in(tmp_path / "notes.md", tmp_path) == [
        f"notes.md:2: see {_SHARED}/{_DESIGN}.md"
    ]
    assert problems_in(tmp_path / "image.png", tmp_path) == []
    assert problems_in(tmp_path / "outside", tmp_path) == [
        f"outside: a symlink to {tmp_path.parent}, outside the repository"
    ]
