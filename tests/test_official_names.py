"""Full-size networks: docs/reference.md's trainable parameter counts and a one-to-one map onto the official keys."""

import numpy as np
import pytest

from tests.helpers import REFERENCE_DIR
from dagan_tf.config import load_config
from dagan_tf.models import (
    build_discriminator,
    build_encoder,
    build_generator,
    official_weight_layout,
)
from dagan_tf.torch_io import torch_shape


# docs/reference.md, "The official networks' sizes"
COUNTS = {
    "cityscapes": {"G": 93_134_229, "G_vae": 101_222_805, "D": 5_601_410, "E": 10_463_424},
    "ade20k": {"G": 96_578_709, "G_vae": 112_028_821, "D": 5_836_930, "E": 10_463_424},
}


def _trainable(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def _official(path):
    keys = {}
    for line in path.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape = line.split("\t")
        keys[key] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    return keys


@pytest.mark.parametrize("dataset", ["cityscapes", "ade20k"])
@pytest.mark.parametrize("network", ["G", "G_vae", "D", "E"])
def test_counts_and_layout(dataset, network):
    import pathlib

    configs = pathlib.Path(__file__).resolve().parents[1] / "configs"
    cfg = load_config(configs / f"{dataset}.yaml", {"use_vae": network in ("G_vae", "E")})
    builder = {"G": build_generator, "G_vae": build_generator, "D": build_discriminator, "E": build_encoder}[network]
    model = builder(cfg)
    assert _trainable(model) == COUNTS[dataset][network]

    layout = official_weight_layout(model, network[0])
    official = _official(REFERENCE_DIR / f"official_{network}_{dataset}.txt")
    expected = {k: s for k, s in official.items() if not k.endswith("num_batches_tracked")}
    assert set(layout) == set(expected)
    for key, (variable, kind) in layout.items():
        assert torch_shape(variable, kind) == expected[key], key
    # one to one: every model variable appears exactly once
    mapped = [id(v) for v, _ in layout.values()]
    assert len(set(mapped)) == len(mapped) == len(model.weights)
