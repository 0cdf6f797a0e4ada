"""dagan_tf/layers/recording.py: whether a gradient tape records ops on given tensors."""

import tensorflow as tf

from dagan_tf.layers.recording import tape_records


def test_a_tape_records_only_what_it_watches_and_only_while_it_records():
    watched, other = tf.constant([1.0, 2.0]), tf.constant([3.0])
    variable = tf.Variable([4.0])
    assert not tape_records(watched)  # no tape at all
    with tf.GradientTape() as tape:
        tape.watch(watched)
        assert tape_records(watched) and tape_records([other, watched])  # a list: any of them
        assert not tape_records(other)
        assert tape_records(variable.value())  # trainable variables are watched on read
        with tape.stop_recording():
            assert not tape_records(watched)
    assert not tape_records([watched, other])


def test_inside_a_tf_function_as_in_eager():
    x = tf.constant(1.0)

    @tf.function
    def inside():
        with tf.GradientTape() as tape:
            tape.watch(x)
            return tape_records(x), tape_records(tf.constant(2.0))

    assert inside() == (True, False)
