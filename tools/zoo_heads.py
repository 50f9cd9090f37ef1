"""Backbones of the real zoos with new heads: fixtures/zoo/real/heads.py linted and summarised
with the sources of tools/corpus.py's pinned torchvision and timm wheels on --extra-path.

    python tools/zoo_heads.py

Prints each expected finding and model total beside what convlint said, and the wall time of the
one-file `check` (as a pre-commit hook runs it); exits 1 when something differs. The expected
numbers were checked once with torch 2.13 on the same sources (torchvision's compiled-op meta
registrations shimmed as in tools/verify_torchvision.py): sum(p.numel()), the output's shape, and
the forward-hook MACs of Conv*/Linear.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import corpus  # noqa: E402

HEADS = "fixtures/zoo/real/heads.py"
FINDINGS = {  # line -> the start of the message
    15: "CL001 [channel-mismatch] Linear expects 2048 input features but receives 512",
    40: "CL001 [channel-mismatch] Linear expects 512 input features but receives 2048",
}
TOTALS = {  # model -> (parameters, output shape, MACs), as torch counts them
    "ResNetHead": (11197002, [10], 1813581824),
    "mobilenet_head": (2236682, [10], 299507072),
    "efficientnet_grayscale": (4012096, [4], 377314528),
    "TimmHead": (23513162, [10], 4087141376),
    "timm_mobilenet": (1525031, [7], 55493568),
}


def main() -> int:
    paths = []
    for name in ("torchvision", "timm"):
        corpus.prepare_package(name, corpus.PACKAGES[name])
        paths += ["--extra-path", str(corpus.CACHE / "src" / f"{name}-{corpus.PACKAGES[name]}")]
    env = {**os.environ, "CONVLINT_NO_CACHE": "1", "NO_COLOR": "1"}
    convlint = [sys.executable, "-m", "convlint"]
    subprocess.run([*convlint, "check", HEADS, *paths], capture_output=True, cwd=ROOT, env=env)  # warm the disk cache
    start = time.perf_counter()
    check = subprocess.run([*convlint, "check", "--format", "json", HEADS, *paths], capture_output=True, text=True,
                           cwd=ROOT, env=env)
    seconds = time.perf_counter() - start
    summary = subprocess.run([*convlint, "summary", "--format", "json", "--no-advice", HEADS, *paths],
                             capture_output=True, text=True, cwd=ROOT, env=env)
    found = {f["line"]: f"{f['code']} [{f['name']}] {f['message']}" for f in json.loads(check.stdout or "[]")}
    models = {m["name"]: (m["params"], m["output_shape"], m["macs"]) for m in json.loads(summary.stdout or "[]")}
    ok = True
    print(f"{HEADS} with torchvision {corpus.PACKAGES['torchvision']} and timm {corpus.PACKAGES['timm']}")
    print(f"check: {seconds:.2f} s (one process, no cache)")
    for line, expected in FINDINGS.items():
        got = found.get(line, "nothing")
        good = got.startswith(expected)
        ok &= good
        print(f"  line {line}: {'ok  ' if good else 'MISS'} {got}")
    for line in sorted(set(found) - set(FINDINGS)):
        ok = False
        print(f"  line {line}: EXTRA {found[line]}")
    for name, expected in TOTALS.items():
        got = models.get(name)
        good = got == expected
        ok &= good
        print(f"  {name}: {'ok  ' if good else 'DIFF'} params, output, MACs {got} (torch: {expected})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
