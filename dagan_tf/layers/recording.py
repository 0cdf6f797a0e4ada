"""Whether a gradient tape is recording: the layers that keep less for the backward pass (custom
gradients in stride_one_conv.py and norms.py) take their plain path when nothing records."""

import keras


def tape_records(tensors) -> bool:
    """Whether a TensorFlow gradient tape records an op on `tensors` (a tensor or a list of them),
    by TensorFlow's own test; always False on other backends."""
    if keras.backend.backend() != "tensorflow":
        return False
    from tensorflow.python.eager import record

    return bool(record.should_record_backprop(tensors if isinstance(tensors, (list, tuple)) else [tensors]))
