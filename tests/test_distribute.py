"""DAGAN's train_step under tf.distribute (dagan_tf/training/model.py).

Each scenario runs in a subprocess (this file run as a script), because logical CPU devices and
TF_CONFIG must be set before TensorFlow starts:
- `mirrored`: Keras' fit under MirroredStrategy over 2 logical CPUs vs the default strategy
  (train_step called eagerly), same global batch of 4, 2 steps: same losses and weights (<= 1e-4);
  a synchronized BatchNorm under the strategy normalises with, and records, the global batch's
  statistics (an unsynchronized one, the control, does not); the reference Adam applied by two
  replicas equals the default strategy's.
- `multiworker`: MultiWorkerMirroredStrategy with 2 local worker processes (TF_CONFIG on
  127.0.0.1), 2 fit steps with the default (reference Adam) optimisers: both workers end with
  identical weights.

The mirrored-vs-default comparison trains with plain SGD. With Adam, two runs whose float32
round-off differs (a batch of 4 vs two batches of 2) cannot agree: Adam's first step is about
`lr * sign(g)`, so on parameters whose gradient is mathematically zero (conv biases in front of
batch norm, D's last bias while the hinge is balanced) round-off becomes +-lr steps, and G's
spectrally normalised kernels (~1e-3 at the reference's init) change by ~10% per step, which
amplifies any difference. SGD's step is proportional to the gradient, so what the comparison sees
is the aggregation itself: loss scaling, gradient all-reduce, synchronized batch norm.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
TOL = 1e-4
GLOBAL_BATCH = 4


# --------------------------------------------------------------------------------------------
# Subprocess side
# --------------------------------------------------------------------------------------------
def _config():
    from dagan_tf.config import DAGANConfig

    # the default norm_G is spectralspadesyncbatch3x3: G's batch norms synchronise over replicas
    return DAGANConfig(label_nc=4, ngf=8, ndf=8, crop_size=32, load_size=32, no_vgg_loss=True,
                       vgg_weights="none", niter=100, seed=5, batchSize=GLOBAL_BATCH)


def _batches(cfg, steps=2):
    rng = np.random.default_rng(11)
    h, w = cfg.image_hw
    out = []
    for _ in range(steps):
        label = np.kron(rng.integers(0, cfg.label_nc, (GLOBAL_BATCH, h // 8, w // 8)),
                        np.ones((1, 8, 8))).astype("int32")
        instance = np.kron(rng.integers(0, 3, (GLOBAL_BATCH, h // 4, w // 4)), np.ones((1, 4, 4))).astype("int32")
        # the two halves of the batch differ in distribution, so per-replica statistics would not do
        image = rng.uniform(-1, 1, (GLOBAL_BATCH, h, w, 3)).astype("float32")
        image[GLOBAL_BATCH // 2:] = 0.5 * image[GLOBAL_BATCH // 2:] + 0.3
        out.append({"label": label, "instance": instance, "image": image})
    return out


def _optimizers(kind="sgd"):
    """(g_optimizer, d_optimizer) for the comparison (module docstring) or the reference's Adam."""
    import keras

    from dagan_tf.training.schedule import build_optimizers

    if kind == "adam":
        return build_optimizers(_config())
    # G's raw kernels are ~1e-3 (xavier gain 0.02) behind spectral norm, so their gradients are
    # ~1e2: these rates move G's and D's weights by about a percent per step
    return keras.optimizers.SGD(1e-7), keras.optimizers.SGD(1e-3)


def _dataset(batches):
    import tensorflow as tf

    stacked = {k: np.stack([b[k] for b in batches]) for k in batches[0]}
    return tf.data.Dataset.from_tensor_slices(stacked)  # elements are global batches


def _fit(strategy, batches, init_weights=None, optimizers="sgd"):
    """Build + compile under `strategy`, fit over `batches`; (logs per step, {name: weights})."""
    import keras

    from dagan_tf.training.model import DAGAN

    cfg = _config()
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = DAGAN(cfg)
        if init_weights is not None:
            model.generator.set_weights(init_weights["G"])
            model.discriminator.set_weights(init_weights["D"])
        model.compile(*_optimizers(optimizers))
    seen = []
    model.fit(_dataset(batches), epochs=1, verbose=0, callbacks=[keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda i, logs: seen.append({k: float(v) for k, v in logs.items()}))])
    return model, seen


def _eager_steps(batches, init_weights):
    """The default strategy's run: train_step called eagerly (no tracing: the mirrored run's graph
    is the one under test), same optimisers."""
    import keras

    from dagan_tf.training.model import DAGAN

    keras.utils.set_random_seed(0)
    model = DAGAN(_config())
    model.generator.set_weights(init_weights["G"])
    model.discriminator.set_weights(init_weights["D"])
    model.compile(*_optimizers())
    logs = [{k: float(v) for k, v in model.train_step(b).items()} for b in batches]
    return model, logs


def _adam_under_strategy(strategy):
    """ReferenceAdam (its bias corrections travel through the strategy's merge_call) applied by two
    replicas vs by the default strategy, three steps: max difference of the variables."""
    import keras
    import tensorflow as tf

    from dagan_tf.training.schedule import ReferenceAdam

    rng = np.random.default_rng(4)
    init = rng.normal(size=(6, 5)).astype("float32")
    grads = [rng.normal(size=(2, 6, 5)).astype("float32") for _ in range(3)]  # one per replica
    results = []
    for strat in (tf.distribute.get_strategy(), strategy):
        with strat.scope():
            var = keras.Variable(init)
            opt = ReferenceAdam(1e-3, 0.5, 0.999)
            opt.build([var])
        for g in grads:
            if strat is strategy:  # each replica its gradient; the optimiser sums them
                per_replica = strat.experimental_distribute_values_from_function(
                    lambda ctx, g=g: tf.constant(g[ctx.replica_id_in_sync_group]))
                strat.run(tf.function(lambda t: opt.apply([t], [var])), args=(per_replica,))
            else:
                opt.apply([tf.constant(g.sum(0))], [var])
        results.append(var.numpy())
    return float(np.abs(results[0] - results[1]).max()), float(np.abs(results[0] - init).max())


def _weights(model):
    return {"G": [w.numpy() for w in model.generator.weights], "D": [w.numpy() for w in model.discriminator.weights]}


def _sync_batchnorm_check(strategy):
    """A synchronized BatchNorm on two replicas with different halves of a batch: outputs and
    running statistics are those of the global batch (and an unsynchronized one's are not)."""
    import tensorflow as tf

    from dagan_tf.layers.norms import BatchNorm

    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 3, 3, 5)).astype("float32")
    x[2:] = 3.0 * x[2:] + 2.0
    mean = x.mean(axis=(0, 1, 2))
    var_biased = x.var(axis=(0, 1, 2))
    var_unbiased = x.var(axis=(0, 1, 2), ddof=1)
    result = {}
    for synced in (True, False):
        with strategy.scope():
            bn = BatchNorm(synchronized=synced)
            bn.build((None, 3, 3, 5))
        halves = strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.constant(x[2 * ctx.replica_id_in_sync_group: 2 * ctx.replica_id_in_sync_group + 2]))
        out = strategy.run(tf.function(lambda t: bn(t, training=True)), args=(halves,))
        out = np.concatenate([o.numpy() for o in strategy.experimental_local_results(out)])
        want_out = (x - mean) / np.sqrt(var_biased + 1e-5)
        result["synced" if synced else "local"] = {
            "out": float(np.abs(out - want_out).max()),
            "moving_mean": float(np.abs(bn.moving_mean.numpy() - 0.1 * mean).max()),
            "moving_variance": float(np.abs(bn.moving_variance.numpy() - (0.9 + 0.1 * var_unbiased)).max()),
        }
    return result


def _replica_spread(model):
    """Largest difference between the two replicas' copies of any G / D variable (BN, SN included)."""
    return max(float(np.abs(v.values[0].numpy() - v.values[1].numpy()).max())
               for v in [w.value for w in model.generator.weights + model.discriminator.weights])


def run_mirrored(out_dir: Path) -> None:
    import keras
    import tensorflow as tf

    from dagan_tf.training.model import DAGAN

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    batches = _batches(_config())
    keras.utils.set_random_seed(0)
    init = _weights(DAGAN(_config()))  # both runs start from these weights
    default_model, default_logs = _eager_steps(batches, init)
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    mirrored_model, mirrored_logs = _fit(mirrored, batches, init_weights=init)
    default_w, mirrored_w = _weights(default_model), _weights(mirrored_model)
    trainable = {k: [v.path.endswith(("kernel", "bias")) for v in getattr(default_model, net).weights]
                 for k, net in (("G", "generator"), ("D", "discriminator"))}
    report = {
        "replicas": mirrored.num_replicas_in_sync,
        "logs_default": default_logs,
        "logs_mirrored": mirrored_logs,
        "weight_diff": {k: max(float(np.abs(a - b).max()) for a, b in zip(default_w[k], mirrored_w[k]))
                        for k in ("G", "D")},
        "trainable_diff": {k: max(float(np.abs(a - b).max())
                                  for a, b, t in zip(default_w[k], mirrored_w[k], trainable[k]) if t)
                           for k in ("G", "D")},
        "trainable_moved": {k: max(float(np.abs(a - b).max())
                                   for a, b, t in zip(init[k], mirrored_w[k], trainable[k]) if t)
                            for k in ("G", "D")},
        "bn_stat_diff": max(float(np.abs(a.numpy() - b.numpy()).max())
                            for a, b in zip(default_model.generator.weights, mirrored_model.generator.weights)
                            if "moving_" in a.path),
        "replica_spread": _replica_spread(mirrored_model),
        "adam": _adam_under_strategy(mirrored),
        "batchnorm": _sync_batchnorm_check(mirrored),
    }
    (out_dir / "mirrored.json").write_text(json.dumps(report))


def run_worker(out_dir: Path, index: int) -> None:
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    batches = _batches(_config())
    model, logs = _fit(strategy, batches, optimizers="adam")
    weights = [w.numpy() for w in model.generator.weights + model.discriminator.weights]
    np.savez(out_dir / f"worker{index}.npz", *weights)
    (out_dir / f"worker{index}.json").write_text(json.dumps(
        {"logs": logs, "replicas": strategy.num_replicas_in_sync,
         "iterations": int(model.d_optimizer.iterations.numpy())}))


# --------------------------------------------------------------------------------------------
# Test side
# --------------------------------------------------------------------------------------------
def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    return env


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_mirrored_two_replicas_equal_the_default_strategy(tmp_path):
    proc = subprocess.run([sys.executable, __file__, "mirrored", str(tmp_path)], env=_env(), cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    r = json.loads((tmp_path / "mirrored.json").read_text())
    print(json.dumps({k: v for k, v in r.items() if not k.startswith("logs")}, indent=1))
    assert r["replicas"] == 2
    assert len(r["logs_default"]) == len(r["logs_mirrored"]) == 2
    for d, m in zip(r["logs_default"], r["logs_mirrored"]):
        assert set(d) == set(m) == {"G_GAN", "G_GAN_Feat", "D_fake", "D_real", "lr_G", "lr_D"}
        for name in d:
            assert abs(d[name] - m[name]) <= TOL * max(1.0, abs(d[name])), (name, d[name], m[name])
    assert max(r["weight_diff"].values()) <= TOL, r["weight_diff"]
    assert r["bn_stat_diff"] <= TOL
    for net in ("G", "D"):  # the weights moved, by far more (> 50x) than the two runs differ
        assert r["trainable_diff"][net] * 50 <= r["trainable_moved"][net], (net, r)
    assert r["replica_spread"] == 0.0
    adam_diff, adam_moved = r["adam"]  # the reference Adam under the strategy
    assert adam_diff <= 1e-7 and adam_moved > 1e-3, r["adam"]
    synced, local = r["batchnorm"]["synced"], r["batchnorm"]["local"]
    assert max(synced.values()) <= 1e-5, synced
    # the control: per-replica statistics are far from the global ones on this batch
    assert local["out"] > 0.1 and local["moving_variance"] > 0.01, local


def test_multiworker_two_local_workers_end_identical(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = _env()
        env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen([sys.executable, __file__, "worker", str(tmp_path), str(index)], env=env,
                                      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        outputs.append((p.returncode, out[-2000:] + err[-5000:]))
    for rc, text in outputs:
        assert rc == 0, text
    reports = [json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(2)]
    assert [r["replicas"] for r in reports] == [2, 2]
    assert [r["iterations"] for r in reports] == [2, 2]
    assert reports[0]["logs"] == reports[1]["logs"]  # global-batch values on both workers
    assert all(np.isfinite(v) for step in reports[0]["logs"] for v in step.values())
    w0, w1 = np.load(tmp_path / "worker0.npz"), np.load(tmp_path / "worker1.npz")
    assert len(w0.files) == len(w1.files) > 100
    diff = max(float(np.abs(w0[k] - w1[k]).max()) for k in w0.files)
    print("multiworker max weight difference between workers:", diff, "logs:", reports[0]["logs"])
    assert diff == 0.0


if __name__ == "__main__":
    mode, out = sys.argv[1], Path(sys.argv[2])
    sys.path.insert(0, str(REPO))
    import tensorflow as tf

    # Grappler (TensorFlow's graph optimiser) off: on these tiny graphs it costs more than the steps
    # (~10 s per traced train function, twice the graph under two replicas), and what is compared
    # here is aggregation, not graph rewrites (both sides of each comparison run the same setting)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    if mode == "mirrored":
        run_mirrored(out)
    elif mode == "worker":
        run_worker(out, int(sys.argv[3]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
