"""Official PyTorch DAGAN checkpoints -> Keras (`load_torch_checkpoint`, `convert_checkpoint`)."""

from dagan_tf.convert.torch_checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    StateDictComparison,
    assign_state_dict,
    build_network,
    compare_state_dict,
    convert_checkpoint,
    infer_network,
    load_torch_checkpoint,
    read_torch_state_dict,
    to_torch_layout,
)

__all__ = ["CheckpointError", "CheckpointMismatchError", "StateDictComparison", "assign_state_dict",
           "build_network", "compare_state_dict", "convert_checkpoint", "infer_network", "load_torch_checkpoint",
           "read_torch_state_dict", "to_torch_layout"]
