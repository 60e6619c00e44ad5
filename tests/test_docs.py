"""The README is the front door into docs/: every link in it must lead somewhere.

mkdocs checks the links between the pages of docs/ (`mkdocs build --strict` in
scripts/test.sh); the README is outside the site, so its links are checked here: each
relative link names a file of the repository, and an `#anchor` into a Markdown page names
one of its headings (as GitHub makes anchors from headings).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text("utf-8"))
    return {anchor(h) for h in HEADING.findall(text)}


def broken_links(markdown: Path) -> list[str]:
    problems = []
    for target in LINK.findall(FENCE.sub("", markdown.read_text("utf-8"))):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, fragment = target.partition("#")
        file = (markdown.parent / path).resolve() if path else markdown
        if not file.exists():
            problems.append(f"{target}: no such file")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            problems.append(f"{target}: no heading with the anchor #{fragment}")
    return problems


def test_every_link_in_the_readme_leads_somewhere() -> None:
    assert broken_links(ROOT / "README.md") == []


def test_the_check_sees_a_broken_file_and_a_broken_anchor(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n## Some section: here\n", "utf-8")
    readme = tmp_path / "README.md"
    readme.write_text("[a](page.md#some-section-here) [b](page.md#nope) [c](gone.md)\n"
                      "```\n[d](inside-a-fence.md)\n```\n", "utf-8")
    problems = [p.split(":")[0] for p in broken_links(readme)]
    assert problems == ["page.md#nope", "gone.md"]


def test_every_page_of_docs_is_in_the_site_navigation() -> None:
    """mkdocs warns of a page left out of `nav` (an error under --strict); this says which."""
    nav = (ROOT / "mkdocs.yml").read_text("utf-8")
    listed = set(re.findall(r":\s*([\w\-/]+\.md)\s*$", nav, re.MULTILINE))
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert pages - listed == set()
    assert yaml.safe_load(nav)["docs_dir"] == "docs"
