"""A user's fresh clone has no `../shared` beside it: the modules that need outside data must still
pass there (the real COCO-Stuff samples skipped with a reason naming DAGAN_TF_COCO_SAMPLES)."""

import os
import re
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = [
    "tests/test_layouts.py", "tests/test_pipeline.py", "tests/test_torch_reference.py", "tests/test_official_names.py",
]


def test_the_data_dependent_modules_pass_in_a_copy_with_nothing_beside_it(tmp_path):
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    clone = tmp_path / "lonely" / "dagan-tf"  # its parent holds nothing else, so no ../shared
    for name in filter(None, tracked.decode().split("\0")):
        if os.path.isfile(os.path.join(REPO, name)):
            os.makedirs(clone / os.path.dirname(name), exist_ok=True)
            shutil.copy2(os.path.join(REPO, name), clone / name)
    assert not (clone.parent.parent / "shared").exists() and not (clone.parent / "shared").exists()
    env = {k: v for k, v in os.environ.items() if k not in ("DAGAN_TF_COCO_SAMPLES", "CI")}
    env["PYTHONPATH"] = str(clone)  # the copy's package, not the checkout's
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *MODULES],
                            cwd=clone, env=env, capture_output=True, text=True, timeout=1200)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    summary = out.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary and "error" not in summary, summary
    skipped = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert skipped and all("set DAGAN_TF_COCO_SAMPLES" in line for line in skipped), skipped
    # and the copy's own files were tested, not this checkout's
    assert str(clone) in subprocess.run([sys.executable, "-c", "import dagan_tf; print(dagan_tf.__file__)"],
                                        cwd=clone, env=env, capture_output=True, text=True).stdout
