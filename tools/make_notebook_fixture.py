"""Writes fixtures/notebooks/fastai_cnn.ipynb, a notebook in the style of the fast.ai course
(`python tools/make_notebook_fixture.py [PATH]`; the file is committed, this is how it was made;
nbformat gives the cells new random ids each time).
Needs nbformat (the `dev` extra)."""

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell("# ConvNet\n\nA CNN for MNIST, in the style of the fast.ai course notebooks."),
    new_code_cell("%load_ext autoreload\n%autoreload 2\n\n%matplotlib inline"),
    new_code_cell("!pip install -q fastprogress"),
    new_code_cell("import torch\nfrom torch import nn, optim\nimport torch.nn.functional as F"),
    new_code_cell(
        "class DataBunch():\n"
        "    def __init__(self, train_dl, valid_dl, c=None):\n"
        "        self.train_dl,self.valid_dl,self.c = train_dl,valid_dl,c\n"
        "\n"
        "x_train = torch.randn(512, 784)\n"
        "y_train = torch.randint(0, 10, (512,))\n"
        "train_dl = [(x_train[i:i+64], y_train[i:i+64]) for i in range(0, 512, 64)]\n"
        "data = DataBunch(train_dl, train_dl, c=10)"
    ),
    new_markdown_cell("## Model"),
    new_code_cell(
        "class Lambda(nn.Module):\n"
        "    def __init__(self, func):\n"
        "        super().__init__()\n"
        "        self.func = func\n"
        "\n"
        "    def forward(self, x): return self.func(x)\n"
        "\n"
        "def flatten(x):      return x.view(x.shape[0], -1)\n"
        "def mnist_resize(x): return x.view(-1, 1, 28, 28)"
    ),
    new_code_cell(
        "def conv2d(ni, nf, ks=3, stride=2):\n"
        "    return nn.Sequential(\n"
        "        nn.Conv2d(ni, nf, ks, padding=ks//2, stride=stride), nn.ReLU())"
    ),
    new_code_cell(
        "def get_cnn_model(data):\n"
        "    return nn.Sequential(\n"
        "        Lambda(mnist_resize),\n"
        "        conv2d( 1, 8, 5), #14\n"
        "        conv2d( 8,16),    # 7\n"
        "        conv2d(32,32),    # 4\n"
        "        conv2d(32,32),    # 2\n"
        "        nn.AdaptiveAvgPool2d(1),\n"
        "        Lambda(flatten),\n"
        "        nn.Linear(32,data.c)\n"
        "    )"
    ),
    new_code_cell("model = get_cnn_model(data)\nmodel?"),
    new_code_cell("xb = torch.randn(64, 784)\nmodel(xb).shape"),
    new_code_cell(
        "opt = optim.SGD(model.parameters(), lr=0.4)\n"
        "loss_func = F.cross_entropy\n"
        "\n"
        "def fit(epochs, model, loss_func, opt, train_dl):\n"
        "    for epoch in range(epochs):\n"
        "        model.train()\n"
        "        for xb,yb in train_dl:\n"
        "            loss = loss_func(model(xb), yb)\n"
        "            loss.backward()\n"
        "            opt.step()\n"
        "            opt.zero_grad()\n"
        "\n"
        "%time fit(1, model, loss_func, opt, data.train_dl)"
    ),
]
nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python", "version": "3.11.7"},
})
nb.cells[3].outputs = [nbformat.v4.new_output("stream", name="stdout", text="torch ready\n")]
nb.cells[3].execution_count = 3
nbformat.validate(nb)
nbformat.write(nb, sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "fixtures" / "notebooks" / "fastai_cnn.ipynb")
