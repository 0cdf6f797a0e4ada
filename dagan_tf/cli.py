"""`dagan-tf` command line: parse, call one library function, print. No logic lives here.

Each subcommand has one `_cmd_<name>(args)` function; heavy imports happen inside it. Every error a
user can cause ends in one last line, `dagan-tf <command>: error: <what, naming the file, key or
value>`, exit status 2, without a traceback unless `--verbose` (`main`).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys


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


def _add_config_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--config", required=required,
                   help="YAML config file (the presets are configs/<dataset>.yaml)")
    p.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override config keys: --set ngf=16 batchSize=4 (several pairs, the flag repeatable)")


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
    init = None
    if args.init_from:
        from dagan_tf.training.init_from import resolve_init_source

        init = resolve_init_source(args.init_from, args.init_epoch, args.init_D, args.init_E)
    elif args.init_epoch is not None or args.init_D or args.init_E or args.init_partial:
        raise ValueError("--init-epoch, --init-D, --init-E and --init-partial go with --init-from")
    run_training(
        cfg,
        max_steps=args.max_steps,
        strategy=args.strategy,
        mixed_precision=args.mixed_precision,
        jit_compile=args.jit_compile,
        steps_per_execution=args.steps_per_execution,
        init=init,
        init_partial=args.init_partial,
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
    print(page.summary)
    print(page)
    return 0


def _cmd_demo(args) -> int:
    from dagan_tf.training.demo import run_demo

    page = run_demo(out_dir=args.out, minutes=args.minutes)
    print(f"results page: {pathlib.Path(os.path.abspath(page)).as_uri()}")
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
        cfg, args.checkpoint, format=args.format, quantize=args.quantize, out=args.out, name=args.name,
        batch=args.batch,
    )
    if args.format == "saved_model":
        base = os.path.dirname(os.path.abspath(out))
        print(f"wrote version {os.path.basename(out)} of the SavedModel: {out} "
              f"(TF Serving: --model_base_path={base})")
    else:
        print(f"wrote {out}")
    return 0


def _cmd_paint(args) -> int:
    from dagan_tf.paint import serve_paint

    serve_paint(args.checkpoint, _load(args) if args.config else None, quantize=args.quantize, site_dir=args.site,
                host=args.host, port=args.port, open_browser=not args.no_browser)
    return 0


def build_parser() -> argparse.ArgumentParser:
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

    p = command("demo", "make demo data, train a small DAGAN on the CPU, write a results page")
    p.add_argument("--out", default="demo_out", help="output folder for data, checkpoints and results")
    p.add_argument("--minutes", type=float, default=5.0,
                   help="training time budget in minutes (the first step's graph building comes on top)")
    p.set_defaults(func=_cmd_demo)

    p = command("make-demo-data", "write procedurally generated paired scenes (the 'custom' layout)")
    p.add_argument("out_dir", help="folder to write train_label/, train_img/, train_inst/ and val_* into")
    p.add_argument("--count", type=int, default=200, help="number of training scenes")
    p.add_argument("--size", type=int, default=256, help="image width in pixels (height is half)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the scenes")
    p.set_defaults(func=_cmd_make_demo_data)

    p = command("train", "train DAGAN (model.fit under a tf.distribute strategy); rerun to resume")
    _add_config_args(p)
    p.add_argument("--name", default=None, help="experiment name: the run folder under checkpoints_dir "
                   "(default: the config's 'name')")
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop once the run has done this many iterations (default: all epochs)")
    p.add_argument("--strategy", choices=["auto", "mirrored", "multiworker", "default"], default="auto",
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
    p.set_defaults(func=_cmd_train)

    p = command("generate", "generate images for the test split and an index.html results page")
    _add_config_args(p)
    p.add_argument("--checkpoint", required=True, help="generator .keras file")
    p.add_argument("--encoder", default=None, help="encoder .keras file (use_vae: style from each photo)")
    p.add_argument("--dataroot", default=None, help="dataset folder (default: the config's dataroot)")
    p.add_argument("--results-dir", default=None, help="output folder (default: the config's results_dir/name)")
    p.add_argument("--how-many", type=int, default=None, help="at most this many images (default: all)")
    p.add_argument("--style", default=None, help="style image whose encoding is used for every label map")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled z (use_vae without --encoder)")
    p.set_defaults(func=_cmd_generate)

    p = command("convert", "official PyTorch .pth checkpoint -> .keras (needs the 'torch' extra)")
    _add_config_args(p)
    p.add_argument("--checkpoint", required=True, help="<epoch>_net_G.pth / _net_D.pth / _net_E.pth")
    p.add_argument("--network", choices=["G", "D", "E"], default=None,
                   help="which network (default: from the file name)")
    p.add_argument("--out", required=True, help="output .keras file")
    p.set_defaults(func=_cmd_convert)

    p = command("export", "export a generator for serving: SavedModel, TFLite or ONNX")
    _add_config_args(p)
    p.add_argument("--checkpoint", required=True, help="generator .keras file")
    p.add_argument("--format", choices=["saved_model", "tflite", "onnx"], default="saved_model",
                   help="saved_model (TF Serving; built in), tflite (needs the 'lite' extra: "
                        "pip install \"dagan-tf[lite]\"), onnx (needs the 'onnx' extra)")
    p.add_argument("--quantize", choices=["none", "fp16", "int8"], default="none",
                   help="TFLite weights: fp16 halves the file, int8 quarters it")
    p.add_argument("--batch", type=int, default=None,
                   help="TFLite: a fixed batch size (the paint page uses 1; default: dynamic)")
    p.add_argument("--out", default=None, help="saved_model: the model folder DIR, written as DIR/<next "
                   "version>/ (TF Serving's --model_base_path); tflite/onnx: the file "
                   "(default: saved_models/<name>/)")
    p.add_argument("--name", default=None, help="model name for the TF Serving layout (default: the config's name)")
    p.set_defaults(func=_cmd_export)

    p = command("paint", "paint-to-photo web page: the TFLite generator runs in the browser (LiteRT.js)")
    _add_config_args(p, required=False)
    p.add_argument("--checkpoint", required=True, help="generator .keras file, or a batch-1 .tflite")
    p.add_argument("--quantize", choices=["none", "fp16", "int8"], default="none",
                   help="TFLite export of a .keras generator (default: none)")
    p.add_argument("--site", default=None, help="site folder (default: paint_site/ beside the checkpoint)")
    p.add_argument("--port", type=int, default=8000, help="port, 0 for a free one (default: 8000)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on; 0.0.0.0 for phones (default: 127.0.0.1)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser (default: open one)")
    p.set_defaults(func=_cmd_paint)
    return parser


def _error_line(command: str, error: BaseException) -> str | None:
    """The one line for an error a user can cause (a file, key or value at fault), else None."""
    from dagan_tf.config import ConfigError
    from dagan_tf.training.interrupt import TrainingInterrupted
    from dagan_tf.training.lock import RunLockedError

    if isinstance(error, TrainingInterrupted):
        return f"dagan-tf {command}: {error}"
    if isinstance(error, (ConfigError, ValueError, RunLockedError)):
        return f"dagan-tf {command}: error: {error}"
    if isinstance(error, OSError):  # ours carry the message as strerror; the system's name the file
        text = error.strerror or str(error)
        where = f"{error.filename}: " if error.filename and str(error.filename) not in text else ""
        return f"dagan-tf {command}: error: {where}{text}"
    from dagan_tf.data import data_error_from

    cause = data_error_from(error)  # a bad data file behind a TensorFlow error
    return f"dagan-tf {command}: error: {cause}" if cause is not None else None


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"dagan-tf {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - sorted into user errors (one line) and bugs (traceback)
        line = _error_line(args.command, error)
        if line is None or verbose:
            raise
        print(line, file=sys.stderr)
        return getattr(error, "exit_code", 2)


if __name__ == "__main__":
    sys.exit(main())
