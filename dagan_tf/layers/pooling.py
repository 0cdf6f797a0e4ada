"""The discriminator's between-scale downsampling: torch's
`F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)`.

Keras' `padding='same'` pads only at the end for this case and so averages other windows.
"""

import keras
from keras import ops


def avg_pool_exclude_pad(x):
    """`(batch, height, width, channels)` -> `(batch, (height - 1) // 2 + 1, (width - 1) // 2 + 1, channels)`."""
    pad = ((0, 0), (1, 1), (1, 1), (0, 0))
    window_mean = ops.average_pool(ops.pad(x, pad), 3, strides=2, padding="valid")
    # fraction of each 3x3 window that lies inside the image: the average over 9 becomes a
    # sum over the valid pixels divided by their count
    ones = ops.ones_like(x[..., :1])
    valid_fraction = ops.average_pool(ops.pad(ones, pad), 3, strides=2, padding="valid")
    return window_mean / valid_fraction


@keras.saving.register_keras_serializable(package="dagan_tf")
class AvgPoolExcludePad(keras.layers.Layer):
    """Layer form of `avg_pool_exclude_pad`."""

    def call(self, inputs):
        return avg_pool_exclude_pad(inputs)

    def compute_output_shape(self, input_shape):
        def half(n):
            return None if n is None else (n - 1) // 2 + 1

        return (input_shape[0], half(input_shape[1]), half(input_shape[2]), input_shape[3])
