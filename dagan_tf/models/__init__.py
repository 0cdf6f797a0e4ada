"""The DAGAN networks, each built from a DAGANConfig."""

from dagan_tf.models.configured import ConfiguredNetwork, saved_dagan_config
from dagan_tf.models.discriminator import DAGANDiscriminator, NLayerDiscriminator, build_discriminator
from dagan_tf.models.encoder import DAGANEncoder, build_encoder, encoder_input_size
from dagan_tf.models.generator import DAGANGenerator, build_generator
from dagan_tf.models.loading import (
    NETWORK_KINDS,
    CheckpointError,
    config_for_checkpoint,
    load_network,
    network_kind,
)
from dagan_tf.models.official_names import official_weight_layout, torch_shape

__all__ = ["NETWORK_KINDS", "CheckpointError", "ConfiguredNetwork", "DAGANDiscriminator", "DAGANEncoder",
           "DAGANGenerator", "NLayerDiscriminator", "build_discriminator", "build_encoder", "build_generator",
           "config_for_checkpoint", "encoder_input_size", "load_network", "network_kind",
           "official_weight_layout", "saved_dagan_config", "torch_shape"]
