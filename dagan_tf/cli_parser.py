"""The `dagan-tf` argument parser: every subcommand's options, each with help and its default.

`dagan_tf/cli.py` runs the command a parse names (`COMMANDS`); this module holds no logic. The choices
of --format, --quantize, --precision and --strategy are the library's own constants.
"""

from __future__ import annotations

import argparse

__all__ = ["build_parser"]


class _HelpFormatter(argparse.HelpFormatter):
    """Adds '(default: X)' to an option's help unless its default is empty or already said."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("default" in text or default in (None, False, [], argparse.SUPPRESS)
                or action.option_strings == [] or isinstance(action, argparse._HelpAction)):
            return text
        return f"{text} (default: {default})"


def _common() -> argparse.ArgumentParser:
    """Options every subcommand takes (also accepted after the subcommand's name)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show TensorFlow's log lines and full tracebacks")
    return common


def _add_config_args(p: argparse.ArgumentParser, required: bool = True, in_checkpoint: bool = False) -> None:
    """--config and --set; `in_checkpoint`: the checkpoint carries its config, --config is optional."""
    text = "YAML config file, or a preset's name (ade20k, cityscapes, coco, demo, ...: configs/<name>.yaml)"
    if in_checkpoint:
        text += ("; default: the config saved in the checkpoint, whose network keys always win (needed "
                 "for .keras files saved without one)")
    p.add_argument("--config", required=required and not in_checkpoint, help=text)
    p.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override config keys: --set ngf=16 batchSize=4 (several pairs, the flag repeatable)")


def _demo_options(command) -> None:
    p = command("demo", "make demo data, train a small DAGAN on the CPU, write a results page")
    p.add_argument("--out", default="demo_out", help="output folder for data, checkpoints and results")
    p.add_argument("--minutes", type=float, default=5.0,
                   help="training time budget in minutes (the first step's graph building comes on top)")


def _make_demo_data_options(command) -> None:
    p = command("make-demo-data", "write procedurally generated paired scenes (the 'custom' layout)")
    p.add_argument("out_dir", help="folder to write train_label/, train_img/, train_inst/ and val_* into")
    p.add_argument("--count", type=int, default=200, help="number of training scenes")
    p.add_argument("--size", type=int, default=256, help="image width in pixels (height is half)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the scenes")


def _train_options(command) -> None:
    p = command("train", "train DAGAN (model.fit under a tf.distribute strategy); rerun to resume")
    _add_config_args(p)
    p.add_argument("--name", default=None, help="experiment name: the run folder under checkpoints_dir "
                   "(default: the config's 'name')")
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop once the run has done this many iterations (default: all epochs)")
    from dagan_tf.training.strategy import STRATEGIES

    p.add_argument("--strategy", choices=STRATEGIES, default="auto",
                   help="auto: every local GPU, else the CPU; multiworker: the cluster in TF_CONFIG")
    p.add_argument("--mixed-precision", action="store_true",
                   help="mixed_float16 on GPU, mixed_bfloat16 on CPU (losses stay float32)")
    p.add_argument("--jit-compile", action="store_true", help="compile the train step with XLA")
    p.add_argument("--steps-per-execution", type=int, default=1, help="train steps per tf.function call")
    fine = p.add_argument_group("fine-tuning (a new run starting from trained weights; optimisers, step and lr "
                                "schedule start fresh)")
    fine.add_argument("--init-from", default=None, metavar="PATH",
                      help="a run folder (its latest_net_*.keras), a generator .keras file, or an official "
                           "*_net_G.pth (needs the 'torch' extra)")
    fine.add_argument("--init-epoch", type=int, default=None, metavar="N",
                      help="with a run folder: its N_net_*.keras snapshots instead of latest_net_*")
    fine.add_argument("--init-D", default=None, metavar="FILE", help="discriminator .keras / _net_D.pth")
    fine.add_argument("--init-E", default=None, metavar="FILE", help="encoder .keras / _net_E.pth (use_vae)")
    fine.add_argument("--init-partial", action="store_true",
                      help="load the weights whose names and shapes match and initialise the rest "
                           "(another class set); prints what was loaded, re-initialised and missing")


#: What --checkpoint takes where a generator is read (`dagan_tf.models.generator_file`).
_GENERATOR_HELP = ("generator .keras file, a run folder (its latest_net_G.keras), or a shipped model's name "
                   "(demo: trained by this project, docs/demo_model.md)")


def _port(text: str) -> int:
    """A TCP port for --port: 0 (any free one) .. 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0..65535)") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0..65535; 0 picks a free one)")
    return port


def _add_precision_arg(p: argparse.ArgumentParser) -> None:
    from dagan_tf.precision import PRECISIONS

    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="generator arithmetic: bf16 runs the convolutions in bfloat16 on CPUs with "
                        "AVX512-BF16/AMX units (refused elsewhere, where it would be emulated), norms, residual "
                        "sums and the output head stay float32 (default: fp32)")


def _generate_options(command) -> None:
    p = command("generate", "generate images for the test split and an index.html results page")
    _add_config_args(p, in_checkpoint=True)
    p.add_argument("--checkpoint", required=True, help=_GENERATOR_HELP)
    p.add_argument("--encoder", default=None, help="encoder .keras file (use_vae: style from each photo)")
    p.add_argument("--dataroot", default=None, help="dataset folder (default: the config's dataroot)")
    p.add_argument("--results-dir", default=None, help="results root: the page goes to RESULTS_DIR/<name>/test_<epoch>/ "
                   "(default: the config's results_dir)")
    p.add_argument("--how-many", type=int, default=None, help="at most this many images (default: all)")
    p.add_argument("--style", default=None, help="style image whose encoding is used for every label map")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled z (use_vae without --encoder)")
    _add_precision_arg(p)


def _convert_options(command) -> None:
    p = command("convert", "official PyTorch .pth checkpoint -> .keras (needs the 'torch' extra)")
    _add_config_args(p)
    p.add_argument("--checkpoint", required=True, help="<epoch>_net_G.pth / _net_D.pth / _net_E.pth")
    p.add_argument("--network", choices=["G", "D", "E"], default=None,
                   help="which network (default: from the file name)")
    p.add_argument("--out", required=True, help="output .keras file")


def _export_options(command) -> None:
    from dagan_tf.export import FORMATS, QUANTIZE_MODES

    p = command("export", "export a generator for serving: SavedModel, TFLite or ONNX")
    _add_config_args(p, in_checkpoint=True)
    p.add_argument("--checkpoint", required=True, help=_GENERATOR_HELP)
    p.add_argument("--format", choices=FORMATS, default="saved_model",
                   help="saved_model (TF Serving; built in), tflite (needs the 'lite' extra: "
                        "pip install \"dagan-tf[lite]\"), onnx (needs the 'onnx' extra), keras (the generator "
                        "with its config, for distribution)")
    p.add_argument("--quantize", choices=QUANTIZE_MODES, default="none",
                   help="tflite: fp16 halves the file, int8 quarters it; keras: fp16 stores the weights as "
                        "float16 (half the file, computed in float32)")
    p.add_argument("--batch", type=int, default=None,
                   help="TFLite: a fixed batch size (the paint page uses 1; default: dynamic)")
    p.add_argument("--out", default=None, help="saved_model: the model folder DIR, written as DIR/<next "
                   "version>/ (TF Serving's --model_base_path; default saved_models/<name>); tflite/onnx/keras: the "
                   "file (default saved_models/<name>[_fp16|_int8].tflite, saved_models/<name>.onnx, "
                   "saved_models/<name>[_fp16].keras)")
    p.add_argument("--name", default=None, help="model name for the TF Serving layout (default: the config's name)")
    p.add_argument("--force", action="store_true",
                   help="overwrite an existing --out file that is no file of the format (default: refuse)")
    _add_precision_arg(p)


def _paint_options(command) -> None:
    from dagan_tf.export import QUANTIZE_MODES

    p = command("paint", "paint-to-photo web page: the TFLite generator runs in the browser (LiteRT.js)")
    _add_config_args(p, required=False)
    p.add_argument("--checkpoint", default="demo", help=f"{_GENERATOR_HELP}; or a batch-1 .tflite")
    p.add_argument("--quantize", choices=QUANTIZE_MODES, default=None,
                   help="TFLite export of a .keras generator (default: int8, a quarter of the fp32 file; a "
                        ".tflite is served as it is)")
    p.add_argument("--site", default=None, help="site folder (default: paint_site/ beside the checkpoint; for a "
                   "shipped model ~/.cache/dagan_tf/paint/<name>)")
    p.add_argument("--port", type=_port, default=8000, help="port, 0 for a free one (default: 8000)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on; 0.0.0.0 for phones (default: 127.0.0.1)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser (default: open one)")


def _fid_options(command) -> None:
    p = command("fid", "FID between two image folders (or a folder and a .npz), as pytorch-fid")
    p.add_argument("path_a", help="image folder, or pytorch-fid .npz statistics")
    p.add_argument("path_b", nargs="?", default=None,
                   help="image folder or .npz (default: none; then --real-stats is required)")
    p.add_argument("--dims", type=int, choices=[64, 192, 768, 2048], default=2048,
                   help="Inception feature block (default: 2048, pool3)")
    p.add_argument("--inception-weights", default=None,
                   help="pt_inception-2015-12-05-6726825d.pth or a converted .weights.h5 "
                        "(default: the published file, downloaded once into the Keras cache)")
    p.add_argument("--batch-size", type=int, default=50, help="images per Inception call (default: 50)")
    p.add_argument("--real-stats", default=None, help="statistics .npz used in place of path_b (default: none)")
    p.add_argument("--save-real-stats", default=None,
                   help="write path_b's statistics to this .npz for later --real-stats (default: none)")


def _evaluate_options(command) -> None:
    p = command("evaluate", "generate the test split and compute FID, KID, mIoU, accuracy")
    _add_config_args(p, in_checkpoint=True)
    p.add_argument("--checkpoint", required=True, help=_GENERATOR_HELP)
    p.add_argument("--dataroot", default=None, help="dataset root (default: the config's)")
    p.add_argument("--results-dir", default=None, help="results root: the page and metrics.json go to "
                   "RESULTS_DIR/<name>/test_<epoch>/ (default: the config's results_dir)")
    p.add_argument("--metrics", default="fid,kid,miou,acc",
                   help="comma-separated subset of fid,kid,miou,acc (default: fid,kid,miou,acc)")
    p.add_argument("--how-many", type=int, default=None, help="test images to use (default: all)")
    p.add_argument("--batch-size", type=int, default=50, help="images per Inception call (default: 50)")
    p.add_argument("--inception-weights", default=None,
                   help="FID Inception weights (default: the published file, downloaded once)")
    p.add_argument("--segmenter", default=None,
                   help="segmenter name for miou/acc (default: the dataset's, e.g. drn_d_105 for cityscapes)")
    p.add_argument("--segmenter-weights", default=None,
                   help="segmenter's official .pth or converted weights (default: none; needed for miou/acc)")
    p.add_argument("--real-stats", default=None, help="real photos' FID statistics .npz (default: computed)")
    p.add_argument("--save-real-stats", default=None, help="write the real photos' statistics here (default: none)")
    p.add_argument("--dims", type=int, choices=[64, 192, 768, 2048], default=2048,
                   help="Inception feature block for FID/KID (default: 2048, the papers' pool3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the VAE noise and KID subsets (default: 0)")
    _add_precision_arg(p)


def build_parser() -> argparse.ArgumentParser:
    """The `dagan-tf` parser; each subcommand's options come from its `_<name>_options`."""
    from dagan_tf import __version__

    common = _common()
    parser = argparse.ArgumentParser(
        prog="dagan-tf", description="DAGAN semantic image synthesis in TensorFlow / Keras 3",
        parents=[common], formatter_class=_HelpFormatter,
        epilog="'dagan-tf COMMAND --help' describes each command's options.",
    )
    parser.add_argument("--version", action="version", version=f"dagan-tf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help_text):
        return sub.add_parser(name, help=help_text, description=help_text, parents=[common],
                              formatter_class=_HelpFormatter)

    _demo_options(command)
    _make_demo_data_options(command)
    _train_options(command)
    _generate_options(command)
    _convert_options(command)
    _export_options(command)
    _paint_options(command)
    _fid_options(command)
    _evaluate_options(command)
    return parser
