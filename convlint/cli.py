"""The `convlint` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.explain:
            return explain(args.explain)
        if args.command == "check":
            return check(args)
        if args.command == "rules":
            return list_rules()
        parser.print_help()
        return EXIT_ERROR
    except UsageError as error:
        print(f"convlint: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `convlint ... | head`: the reader has gone, and so do we
        sys.stderr.close()
        return EXIT_CLEAN


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convlint", description="Static architecture linter for PyTorch CNNs.")
    parser.add_argument("--version", action="version", version=f"convlint {__version__}")
    parser.add_argument("--explain", metavar="CODE", help="show the documentation of a check (code or name)")
    commands = parser.add_subparsers(dest="command")
    check = commands.add_parser("check", help="lint files and directories")
    check.add_argument("paths", nargs="*", default=["."], metavar="PATH")
    check.add_argument("--select", help="comma-separated codes or names to run (default: the error and warning checks)")
    check.add_argument("--ignore", help="comma-separated codes or names to skip")
    check.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    check.add_argument("--input", help="input size CxHxW (no batch) for every model, e.g. 3x224x224")
    commands.add_parser("rules", help="list every check")
    return parser


def _rule_names(spec: str | None) -> set[str]:
    from . import rules

    names = set()
    for key in filter(None, (k.strip() for k in (spec or "").split(","))):
        if key.upper() == "ALL":
            names.update(r.name for r in rules.RULES)
            continue
        rule = rules.lookup(key)
        if rule is None:
            raise UsageError(f"unknown check {key!r} (see `convlint rules`)")
        names.add(rule.name)
    return names


def selected_rules(select: str | None, ignore: str | None) -> set[str]:
    from . import rules

    chosen = _rule_names(select) if select else {r.name for r in rules.RULES if r.severity != "info"}
    chosen |= {r.name for r in rules.FILE_RULES}  # a file we cannot read is always worth saying
    return chosen - _rule_names(ignore)


def check(args) -> int:
    from . import report
    from .extract import parse_input_size
    from .runner import lint_paths

    input_shape = None
    if args.input:
        input_shape = parse_input_size(args.input)
        if input_shape is None:
            raise UsageError(f"--input {args.input!r} is not a size like 3x224x224")
    select = selected_rules(args.select, args.ignore)
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    result = lint_paths(args.paths, select, input_shape)
    report.FORMATS[args.format](result.findings, result.files, sys.stdout)
    if any(f.name == "internal-error" for f in result.findings):
        return EXIT_ERROR
    return EXIT_FINDINGS if result.findings else EXIT_CLEAN


def explain(key: str) -> int:
    from . import rules

    rule = rules.lookup(key)
    if rule is None:
        raise UsageError(f"unknown check {key!r} (see `convlint rules`)")
    print(f"{rule.code} {rule.name} ({rule.severity})\n\n{rule.doc.strip()}")
    return EXIT_CLEAN


def list_rules() -> int:
    from . import rules

    for rule in rules.RULES:
        print(f"{rule.code}  {rule.name:<22} {rule.severity:<8} {rule.summary}")
    return EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
