"""The model code is keras.ops only: the same weights give the same output under JAX as under TF."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dagan_tf.config import DAGANConfig
from dagan_tf.models import build_discriminator, build_generator

pytestmark = pytest.mark.slow

_JAX_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import keras
    assert keras.backend.backend() == "jax", keras.backend.backend()
    from dagan_tf.config import DAGANConfig
    from dagan_tf.models import build_generator, build_discriminator
    folder = sys.argv[1]
    cfg = DAGANConfig(**json.load(open(folder + "/cfg.json")))
    G = build_generator(cfg)
    G.load_weights(folder + "/g.weights.h5")
    np.save(folder + "/g_jax.npy", np.asarray(G.predict(np.load(folder + "/seg.npy"), verbose=0)))
    D = build_discriminator(cfg)
    D.load_weights(folder + "/d.weights.h5")
    feats = D(np.load(folder + "/d_in.npy"))
    np.save(folder + "/d_jax.npy", np.concatenate([np.asarray(f).ravel() for s in feats for f in s]))
""")


def test_generator_and_discriminator_agree_under_jax(tmp_path):
    cfg = DAGANConfig(label_nc=5, ngf=8, ndf=8, crop_size=128, load_size=128, num_upsampling_layers="more",
                      aspect_ratio=2.0)
    G = build_generator(cfg)
    seg = np.random.rand(2, *cfg.image_hw, cfg.semantic_nc).astype("float32")
    G(seg, training=True)  # move BN statistics / SN vectors off their initial values
    D = build_discriminator(cfg)
    d_in = np.random.rand(2, *cfg.image_hw, cfg.semantic_nc + 3).astype("float32")
    D(d_in, training=True)
    G.save_weights(tmp_path / "g.weights.h5")
    D.save_weights(tmp_path / "d.weights.h5")
    np.save(tmp_path / "seg.npy", seg)
    np.save(tmp_path / "d_in.npy", d_in)
    (tmp_path / "cfg.json").write_text(json.dumps(cfg.to_dict()))
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", _JAX_SCRIPT, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    g_tf = np.asarray(G(seg))
    g_jax = np.load(tmp_path / "g_jax.npy")
    assert g_jax.shape == g_tf.shape == (2, 64, 128, 3)
    assert np.abs(g_tf - g_jax).max() <= 1e-5
    d_tf = np.concatenate([np.asarray(f).ravel() for s in D(d_in) for f in s])
    assert np.abs(d_tf - np.load(tmp_path / "d_jax.npy")).max() <= 1e-4
