"""`convlint check --verify` on torchvision's classifiers, from the corpus's source (issue 17).

    python tools/corpus.py --fetch-only && python tools/verify_torchvision.py

The model files are imported as modules of the `torchvision` package (relative imports and all).
Two things stand between torchvision's source and this machine's torch, and neither is
convlint's to fix, so this script (never convlint) deals with them: its `__init__` registers meta
kernels for its compiled operators, which a source tree does not have (a `sitecustomize` in a
temporary folder puts an empty module in place of `torchvision._meta_registrations`), and its
`datasets` import numpy and Pillow (install them beside torch to run this). Prints, per
classifier, verify's note, and the counts of `verify-mismatch` and `runtime-error` findings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / ".corpus" / "src" / "torchvision-0.29.1" / "torchvision" / "models"
CLASSIFIERS = {  # file -> the builders of the summary issue's 16 classifiers
    "alexnet.py": ["alexnet"], "vgg.py": ["vgg11", "vgg16"], "resnet.py": ["resnet18", "resnet50"],
    "densenet.py": ["densenet121"], "squeezenet.py": ["squeezenet1_0"], "googlenet.py": ["googlenet"],
    "mobilenetv2.py": ["mobilenet_v2"], "mobilenetv3.py": ["mobilenet_v3_small"],
    "shufflenetv2.py": ["shufflenet_v2_x1_0"], "mnasnet.py": ["mnasnet1_0"], "efficientnet.py": ["efficientnet_b0"],
    "regnet.py": ["regnet_y_400mf"], "convnext.py": ["convnext_tiny"], "inception.py": ["inception_v3"],
}
SHIM = (
    "import sys, types\n"
    "sys.modules['torchvision._meta_registrations'] = types.ModuleType('torchvision._meta_registrations')\n"
)


def main() -> int:
    if not MODELS.is_dir():
        print("no corpus: run `python tools/corpus.py --fetch-only` first", file=sys.stderr)
        return 2
    missing = [name for name in ("numpy", "PIL") if subprocess.run(
        [sys.executable, "-c", f"import {name}"], capture_output=True, check=False).returncode]
    if missing:
        print(f"torchvision's package imports {', '.join(missing)}: pip install numpy pillow", file=sys.stderr)
        return 2
    codes: Counter = Counter()
    with tempfile.TemporaryDirectory() as shim:
        Path(shim, "sitecustomize.py").write_text(SHIM, encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [shim, os.environ.get("PYTHONPATH")])),
                   CONVLINT_NO_CACHE="1")
        for size, files in (("3x224x224", [f for f in CLASSIFIERS if f != "inception.py"]), ("3x299x299", ["inception.py"])):
            done = subprocess.run(
                [sys.executable, "-m", "convlint", "check", "--verify", "--format", "json", "--input", size,
                 *(str(MODELS / f) for f in files)],
                capture_output=True, text=True, env=env, check=False, cwd=ROOT,
            )
            found = json.loads(done.stdout or "[]")
            codes.update(f["name"] for f in found if f["code"] in ("CL801", "CL802"))
            for f in found:
                if f["code"] in ("CL801", "CL802"):
                    print(f"{Path(f['path']).name}:{f['line']}: {f['code']} {f['message']}")
            notes = done.stderr.splitlines()
            for file in files:
                for builder in CLASSIFIERS[file]:
                    line = next((n for n in notes if n.startswith(f"{MODELS / file}: {builder}:")), None)
                    print(f"{builder:<20} {line.split(': ', 2)[2] if line else 'not run'}")
    print(f"verify-mismatch: {codes['verify-mismatch']}, runtime-error: {codes['runtime-error']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
