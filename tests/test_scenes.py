"""dagan_tf.data.scenes: the demo's procedural scenes stay the scenes they were (splitting render_scene into
steps must not change one random draw)."""

import numpy as np

from dagan_tf.data.scenes import render_scene

#: Per scene (0, 0, i) at 64x32: pixels per class, thing instance ids, sum of the photo's bytes,
#: as render_scene drew them before it was split into its _draw_* steps.
PINNED = [
    ([552, 169, 303, 364, 175, 337, 148, 0], [1000, 1001, 1002, 5000, 5001, 5002, 5003, 5004, 5005], 778804),
    ([435, 194, 331, 0, 0, 0, 856, 232], [1000, 1001, 1002], 956166),
    ([716, 72, 236, 246, 398, 176, 204, 0], [1000, 1001, 5000, 5001, 5002, 5003], 796013),
    ([549, 83, 446, 0, 805, 165, 0, 0], [1000, 5000, 5001, 5002, 5003, 5004, 5005], 709632),
]


def test_scenes_are_pinned():
    for i, (counts, things, photo_sum) in enumerate(PINNED):
        label, instance, image = render_scene(np.random.default_rng((0, 0, i)), 32, 64)
        assert np.bincount(label.ravel(), minlength=8).tolist() == counts
        assert sorted(set(np.unique(instance).tolist()) - set(range(8))) == things
        assert int(image.astype(np.int64).sum()) == photo_sum


def test_same_generator_state_same_bytes():
    a = render_scene(np.random.default_rng((3, 1, 9)), 64, 128)
    b = render_scene(np.random.default_rng((3, 1, 9)), 64, 128)
    for x, y in zip(a, b):
        assert x.tobytes() == y.tobytes()
