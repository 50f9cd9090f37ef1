"""The README's checks section is generated from the checks' own documentation."""

from pathlib import Path

from convlint import rules

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_rules_section_matches_the_checks():
    text = README.read_text(encoding="utf-8")
    section = text.split("<!-- rules:start -->\n", 1)[1].split("<!-- rules:end -->", 1)[0]
    assert section == rules.markdown(), "regenerate it with `convlint rules --markdown`"


def test_readme_first_screen_examples_are_what_the_commands_print():
    import os
    import shlex
    import subprocess
    import sys

    text = README.read_text(encoding="utf-8")
    intro = text.split("## Try it", 1)[0]
    blocks = [block.split("```", 1)[0] for block in intro.split("```text\n")[1:]]
    examples = []
    for block in blocks:
        for chunk in block.split("$ ")[1:]:
            command, *expected = chunk.rstrip("\n").split("\n")
            examples.append((shlex.split(command), expected))
    assert [args[:2] for args, _ in examples] == [["convlint", "check"], ["convlint", "check"], ["flake8", "--select"]]
    environment = {**os.environ, "CONVLINT_NO_CACHE": "1", "NO_COLOR": "1"}
    for args, expected in examples:
        done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=README.parent,
                              env=environment)
        shown = done.stdout.splitlines()
        if expected[-1] == "...":  # the first lines only
            expected = expected[:-1]
            shown = shown[: len(expected)]
        assert shown == expected, (args, done.stderr)
