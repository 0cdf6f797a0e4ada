"""`dagan-tf` command line: parse, call one library function, print. No logic lives here.

Each subcommand has one `_cmd_<name>(args)` function; heavy imports happen inside it so that
`dagan-tf --help` is fast.
"""

from __future__ import annotations

import argparse
import sys


def _add_config_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--config", required=required, help="YAML config (configs/*.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable), e.g. --set ngf=16")


def _load(args):
    from dagan_tf.config import load_config, parse_overrides

    return load_config(args.config, parse_overrides(args.overrides))


def _cmd_make_demo_data(args) -> int:
    from dagan_tf.data.demo import write_demo_dataset

    summary = write_demo_dataset(args.out_dir, count=args.count, size=args.size, seed=args.seed)
    print(summary)
    return 0


def _cmd_train(args) -> int:
    from dagan_tf.training import run_training

    cfg = _load(args)
    if args.name:
        cfg = cfg.replace(name=args.name)
    run_training(
        cfg,
        max_steps=args.max_steps,
        strategy=args.strategy,
        mixed_precision=args.mixed_precision,
        jit_compile=args.jit_compile,
        steps_per_execution=args.steps_per_execution,
    )
    return 0


def _cmd_generate(args) -> int:
    from dagan_tf.generate import generate_results

    cfg = _load(args)
    if args.dataroot:
        cfg = cfg.replace(dataroot=args.dataroot)
    page = generate_results(
        cfg,
        args.checkpoint,
        results_dir=args.results_dir,
        how_many=args.how_many,
        style_image=args.style,
        seed=args.seed,
        encoder_checkpoint=args.encoder,
    )
    print(page)
    return 0


def _cmd_demo(args) -> int:
    from dagan_tf.training.demo import run_demo

    page = run_demo(out_dir=args.out, minutes=args.minutes)
    print(f"results page: {page}")
    return 0


def _cmd_convert(args) -> int:
    from dagan_tf.convert import convert_checkpoint

    cfg = _load(args)
    out = convert_checkpoint(cfg, args.checkpoint, args.out, network=args.network)
    print(out)
    return 0


def _cmd_export(args) -> int:
    from dagan_tf.export import export_generator

    cfg = _load(args)
    out = export_generator(
        cfg, args.checkpoint, format=args.format, quantize=args.quantize, out=args.out, name=args.name
    )
    print(out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dagan-tf", description="DAGAN semantic image synthesis in TensorFlow / Keras 3"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="make demo data, train a small DAGAN on the CPU, write a results page")
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--minutes", type=float, default=5.0, help="training time budget (default: 5)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("make-demo-data", help="write procedurally generated paired scenes")
    p.add_argument("out_dir")
    p.add_argument("--count", type=int, default=200, help="number of scenes (default: 200)")
    p.add_argument("--size", type=int, default=256, help="image width in pixels (default: 256)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_make_demo_data)

    p = sub.add_parser("train", help="train DAGAN (model.fit under a tf.distribute strategy)")
    _add_config_args(p)
    p.add_argument("--name", default=None, help="experiment name (folder under checkpoints_dir)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many iterations")
    p.add_argument("--strategy", choices=["auto", "mirrored", "multiworker", "default"], default="auto")
    p.add_argument("--mixed-precision", action="store_true")
    p.add_argument("--jit-compile", action="store_true", help="compile train_step with XLA")
    p.add_argument("--steps-per-execution", type=int, default=1)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("generate", help="generate images and an index.html results page")
    _add_config_args(p)
    p.add_argument("--checkpoint", required=True, help="generator .keras file")
    p.add_argument("--encoder", default=None, help="encoder .keras file (use_vae)")
    p.add_argument("--dataroot", default=None)
    p.add_argument("--results-dir", default=None)
    p.add_argument("--how-many", type=int, default=None)
    p.add_argument("--style", default=None, help="style image whose encoding is used for every label map")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("convert", help="official PyTorch .pth checkpoint -> .keras")
    _add_config_args(p)
    p.add_argument("--checkpoint", required=True, help="<epoch>_net_G.pth / _net_D.pth / _net_E.pth")
    p.add_argument("--network", choices=["G", "D", "E"], default=None,
                   help="which network (default: from the file name)")
    p.add_argument("--out", required=True, help="output .keras file")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("export", help="export a generator for serving: SavedModel, TFLite or ONNX")
    _add_config_args(p)
    p.add_argument("--checkpoint", required=True, help="generator .keras file")
    p.add_argument("--format", choices=["saved_model", "tflite", "onnx"], default="saved_model")
    p.add_argument("--quantize", choices=["none", "fp16", "int8"], default="none")
    p.add_argument("--out", default=None, help="output path (default: saved_models/<name>/<version>)")
    p.add_argument("--name", default=None, help="model name for the TF Serving layout")
    p.set_defaults(func=_cmd_export)

    # --- evaluation: `fid` and `evaluate` (dagan_tf/evaluation/) ---
    p = sub.add_parser("fid", help="FID between two image folders (or a folder and a .npz), as pytorch-fid")
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
    p.set_defaults(func=_cmd_fid)

    p = sub.add_parser("evaluate", help="generate the test split and compute FID, KID, mIoU, accuracy")
    _add_config_args(p)
    p.add_argument("--checkpoint", required=True, help="generator .keras file")
    p.add_argument("--dataroot", default=None, help="dataset root (default: the config's)")
    p.add_argument("--results-dir", default=None, help="results root (default: the config's results_dir)")
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
    p.set_defaults(func=_cmd_evaluate)
    return parser


def _cmd_fid(args) -> int:
    from dagan_tf.evaluation.fid import fid_of_paths

    if (args.path_b is None) == (args.real_stats is None):
        raise ValueError("give exactly one of path_b and --real-stats")
    value = fid_of_paths(args.path_a, args.path_b or args.real_stats, dims=args.dims,
                         weights=args.inception_weights, batch_size=args.batch_size,
                         save_stats_b=args.save_real_stats)
    print(f"FID: {value}")
    return 0


def _cmd_evaluate(args) -> int:
    from dagan_tf.evaluation.evaluate import evaluate, format_metrics_table

    cfg = _load(args)
    if args.dataroot:
        cfg = cfg.replace(dataroot=args.dataroot)
    result = evaluate(
        cfg, args.checkpoint, metrics=args.metrics.split(","), how_many=args.how_many,
        batch_size=args.batch_size, inception_weights=args.inception_weights, segmenter=args.segmenter,
        segmenter_weights=args.segmenter_weights, real_stats=args.real_stats,
        save_real_stats=args.save_real_stats, results_dir=args.results_dir, seed=args.seed, dims=args.dims,
    )
    print(format_metrics_table(result))
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from dagan_tf.config import ConfigError

    try:
        return args.func(args)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print(f"dagan-tf {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
