"""The pictures the README and the guides in docs/ show are the ones `make screenshots` takes
(the browser walks write them into docs/screenshots/): none missing, none left over."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "docs" / "screenshots"
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PICTURE = re.compile(r"!\[[^\]]*\]\(([^)\s]+\.png)\)")


def shown() -> dict[Path, list[str]]:
    """Each picture a document shows, with the documents showing it."""
    pictures: dict[Path, list[str]] = {}
    for document in DOCUMENTS:
        for target in PICTURE.findall(document.read_text(encoding="utf-8")):
            picture = (document.parent / target).resolve()
            pictures.setdefault(picture, []).append(document.name)
    return pictures


def test_every_picture_a_document_shows_is_in_docs_screenshots() -> None:
    missing = {
        picture.name: documents
        for picture, documents in shown().items()
        if picture.parent != SCREENSHOTS or not picture.exists()
    }
    assert missing == {}, "take them with `make screenshots`, or fix the name"


def test_every_picture_in_docs_screenshots_is_shown_somewhere() -> None:
    unused = sorted(p.name for p in SCREENSHOTS.glob("*.png") if p.resolve() not in shown())
    assert unused == [], "show them in README.md or docs/, or delete them"


def test_the_readme_sends_account_managers_to_their_guide_before_the_operators_sections() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    assert "(docs/account-managers.md)" in readme.split("\n## Configuration")[0]
    assert readme.index("make demo") < readme.index("docs/account-managers.md")
