"""Label + instance maps -> the generator's input: one-hot classes (+ dontcare) and the instance edge map.

docs/reference.md, 'The semantic map': one-hot over `config.num_classes` channels (label_nc, plus one when
`contain_dontcare_label`), then, unless `no_instance`, one channel marking instance boundaries. Built with
`keras.ops` only, so the same function runs in the trainer's graph, in the exported serving model and
under every Keras backend. It is pure: no checks at run time (export adds its own), label ids outside
[0, num_classes) give an all-zero one-hot row.
"""

from __future__ import annotations

from keras import ops

__all__ = ["instance_edge_map", "semantic_map"]


def _squeeze_channel(x):
    """(batch, height, width, 1) -> (batch, height, width); (batch, height, width) unchanged."""
    if len(x.shape) == 4:
        return ops.squeeze(x, axis=-1)
    return x


def instance_edge_map(instance, dtype="float32"):
    """Instance boundaries: 1 where a pixel's id differs from its left, right, upper or lower neighbour.

    Both sides of every boundary are marked, as the reference's `get_edges`:
    `edge[..., 1:] |= t[..., 1:] != t[..., :-1]`, `edge[..., :-1] |= (same)`, and likewise vertically.

    Args:
        instance: integer ids, (batch, height, width) or (batch, height, width, 1).
    Returns:
        (batch, height, width) of `dtype`, values 0 or 1.
    """
    t = _squeeze_channel(instance)
    across = ops.cast(ops.not_equal(t[:, :, 1:], t[:, :, :-1]), dtype)  # (batch, height, width - 1)
    down = ops.cast(ops.not_equal(t[:, 1:, :], t[:, :-1, :]), dtype)  # (batch, height - 1, width)
    edge = ops.maximum(ops.pad(across, [[0, 0], [0, 0], [1, 0]]), ops.pad(across, [[0, 0], [0, 0], [0, 1]]))
    edge = ops.maximum(edge, ops.pad(down, [[0, 0], [1, 0], [0, 0]]))
    return ops.maximum(edge, ops.pad(down, [[0, 0], [0, 1], [0, 0]]))


def _one_hot(ids, depth: int, dtype):
    """(batch, height, width) int32 -> (batch, height, width, depth) of `dtype`.

    Integer dtypes (the TFLite export's) are built as a comparison with the class range, not as a
    ONE_HOT op: TFLite's converter folds `cast(one_hot_int, float)` into a float ONE_HOT, which its
    int8 quantizer breaks (about 15 dB PSNR against fp32 instead of about 40 for models without an
    instance map, whose concat with the edge map happened to stop the fold).
    """
    if "int" in str(dtype):
        classes = ops.arange(depth, dtype="int32")
        return ops.cast(ops.equal(ops.expand_dims(ids, -1), classes), dtype)
    return ops.one_hot(ids, depth, axis=-1, dtype=dtype)


def semantic_map(label, instance, config, dtype="float32"):
    """The semantic map fed to the generator, the discriminator and every SPADE layer.

    Args:
        label: integer class ids, (batch, height, width) or (batch, height, width, 1); dontcare pixels
            hold `config.label_nc` (the data pipeline maps them).
        instance: integer instance ids of the same shape, or None when `config.no_instance`.
        config: a DAGANConfig (uses `num_classes` and `no_instance`).
    Returns:
        (batch, height, width, config.semantic_nc) of `dtype`: one-hot classes, then the edge map.
    """
    label = _squeeze_channel(label)
    one_hot = _one_hot(ops.cast(label, "int32"), config.num_classes, dtype)
    if config.no_instance:
        return one_hot
    if instance is None:
        # A programming error caught while tracing, not a run-time check.
        raise ValueError("semantic_map: config.no_instance is false, so an instance map is required (got None)")
    edge = instance_edge_map(instance, dtype=dtype)
    return ops.concatenate([one_hot, ops.expand_dims(edge, -1)], axis=-1)
