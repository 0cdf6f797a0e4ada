"""README.md: every Python block runs as written, in a folder holding what the README's earlier steps
make (the presets in configs/, demo data in demo_out/data, the demo generator exported to ONNX)."""

import os
import re
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_blocks():
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def _needs(block: str) -> set:
    return {thing for thing in ("demo_out/", "saved_models/demo.onnx") if thing in block}


@pytest.fixture(scope="module")
def readme_folder(tmp_path_factory):
    """configs/ as in a checkout; demo outputs made only when a block reads them."""
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(os.path.join(REPO, "configs"), folder / "configs")
    wanted = set().union(*(_needs(b) for b in python_blocks()))
    if wanted:
        from dagan_tf.config import load_config
        from dagan_tf.data.demo import write_demo_dataset
        from dagan_tf.models import build_generator

        write_demo_dataset(str(folder / "demo_out" / "data"), count=10, size=128, progress=False)
        if "saved_models/demo.onnx" in wanted:
            from dagan_tf.export import export_generator

            cfg = load_config(folder / "configs" / "demo.yaml", {"dataroot": str(folder / "demo_out" / "data")})
            checkpoint = str(folder / "latest_net_G.keras")
            build_generator(cfg).save(checkpoint)
            export_generator(cfg, checkpoint, format="onnx", out=str(folder / "saved_models" / "demo.onnx"))
    return folder


def test_the_readme_has_python_blocks():
    assert len(python_blocks()) >= 3


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_python_block_runs(readme_folder, index):
    block = python_blocks()[index]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = REPO
    result = subprocess.run([sys.executable, "-c", block], cwd=readme_folder, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, f"README block {index}:\n{block}\n{result.stderr[-3000:]}"
