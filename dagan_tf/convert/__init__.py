"""Official PyTorch DAGAN checkpoints -> Keras (`load_torch_checkpoint`, `convert_checkpoint`). Reading
`.pth` files and the torch <-> Keras layouts are `dagan_tf.torch_io`'s."""

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
)

__all__ = ["CheckpointError", "CheckpointMismatchError", "StateDictComparison", "assign_state_dict",
           "build_network", "compare_state_dict", "convert_checkpoint", "infer_network", "load_torch_checkpoint"]
