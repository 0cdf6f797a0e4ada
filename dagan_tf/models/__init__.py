"""The DAGAN networks, each built from a DAGANConfig, and the front door that wraps the generator:
`SemanticPreprocessor` (label file values -> semantic map) and `Synthesizer` (label map in, photo out)."""

from dagan_tf.models.arguments import NETWORK_ARGUMENTS, NETWORK_KEYS, network_arguments
from dagan_tf.models.configured import DAGANNetwork, saved_dagan_config
from dagan_tf.models.discriminator import DAGANDiscriminator, NLayerDiscriminator, build_discriminator
from dagan_tf.models.encoder import DAGANEncoder, build_encoder, encoder_input_size
from dagan_tf.models.generator import DAGANGenerator, build_generator
from dagan_tf.models.loading import (
    NETWORK_KINDS,
    SHIPPED_GENERATORS,
    CheckpointError,
    config_for_checkpoint,
    generator_file,
    load_network,
    network_kind,
)
from dagan_tf.models.official_names import official_weight_layout
from dagan_tf.models.preprocessor import SemanticPreprocessor, instance_edge_map
from dagan_tf.models.synthesizer import Synthesizer, example_inputs, seeded_normal, to_uint8_rounded

__all__ = ["NETWORK_KINDS", "SHIPPED_GENERATORS", "CheckpointError", "DAGANNetwork", "NETWORK_ARGUMENTS", "NETWORK_KEYS", "DAGANDiscriminator",
           "DAGANEncoder", "DAGANGenerator", "NLayerDiscriminator", "SemanticPreprocessor", "Synthesizer",
           "build_discriminator", "build_encoder", "build_generator", "config_for_checkpoint",
           "encoder_input_size", "example_inputs", "generator_file", "instance_edge_map", "load_network",
           "network_arguments", "network_kind", "official_weight_layout", "saved_dagan_config", "seeded_normal", "to_uint8_rounded"]
