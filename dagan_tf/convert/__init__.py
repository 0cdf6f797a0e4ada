"""Official PyTorch DAGAN checkpoints -> Keras (`load_torch_checkpoint`, `convert_checkpoint`)."""

from dagan_tf.convert.torch_checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    build_network,
    convert_checkpoint,
    infer_network,
    load_torch_checkpoint,
    read_torch_state_dict,
)

__all__ = ["CheckpointError", "CheckpointMismatchError", "build_network", "convert_checkpoint",
           "infer_network", "load_torch_checkpoint", "read_torch_state_dict"]
