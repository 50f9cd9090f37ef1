"""The `convlint` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from .errors import ConfigError

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command != "lsp":  # the server speaks bytes on stdout
        from .console import install

        install(sys.stdout)
        install(sys.stderr)
    try:
        extra_paths(getattr(args, "extra_path", None))
        if args.explain:
            return explain(args.explain)
        if args.command == "check":
            return check(args)
        if args.command == "verify":
            return verify(args)
        if args.command == "summary":
            return summary(args)
        if args.command == "rules":
            return list_rules(args.markdown)
        if args.command == "lsp":
            return lsp()
        parser.print_help()
        return EXIT_ERROR
    except (UsageError, ConfigError) as error:
        print(f"convlint: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `convlint ... | head`: the reader has gone, and so do we
        sys.stderr.close()
        return EXIT_CLEAN


def run() -> None:
    """The command's process: `main`, then an exit that does not free every object one by one (as
    mypy's does): the process ends anyway, and that teardown cost a one-file check a fifth of its
    time. Everything convlint writes is flushed or closed by then."""
    status = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader gone (`| head`), a stream closed
            pass
    os._exit(status)


EXTRA_PATH_HELP = ("a folder searched for imported packages' source (torchvision, timm...) before the installed "
                   "ones; repeatable (also [tool.convlint] extra-paths)")


def extra_paths(folders: list[str] | None) -> None:
    """`--extra-path`: where imported packages are read from before the configuration's folders."""
    from . import imports

    for folder in folders or ():
        if not Path(folder).is_dir():
            raise UsageError(f"--extra-path {folder}: no such folder")
        imports.EXTRA_PATHS.append(Path(folder).resolve())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convlint", description="Static architecture linter for PyTorch CNNs.")
    parser.add_argument("--version", action="version", version=f"convlint {__version__}")
    parser.add_argument("--explain", metavar="CODE", help="show the documentation of a check (code or name)")
    commands = parser.add_subparsers(dest="command", prog=parser.prog)  # a prog spares argparse a formatter (and shutil)
    check = commands.add_parser("check", help="lint files and directories")
    check.add_argument("paths", nargs="*", default=["."], metavar="PATH", help="files and folders (default: .); - for standard input")
    check.add_argument("--select", help="comma-separated codes or names to run (default: the error and warning checks)")
    check.add_argument("--ignore", help="comma-separated codes or names to skip")
    check.add_argument("--extend-select", help="comma-separated codes or names to run on top of the selection")
    check.add_argument("--format", "--output-format", dest="format", choices=("text", "json", "sarif", "github"), default="text", help="output format")
    check.add_argument("--stdin-filename", metavar="PATH", help="with `-` (standard input): the path it stands for, for messages and configuration")
    check.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings (2 still means an error)")
    check.add_argument("--statistics", action="store_true", help="print how many findings of each check, instead of the findings")
    check.add_argument("--quiet", "-q", action="store_true", help="print the findings only: no summary line, no notes")
    check.add_argument("--output-file", metavar="PATH", help="write the report to PATH instead of the standard output")
    check.add_argument("--fail-on", choices=("error", "warning", "info"), help="lowest severity that makes the exit status 1 (default: warning)")
    check.add_argument("--show-suppressed", action="store_true", help="also list the findings suppressed by inline comments")
    check.add_argument("--config", metavar="PATH", help="use this convlint.toml or pyproject.toml for every file")
    check.add_argument("--isolated", action="store_true", help="ignore every configuration file")
    check.add_argument("--input", help="input size CxHxW (no batch) for every model, e.g. 3x224x224")
    check.add_argument("--extra-path", action="append", metavar="DIR", help=EXTRA_PATH_HELP)
    check.add_argument("--jobs", "-j", type=int, metavar="N", help="files analysed in N processes (default: the machine's cores)")
    check.add_argument("--cache-dir", metavar="PATH", help="findings cache folder (default: .convlint_cache beside pyproject.toml)")
    check.add_argument("--no-cache", action="store_true", help="neither read nor write the findings cache")
    check.add_argument("--fix", action="store_true", help="apply the safe fixes to the files, then report what remains")
    check.add_argument("--diff", action="store_true", help="print the fixes as a unified diff, write nothing (exit 1 if any)")
    check.add_argument("--verify", action="store_true", help="also run the models under torch (executes the files; needs convlint[torch])")
    check.add_argument("--verify-timeout", type=float, default=60.0, metavar="S", help="seconds --verify gives each file's import and each model (default: 60)")
    verify_cmd = commands.add_parser("verify", help="run the models under torch and compare with the static shapes (executes the files)")
    verify_cmd.add_argument("paths", nargs="+", metavar="PATH")
    verify_cmd.add_argument("--verify-timeout", type=float, default=60.0, metavar="S", help="seconds each file's import and each model may take (default: 60)")
    verify_cmd.add_argument("--input", metavar="CxHxW", help="input size (no batch) for every model, e.g. 3x224x224")
    verify_cmd.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    summary = commands.add_parser("summary", help="show each model: shapes, parameters, receptive field, memory")
    summary.add_argument("paths", nargs="+", metavar="PATH")
    summary.add_argument("--model", metavar="NAME", help="only the model with this name, or a call that builds it: "
                         "'ResNet(BasicBlock, [2, 2, 2, 2], num_classes=10)' (literals and names of the file)")
    summary.add_argument("--input", metavar="CxHxW", help="input size (no batch), e.g. 3x224x224")
    summary.add_argument("--extra-path", action="append", metavar="DIR", help=EXTRA_PATH_HELP)
    summary.add_argument("--depth", type=int, metavar="N", help="fold the rows below module depth N into their module, with its totals")
    summary.add_argument("--format", choices=("text", "json", "markdown"), default="text", help="output format")
    summary.add_argument("--fail-on", choices=("error", "warning", "info"), help="exit 1 when a summarised model has a finding of this severity or above")
    summary.add_argument("--no-advice", action="store_true", help="leave out the findings and design advice")
    rules_cmd = commands.add_parser("rules", help="list every check")
    rules_cmd.add_argument("--markdown", action="store_true", help="print the documentation of every check as Markdown")
    commands.add_parser("lsp", help="run the language server over stdio (needs convlint[lsp])")
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


def settings_from(args):
    """The command-line options over the configuration files (see convlint.config)."""
    from .config import Options, Resolver, Settings

    if getattr(args, "config", None) and getattr(args, "isolated", False):
        raise UsageError("--config cannot be used with --isolated")
    explicit = ",".join(k for k in (args.select or "").split(",") if k.strip().upper() != "ALL")
    options = Options(
        select=frozenset(_rule_names(args.select)) if args.select else None,
        explicit_select=frozenset(_rule_names(explicit)),
        extend_select=frozenset(_rule_names(getattr(args, "extend_select", None))),
        ignore=frozenset(_rule_names(args.ignore)),
        fail_on=getattr(args, "fail_on", None),
    )
    return Settings(options, Resolver(getattr(args, "config", None), getattr(args, "isolated", False)))


def write_report(args, findings, files: int) -> None:
    from . import report
    from .console import wants_colour

    target = getattr(args, "output_file", None)
    write = report.FORMATS[args.format]
    if getattr(args, "statistics", False):
        write = report.json_statistics if args.format == "json" else report.statistics

    def emit(out) -> None:
        options = {}
        if write in (report.text, report.statistics):
            options["quiet"] = getattr(args, "quiet", False)
        if write is report.text:
            options["colour"] = out is sys.stdout and wants_colour(out)  # a terminal, never a file
        write(findings, files, out, **options)

    if not target:
        emit(sys.stdout)
        return
    try:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        with open(target, "w", encoding="utf-8", newline="\n") as out:
            emit(out)
    except OSError as error:
        raise UsageError(f"cannot write --output-file {target}: {error.strerror or error}") from None


def input_option(text: str | None) -> tuple[int, ...] | None:
    """`--input 3x224x224` as a shape; a usage error when it is not one."""
    if not text:
        return None
    from .syntax import parse_input_size

    shape = parse_input_size(text)
    if shape is None:
        raise UsageError(f"--input {text!r} is not a size like 3x224x224")
    return shape


def check(args) -> int:
    from .runner import lint_paths

    input_shape = input_option(args.input)
    select = selected_rules(args.select, args.ignore)
    settings = settings_from(args)
    if getattr(args, "statistics", False) and args.format not in ("text", "json"):
        raise UsageError("--statistics prints text or json, not --format " + args.format)
    stdin = _stdin(args)
    missing = [p for p in args.paths if not Path(p).exists() and not Path(p).is_symlink()]  # a loop is read, and said
    if missing and stdin is None:
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    quiet = getattr(args, "quiet", False)
    if getattr(args, "fix", False) or getattr(args, "diff", False):
        from .fix import fix_paths, fix_stdin

        if stdin is not None:
            return _exit(args, fix_stdin(stdin, settings, input_shape, args, sys.stdout, sys.stderr))
        changed = fix_paths(
            args.paths, select, input_shape, write=not args.diff, out=sys.stdout, err=None if quiet else sys.stderr,
            settings=settings,
        )
        if args.diff:
            return _exit(args, EXIT_FINDINGS if changed else EXIT_CLEAN)
    jobs = getattr(args, "jobs", None)
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    cache_dir = getattr(args, "cache_dir", None)  # an explicit --cache-dir wins over CONVLINT_NO_CACHE
    if getattr(args, "no_cache", False):
        cache_dir = None
    elif cache_dir is None and not os.environ.get("CONVLINT_NO_CACHE"):
        from .cache import default_dir

        cache_dir = default_dir()
    child = _verify_child(args.verify_timeout) if getattr(args, "verify", False) else None
    try:  # torch imports in the child while the static pass runs
        result = lint_paths(args.paths, select, input_shape, settings=settings, jobs=jobs, cache_dir=cache_dir,
                            stdin=stdin)
    except BaseException:
        if child is not None:
            child.kill()
        raise
    shown = result.findings
    if getattr(args, "show_suppressed", False) and result.suppressed:
        shown = sorted(result.findings + result.suppressed, key=lambda f: f.sort_key())
    if child is not None:
        from .verify import merge

        verified = _verify_pass(args.paths, input_shape, args.verify_timeout, settings.resolver, quiet, child)
        before = len(result.findings)
        result.findings = merge(result.findings, verified)
        result.failing += len(result.findings) - before  # the verify findings are all errors
        shown = merge(shown, verified)
        for line in [] if quiet else verified.skipped + verified.notes:
            print(line, file=sys.stderr)
    write_report(args, shown, result.files)
    if any(f.name == "internal-error" for f in result.findings):
        return EXIT_ERROR
    return _exit(args, EXIT_FINDINGS if result.failing else EXIT_CLEAN)


def summary(args) -> int:
    """Exit 0 when the models are printed, 1 with --fail-on and a finding at or above it, 2 for a usage
    error: a path that does not exist, no model found, or a --model that matches none."""
    import json

    from .config import Resolver, severity_rank
    from .files import discover
    from .summary import NoModel, fold, model_call, render_markdown, render_text, summarize_source, to_json

    shape = input_option(args.input)
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    if args.depth is not None and args.depth < 1:
        raise UsageError(f"--depth must be at least 1, not {args.depth}")
    if args.model is not None:
        try:
            model_call(args.model)
        except ValueError as error:
            raise UsageError(str(error)) from None
    resolver = Resolver()
    summaries, names = [], []
    for path in discover(args.paths):
        try:
            source = Path(path).read_bytes()
        except OSError as error:
            print(f"convlint: cannot read {path}: {error.strerror or error}", file=sys.stderr)
            continue
        if b"torch" not in source:
            continue
        try:
            if str(path).endswith(".ipynb"):
                from .notebooks import summaries as notebook_summaries

                summaries += notebook_summaries(source, str(path), shape, args.model, not args.no_advice or bool(args.fail_on))
                continue
            factories = resolver.config_for(path).factories_for(path)
            summaries += summarize_source(source, str(path), shape, args.model, advice=not args.no_advice or bool(args.fail_on),
                                          factories=factories)
        except NoModel as none:
            names += none.found
        except ValueError as error:
            print(f"convlint: {error}", file=sys.stderr)
    where = ", ".join(args.paths)
    if args.model is not None and not summaries:
        found = f"; the models found: {', '.join(dict.fromkeys(names))}" if names else "; no models found there"
        raise UsageError(f"no model named {args.model!r} in {where}{found}")
    if not summaries:
        raise UsageError(f"no models found in {where}")
    if args.depth is not None:
        summaries = [fold(s, args.depth) for s in summaries]
    failing = False
    if args.fail_on:
        failing = any(severity_rank(f.severity) >= severity_rank(args.fail_on) for s in summaries for f in s.findings)
    if args.no_advice:
        for s in summaries:
            s.findings = []
    if args.format == "json":
        json.dump(to_json(summaries), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    elif args.format == "markdown":
        sys.stdout.write(render_markdown(summaries))
    else:
        colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        sys.stdout.write(render_text(summaries, colour))
    return EXIT_FINDINGS if failing else EXIT_CLEAN


def _exit(args, status: int) -> int:
    """--exit-zero turns "findings" into success; an error stays an error."""
    return EXIT_CLEAN if status == EXIT_FINDINGS and getattr(args, "exit_zero", False) else status


def _stdin(args) -> tuple[str, bytes] | None:
    """(the path standard input stands for, its bytes) for `check -`, else None."""
    reading = args.paths == ["-"] or (args.stdin_filename and args.paths == ["."])
    if "-" in args.paths and not reading:
        raise UsageError("- (standard input) cannot be mixed with other paths")
    if not reading:
        if args.stdin_filename:
            raise UsageError("--stdin-filename is for `convlint check -` (standard input), not for paths")
        return None
    if getattr(args, "verify", False):
        raise UsageError("--verify runs files, not standard input")
    return args.stdin_filename or "-", sys.stdin.buffer.read()


def _verify_child(timeout: float):
    """The child process of the verify pass, started at once: it imports torch meanwhile."""
    from .verify import start_child

    if timeout <= 0:
        raise UsageError(f"--verify-timeout must be positive, not {timeout:g}")
    return start_child()


def _verify_pass(paths, input_shape, timeout: float, resolver=None, quiet: bool = False, child=None):
    from .verify import VerifyError, verify_paths

    child = child or _verify_child(timeout)
    try:
        return verify_paths(paths, input_shape, timeout, resolver, progress=None if quiet else sys.stderr, child=child)
    except VerifyError as error:
        raise UsageError(str(error)) from None


def verify(args) -> int:
    import json

    input_shape = input_option(args.input)
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    verified = _verify_pass(args.paths, input_shape, args.verify_timeout)
    if args.format == "json":
        json.dump({"findings": [f.to_dict() for f in verified.findings], "skipped": verified.skipped,
                   "notes": verified.notes}, sys.stdout, indent=2)
        print()
    else:
        for f in verified.findings:
            print(f"{f.path}:{f.line}:{f.column}: {f.code} [{f.name}] {f.message}")
        for line in verified.skipped + verified.notes:
            print(line)
    return EXIT_FINDINGS if verified.findings else EXIT_CLEAN


def explain(key: str) -> int:
    from . import rules

    rule = rules.lookup(key)
    if rule is None:
        raise UsageError(f"unknown check {key!r} (see `convlint rules`)")
    print(f"{rule.code} {rule.name} ({rule.severity})\n\n{rule.doc.strip()}")
    return EXIT_CLEAN


def lsp() -> int:
    try:
        import pygls  # noqa: F401 - only to say how to get it
    except ImportError:
        print("convlint: the language server needs pygls: pip install 'convlint[lsp]'", file=sys.stderr)
        return EXIT_ERROR
    from .lsp import serve

    serve()
    return EXIT_CLEAN


def list_rules(markdown: bool = False) -> int:
    from . import rules

    if markdown:
        print(rules.markdown(), end="")
        return EXIT_CLEAN
    width = max(len(rule.name) for rule in rules.RULES)
    for rule in rules.RULES:
        print(f"{rule.code}  {rule.name:<{width}}  {rule.severity:<8} {rule.summary}")
    return EXIT_CLEAN


if __name__ == "__main__":
    run()
