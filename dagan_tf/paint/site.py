"""Write the paint site: a self-contained static folder any static host can serve.

    site/
      index.html, paint.js, model.js, labelmap.js, style.css   the page (dagan_tf/paint/static)
      litertjs/                           the LiteRT.js runtime (runtime.py; from npm, pinned)
      model.tflite                        the generator, batch 1
      classes.json                        classes (file value, name, colour, thing?), size, inputs
      scenes/NN.label.bin, NN.instance.bin  "random scene" maps, raw little-endian int32 (H, W)
      .dagan_paint_site.json              the files written here: the only ones the server serves

The folder is the site's own: `write_site` refuses a folder that holds files it did not write (no
manifest), so `dagan-tf paint --site DIR` never replaces or publishes anybody else's files.

The random scenes are pre-rendered here in Python (`export.tflite.representative_examples`: the
config's own data where present, else the demo data generator's scenes at the model's size)
rather than ported to JavaScript: the page then shows exactly the maps the model was calibrated
and trained on, for every dataset, and there is no second copy of the scene logic to keep in step.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil

import numpy as np

from dagan_tf.config import DAGANConfig
from dagan_tf.files import atomic_path
from dagan_tf.paint.runtime import copy_runtime
from dagan_tf.visualize import label_palette

__all__ = ["INSTANCE_STRIDE", "MODEL_FILE", "SCENE_COUNT", "SITE_MANIFEST", "add_to_site", "claim_site", "class_table",
           "open_site", "site_files", "write_site"]

MODEL_FILE = "model.tflite"
#: The list of files `write_site` wrote (JSON), the server's whitelist; its presence marks the folder as a site.
SITE_MANIFEST = ".dagan_paint_site.json"
STATIC_DIR = pathlib.Path(__file__).resolve().parent / "static"
#: Scenes written for the "random scene" button.
SCENE_COUNT = 8
#: Instance id of the k-th painted thing of class value v: v * INSTANCE_STRIDE + k (Cityscapes'
#: convention, as the demo data's instance maps); stuff pixels hold their class value.
INSTANCE_STRIDE = 1000


def claim_site(site_dir) -> pathlib.Path:
    """`site_dir` as a path, checked (nothing is created): ValueError naming it when it is a file, or a
    folder that holds files but no site manifest (`dagan-tf paint` did not write it: it would replace
    and publish them)."""
    site = pathlib.Path(site_dir)
    if site.exists() and not site.is_dir():
        raise ValueError(f"--site {site} is a file; give a folder for the paint site")
    if site.is_dir() and not (site / SITE_MANIFEST).is_file():
        present = sorted(p.name for p in site.iterdir())
        if present:
            shown = ", ".join(present[:3]) + (", ..." if len(present) > 3 else "")
            raise ValueError(f"--site {site} holds files dagan-tf paint did not write ({shown}); give a new or "
                             "empty folder: the site is written into it and served")
    return site


def open_site(site_dir) -> pathlib.Path:
    """`claim_site`, then the folder created and marked as a site (an empty manifest) if it is not yet:
    call it before writing anything into it."""
    site = claim_site(site_dir)
    site.mkdir(parents=True, exist_ok=True)
    if not (site / SITE_MANIFEST).is_file():
        _write_manifest(site, [])
    return site


def site_files(site_dir) -> set[str]:
    """The files of a site (paths relative to it, '/'-separated) that `write_site` wrote; ValueError when
    the folder holds no site manifest."""
    manifest = pathlib.Path(site_dir) / SITE_MANIFEST
    if not manifest.is_file():
        raise ValueError(f"{site_dir} is no paint site (no {SITE_MANIFEST}): write it with write_site")
    return set(json.loads(manifest.read_text()))


def _write_manifest(site: pathlib.Path, files) -> None:
    _write_json(site / SITE_MANIFEST, sorted(set(files)))


def add_to_site(site_dir, source, name: str) -> pathlib.Path:
    """Copy `source` into the site as `name` and list it in the manifest (e.g. more models for a bench)."""
    site = pathlib.Path(site_dir)
    files = site_files(site)
    shutil.copyfile(source, site / name)
    _write_manifest(site, files | {name})
    return site / name


def _names_and_things(config: DAGANConfig) -> tuple[list[str], set[str]]:
    """Class names by id and the countable ('thing') classes, for the datasets whose names we know
    (the dataset registry's); other datasets get 'class i' and no things (every stroke then joins its
    class's one region)."""
    from dagan_tf.data.registry import class_names

    return class_names(config)


def class_table(config: DAGANConfig) -> list[dict]:
    """One dict per paintable class: id, value (what the model's `label` input takes), name,
    colour [r, g, b] (the results pages' palette), thing (gets its own instance per stroke)."""
    from dagan_tf.data.registry import label_values

    names, things = _names_and_things(config)
    palette = label_palette(config)
    ids = list(range(config.label_nc)) + ([config.label_nc] if config.contain_dontcare_label else [])
    values = label_values(config).file_values(np.array(ids), config.label_nc)
    return [{"id": i, "value": int(v), "name": names[i] if i < config.label_nc else "dontcare",
             "colour": [int(c) for c in palette[i]], "thing": i < config.label_nc and names[i] in things}
            for i, v in zip(ids, values)]


def _write_scenes(site: pathlib.Path, config: DAGANConfig, count: int) -> list[dict]:
    from dagan_tf.export.tflite import representative_examples

    folder = site / "scenes"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    scenes = []
    for i, example in enumerate(representative_examples(config, count)):
        entry = {}
        for key in ("label", "instance"):
            if key in example:
                name = f"scenes/{i:02d}.{key}.bin"
                np.asarray(example[key], "<i4").tofile(site / name)
                entry[key] = name
        scenes.append(entry)
    return scenes


def _write_json(path: pathlib.Path, data) -> None:
    with atomic_path(path, what="paint site file") as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=1))


def write_site(site_dir, model_path, config: DAGANConfig, *, scene_count: int = SCENE_COUNT,
               node_modules=None) -> pathlib.Path:
    """Write (or refresh) the site in `site_dir` around the batch-1 `.tflite` at `model_path`
    (copied to `site_dir/model.tflite` unless it is that file); returns the folder."""
    site = open_site(site_dir)
    for item in STATIC_DIR.iterdir():
        if item.is_file():
            shutil.copyfile(item, site / item.name)
    version = copy_runtime(site, node_modules)
    target = site / MODEL_FILE
    if not (target.exists() and os.path.samefile(model_path, target)):
        shutil.copyfile(model_path, target)
    h, w = config.image_hw
    _write_json(site / "classes.json", {
        "name": config.name,
        "dataset_mode": config.dataset_mode,
        "height": h,
        "width": w,
        "classes": class_table(config),
        "eraser_value": class_table(config)[-1 if config.contain_dontcare_label else 0]["value"],
        "instances": not config.no_instance,
        "instance_stride": INSTANCE_STRIDE,
        "use_vae": bool(config.use_vae),
        "model": MODEL_FILE,
        "model_bytes": target.stat().st_size,
        "scenes": _write_scenes(site, config, scene_count),
        "litertjs": version,
    })
    written = [item.name for item in STATIC_DIR.iterdir() if item.is_file()] + [MODEL_FILE, "classes.json"]
    written += [p.relative_to(site).as_posix() for folder in ("litertjs", "scenes")
                for p in (site / folder).rglob("*") if p.is_file()]
    _write_manifest(site, written)
    return site
