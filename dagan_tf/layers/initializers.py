"""The reference's weight initialisation (SPADE `init_weights('xavier', gain=0.02)`)."""

import keras


def xavier_normal(gain: float = 0.02) -> keras.initializers.Initializer:
    """torch.nn.init.xavier_normal_: N(0, gain * sqrt(2 / (fan_in + fan_out))), not truncated.

    Keras' GlorotNormal draws from a truncated normal, so it is not the same distribution.
    fan_in/fan_out of a conv kernel (kh, kw, in, out) are kh*kw*in and kh*kw*out, as in torch.
    """
    return keras.initializers.VarianceScaling(
        scale=gain**2, mode="fan_avg", distribution="untruncated_normal"
    )
