"""The DAGAN networks, each built from a DAGANConfig."""

from dagan_tf.models.discriminator import NLayerDiscriminator, build_discriminator
from dagan_tf.models.encoder import build_encoder, encoder_input_size
from dagan_tf.models.generator import build_generator
from dagan_tf.models.loading import NETWORK_KINDS, CheckpointError, load_network, network_kind
from dagan_tf.models.official_names import official_weight_layout, torch_shape

__all__ = ["NETWORK_KINDS", "CheckpointError", "NLayerDiscriminator", "build_discriminator", "build_encoder",
           "build_generator", "encoder_input_size", "load_network", "network_kind", "official_weight_layout",
           "torch_shape"]
