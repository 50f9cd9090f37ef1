"""Model zoos used from user code (issue 15): a backbone from torchvision or timm with a new head.

The zoos here are small packages of our own named like the real ones (fixtures/zoo/site), each of
whose modules exits the process with status 97 if it is ever imported: convlint reads them and
never runs them. Every expected number was checked once with torch 2.13 on a copy of the zoo
without the exits (sum(p.numel()), the output's shape, the forward-hook MACs of Conv*/Linear),
and every finding is the error torch raises there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "fixtures" / "zoo"
CORPUS = ROOT / ".corpus" / "src"


def convlint(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    environment = {**os.environ, "CONVLINT_NO_CACHE": "1", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "convlint", *args], capture_output=True, text=True, cwd=cwd,
                          env=environment)


WRONG_HEADS = [
    "backbones.py:14:28: CL001 [channel-mismatch] Linear expects 512 input features but receives 64 "
    "(64·1·1 flattened by the flatten on line 54 of torchvision/models/resnet.py)",
    "backbones.py:48:28: CL001 [channel-mismatch] Linear expects 1280 input features but receives 48 "
    "(the output of the flatten on line 28 of torchvision/models/mobilenet.py)",
    "backbones.py:57:21: CL001 [channel-mismatch] Linear expects 1024 input features but receives 96 "
    "(the output of the Flatten on line 23 of timm/models/tinynet.py)",
]


def test_a_wrong_head_on_a_zoo_backbone_is_reported_at_the_head():
    done = convlint("check", "backbones.py", cwd=ZOO / "project")  # its pyproject.toml: extra-paths = ["../site"]
    assert done.returncode == 1, done.stderr  # 97: a zoo module was imported
    assert done.stdout.splitlines() == [*WRONG_HEADS, "Found 3 findings (3 errors; 1 file checked)."]


def test_summary_of_zoo_backbones_is_exact():
    done = convlint("summary", "backbones.py", "--format", "json", cwd=ZOO / "project")
    assert done.returncode == 0, done.stderr
    models = {m["name"]: (m["params"], m["output_shape"], m["macs"]) for m in json.loads(done.stdout)}
    assert models == {
        "WrongHead": (84442, [10], 5428224),  # torch raises at the head; the rest as torch counts it
        "RightHead": (79962, [10], 5423744),
        "grayscale": (308709, [5], 13664896),  # get_model("Tiny_ResNet_Wide"): registered by name=, lowercased
        "mobile_head": (1898, [10], 1376736),
        "mobile_wrong_head": (14218, [10], 1389056),
        "TimmWrongHead": (56067, [3], 5975040),
        "TimmRightHead": (390147, [3], 15041280),  # "tinynet_b.in1k": the tag split off; drop_rate=None dropped
    }


def test_extra_path_on_the_command_line_and_a_zoo_not_found(tmp_path):
    shutil.copy(ZOO / "project" / "backbones.py", tmp_path)
    found = convlint("check", "backbones.py", "--extra-path", str(ZOO / "site"), cwd=tmp_path)
    assert found.returncode == 1, found.stderr
    assert [line.split(" (")[0] for line in found.stdout.splitlines()[:3]] == [w.split(" (")[0] for w in WRONG_HEADS]
    silent = convlint("check", "backbones.py", cwd=tmp_path)  # no zoo on the search path: unknown, no finding
    assert (silent.returncode, silent.stdout.strip()) == (0, "No findings (1 file checked).")
    missing = convlint("check", "backbones.py", "--extra-path", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"convlint: error: --extra-path {tmp_path / 'nowhere'}: no such folder"


def test_layers_replaced_after_construction():
    done = convlint("check", "fixtures/replaced_layers.py")
    assert done.stdout.splitlines() == [
        "fixtures/replaced_layers.py:39:27: CL001 [channel-mismatch] Linear expects 64 input features but receives 32 "
        "(the output of the Flatten on line 22)",
        "fixtures/replaced_layers.py:46:28: CL001 [channel-mismatch] Conv2d expects 8 input channels but receives 16 "
        "(out_channels of the Conv2d on line 20)",
        "fixtures/replaced_layers.py:61:22: CL001 [channel-mismatch] Conv2d expects 16 input channels but receives 8 "
        "(out_channels of the Conv2d on line 60)",
        "fixtures/replaced_layers.py:68:17: CL001 [channel-mismatch] Conv2d expects 4 input channels but receives 8 "
        "(out_channels of the Conv2d on line 67)",
        "fixtures/replaced_layers.py:91:19: CL001 [channel-mismatch] Conv2d expects 4 input channels but receives 8 "
        "(out_channels of the Conv2d on line 74)",
        "Found 5 findings (5 errors; 1 file checked).",
    ]
    summary = convlint("summary", "fixtures/replaced_layers.py", "--format", "json")
    models = {m["name"]: (m["params"], m["output_shape"]) for m in json.loads(summary.stdout)}
    assert models["grayscale"] == (5130, [10])  # features.conv0 and classifier[-1] replaced
    assert models["extra_child"] == (7850, [10])  # features.conv2: a new last child of the Sequential
    assert models["wrong_name"][0] == 35784 and models["wrong_index"][0] == 5738
    assert models["subclass_item"] == (1442, [10])  # model[0][0]: the first child of a Sequential subclass
    assert models["subclass_item_wrong"][0] == 1010


@pytest.mark.skipif(not (CORPUS / "torchvision-0.29.1").is_dir(), reason="the corpus is not fetched (tools/corpus.py)")
def test_real_torchvision_backbones():
    """fixtures/zoo/real/heads.py with torchvision's source (timm's not on the path: its models stay unknown)."""
    vision = ["--extra-path", str(CORPUS / "torchvision-0.29.1")]
    done = convlint("check", "fixtures/zoo/real/heads.py", *vision)
    assert done.stdout.splitlines() == [
        "fixtures/zoo/real/heads.py:15:28: CL001 [channel-mismatch] Linear expects 2048 input features but receives "
        "512 (512·1·1 flattened by the flatten on line 279 of torchvision/models/resnet.py)",
        "Found 1 finding (1 error; 1 file checked).",
    ], done.stderr
    summary = convlint("summary", "fixtures/zoo/real/heads.py", *vision, "--format", "json")
    models = {m["name"]: (m["params"], m["output_shape"]) for m in json.loads(summary.stdout)}
    assert models["mobilenet_head"] == (2236682, [10])  # get_model("mobilenet_v2") with a 10-way classifier
    assert models["efficientnet_grayscale"] == (4012096, [4])  # features[0][0] replaced: 1 input channel


def test_what_convlint_models_is_never_read_from_the_search_path(tmp_path):
    """numpy.prod is a hook of convlint's tables: a numpy on the search path is not interpreted."""
    fake = tmp_path / "site" / "numpy"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("import os\n\nos._exit(97)\n\n\ndef prod(values):\n    return 3\n")
    (tmp_path / "net.py").write_text(
        "import numpy as np\nimport torch.nn as nn\n\n# convlint: input=8x4x4\n"
        "model = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod((8, 4, 4))), 10), nn.Linear(12, 2))\n"
    )
    done = convlint("check", "net.py", "--extra-path", str(tmp_path / "site"), cwd=tmp_path)
    assert done.stdout.splitlines()[0] == (  # np.prod((8, 4, 4)) is 128 (the fake says 3): only the second Linear
        "net.py:5:77: CL001 [channel-mismatch] Linear expects 12 input features but receives 10 "
        "(out_features of the Linear on line 5)"
    ), done.stdout + done.stderr


def test_following_a_zoo_imports_neither_torch_nor_the_zoo():
    code = (
        "import sys\nfrom convlint.cli import main\n"
        "main(['check', '--no-cache', 'backbones.py'])\n"
        "assert not {'torch', 'torchvision', 'timm'} & set(sys.modules), sorted(sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ZOO / "project")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "Found 3 findings (3 errors; 1 file checked)."


def test_a_file_linted_by_a_relative_path_counts_its_own_package_as_its_own_code(tmp_path, monkeypatch):
    # the budget grows with the lines of *other* packages' files read (a zoo's); the linted file's
    # siblings are read by real path, and were counted as another package when the file was given
    # relative (the pre-commit case): twice the work on the corpus
    from convlint.engine import analyze_source
    from convlint.extract import discovery

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "blocks.py").write_text("import torch.nn as nn\n\n\ndef block(c):\n    return nn.Conv2d(c, c, 3)\n")
    (tmp_path / "pkg" / "net.py").write_text("import torch.nn as nn\nfrom .blocks import block\n\nnet = nn.Sequential(block(3))\n")
    seen = []
    models = discovery.Discovery.models

    def recorded(self, *args, **kwargs):
        found = models(self, *args, **kwargs)
        seen.append(dict(self.read_lines))
        return found

    monkeypatch.setattr(discovery.Discovery, "models", recorded)
    monkeypatch.chdir(tmp_path)
    for path in ("pkg/net.py", str(tmp_path / "pkg" / "net.py")):
        analyze_source((tmp_path / "pkg" / "net.py").read_bytes(), path)
    assert seen == [{}, {}]
