"""Train the demo's generator for a fixed number of steps (bench helper, shared by both benches).

`train_demo(out_dir, steps, policy)` writes demo scenes, trains `DAGAN(configs/demo.yaml)` for
`steps` iterations (batch 2, as `dagan-tf demo` on a CPU) and returns (model, per-step losses).
"""

from __future__ import annotations

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

#: Demo scenes written for the benches (enough for 50-150 steps of batch 2 without much repetition).
SCENES = 60


class _LossLog:
    def __init__(self):
        import keras

        class Log(keras.callbacks.Callback):
            def __init__(cb):
                super().__init__()
                cb.rows = []

            def on_train_batch_end(cb, batch, logs=None):
                cb.rows.append({k: float(v) for k, v in logs.items()})

        self.callback = Log()


def train_demo(out_dir: str, steps: int, policy: str = "float32", seed: int = 0, weight_noise: float = 0.0,
               noise_seed: int = 1):
    """(trained DAGAN, list of per-step loss dicts) after `steps` iterations under `policy`.

    `weight_noise`: multiply G's initial weights by `1 + weight_noise * N(0, 1)` (drawn from
    `noise_seed`), to measure how far two float32 runs that differ only by rounding-sized changes
    drift apart.
    """
    import keras
    import numpy as np

    from dagan_tf.data.pipeline import build_dataset
    from dagan_tf.data.demo import write_demo_dataset
    from dagan_tf.training.demo import demo_config
    from dagan_tf.training.model import DAGAN

    config = demo_config(out_dir, {"seed": seed})
    if not os.path.isdir(os.path.join(config.dataroot, "train_label")):
        write_demo_dataset(config.dataroot, count=SCENES, size=config.crop_size, seed=seed, progress=False)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(seed)
        model = DAGAN(config)
        if weight_noise:
            rng = np.random.default_rng(noise_seed)
            for v in model.generator.trainable_variables:
                w = np.asarray(v.numpy())
                v.assign((w * (1 + weight_noise * rng.standard_normal(w.shape))).astype(w.dtype))
        model.compile(steps_per_epoch=steps)
        log = _LossLog().callback
        ds = build_dataset(config, "train", batch_size=config.batchSize).repeat()
        model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[log], shuffle=False)
    finally:
        keras.config.set_dtype_policy(previous)
    return model, log.rows


if __name__ == "__main__":
    import time
    t = time.time()
    m, rows = train_demo(sys.argv[1], int(sys.argv[2]))
    m.generator.save(os.path.join(sys.argv[1], "G.keras"))
    print(rows[0], rows[-1], time.time() - t)
