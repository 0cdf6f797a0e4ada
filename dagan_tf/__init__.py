"""dagan-tf: DAGAN (Dual Attention GANs for Semantic Image Synthesis) in TensorFlow / Keras 3.

Importing the package registers every custom layer and network class with Keras, so
`keras.saving.load_model` reads our generator, discriminator and encoder `.keras` files after
`import dagan_tf` (`dagan_tf.models.load_network` also checks which network a file holds).
"""

__version__ = "0.2.0"

from dagan_tf import native_logs as _native_logs

if _native_logs.started_as_cli():  # the `dagan-tf` command: TensorFlow's C++ start-up lines off
    _native_logs.quiet_tensorflow_import()

from dagan_tf import layers  # noqa: E402,F401  (registers the serialisable layers)
from dagan_tf import losses  # noqa: E402,F401  (registers VGGLoss)
from dagan_tf import models  # noqa: E402,F401  (registers NLayerDiscriminator, the discriminator's scales)
from dagan_tf.config import DAGANConfig, load_config  # noqa: E402,F401
