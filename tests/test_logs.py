"""The TensorBoard log of a training run (dagan_tf/training/logs.py): events written with TensorFlow
alone, and a resume dropping the events after its step."""

import os

import numpy as np
import tensorflow as tf

from dagan_tf.training.logs import prune_event_files, write_image, write_scalar


def test_tensorboard_events_without_the_tensorboard_package(tmp_path):
    image = np.random.default_rng(1).integers(0, 255, (6, 10, 3), dtype=np.uint8)
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        write_scalar("losses/G_GAN", 1.25, step=3)
        write_image("label | generated | real", image, step=4)
    writer.close()
    events = [e for f in os.listdir(tmp_path)
              for e in tf.compat.v1.train.summary_iterator(str(tmp_path / f)) if e.summary.value]
    (scalar,), (picture,) = [e.summary.value for e in events]
    assert (events[0].step, scalar.tag, scalar.metadata.plugin_data.plugin_name) == (3, "losses/G_GAN", "scalars")
    assert tf.make_ndarray(scalar.tensor) == np.float32(1.25)
    assert (events[1].step, picture.metadata.plugin_data.plugin_name) == (4, "images")
    width, height, png = tf.make_ndarray(picture.tensor)
    assert (int(width), int(height)) == (10, 6)
    np.testing.assert_array_equal(tf.io.decode_png(png).numpy(), image)


def test_tensorboard_events_after_the_resume_step_are_dropped(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for step in range(1, 8):  # a killed run logged steps 1..7; its backup was at step 4
            write_scalar("losses/G_GAN", float(step), step=step)
    writer.close()
    assert prune_event_files(tmp_path, 4) == 3
    steps = [e.step for f in os.listdir(tmp_path)
             for e in tf.compat.v1.train.summary_iterator(str(tmp_path / f)) if e.summary.value]
    assert steps == [1, 2, 3, 4] and len(os.listdir(tmp_path)) == 1
    assert prune_event_files(tmp_path, 4) == 0
