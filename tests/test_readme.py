"""The README's checks section is generated from the checks' own documentation."""

from pathlib import Path

from convlint import rules

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_rules_section_matches_the_checks():
    text = README.read_text(encoding="utf-8")
    section = text.split("<!-- rules:start -->\n", 1)[1].split("<!-- rules:end -->", 1)[0]
    assert section == rules.markdown(), "regenerate it with `convlint rules --markdown`"
