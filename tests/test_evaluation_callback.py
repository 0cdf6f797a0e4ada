"""PeriodicEvaluation (evaluation/callback.py): FID and, with a segmenter, mIoU / accuracy put into the
epoch's logs every `eval_freq_epochs` epochs, equal to a direct computation on the same images."""

import os

import keras
import numpy as np
import pytest

from dagan_tf.config import load_config
from dagan_tf.data import build_dataset
from dagan_tf.data.demo import write_demo_dataset
from dagan_tf.evaluation.callback import PeriodicEvaluation
from dagan_tf.evaluation.fid import InceptionFeatures, activation_statistics, frechet_distance
from dagan_tf.training.model import DAGAN
from dagan_tf.visualize import to_uint8_truncated
from tests.test_evaluate import TinySegmenter, random_inception

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_fid_and_miou_logged_every_n_epochs(tmp_path):
    data = str(tmp_path / "data")
    write_demo_dataset(data, count=40, size=64, seed=6, progress=False)  # 4 val scenes
    cfg = load_config(os.path.join(REPO, "configs", "demo.yaml"),
                      dict(dataroot=data, crop_size=64, load_size=64, ngf=8, ndf=8, batchSize=2))
    model = DAGAN(cfg)
    inception = random_inception(1, dims=[64])  # the stem: cheap (2048 dims: tests/test_evaluate.py's note)
    callback = PeriodicEvaluation(cfg, eval_freq_epochs=2, how_many=3, inception_model=inception, dims=64,
                                  segmenter=TinySegmenter(), batch_size=2, verbose=False)
    callback.set_model(model)
    logs = {"g_loss": 1.0}
    callback.on_epoch_end(0, logs)  # epoch 1: not a multiple of 2
    assert set(logs) == {"g_loss"}
    callback.on_epoch_end(1, logs)
    assert set(logs) == {"g_loss", "val_fid", "val_miou", "val_accuracy"}
    assert callback.history[0]["epoch"] == 2

    batch = next(iter(build_dataset(cfg, "val", batch_size=3, shuffle=False)))
    batch = {k: v for k, v in batch.items() if k != "path"}
    fake = to_uint8_truncated(keras.ops.convert_to_numpy(model(batch, training=False)))
    features = InceptionFeatures(model=inception, dims=64, batch_size=2)
    want = frechet_distance(*activation_statistics(features(fake)),
                            *activation_statistics(features(to_uint8_truncated(batch["image"].numpy()))))
    assert np.isfinite(logs["val_fid"]) and logs["val_fid"] == pytest.approx(want, rel=1e-6)
    seg = TinySegmenter()
    truth, pred = seg.ground_truth(batch["label"].numpy()), seg.predict(fake)  # demo: class ids = file values
    assert logs["val_accuracy"] == pytest.approx(np.mean(pred[truth != 255] == truth[truth != 255]), rel=1e-12)
    assert 0 <= logs["val_miou"] <= 1

    with pytest.raises(ValueError, match="'eval_how_many': FID needs at least 2 images, got 1"):
        PeriodicEvaluation(cfg, 1, how_many=1)
