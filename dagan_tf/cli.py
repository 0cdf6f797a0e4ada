"""`dagan-tf` command line: parse, call one library function, print. No logic lives here.

Each subcommand has one `_cmd_<name>(args)` function; heavy imports happen inside it. Every error a
user can cause ends in one last line, `dagan-tf <command>: error: <what, naming the file, key or
value>`, exit status 2, without a traceback unless `--verbose` (`main`).
"""

from __future__ import annotations

import os
import pathlib
import sys
import traceback

from dagan_tf.cli_parser import build_parser


def _load(args):
    from dagan_tf.config import load_config, parse_overrides

    return load_config(args.config, parse_overrides(args.overrides))


def _load_for_checkpoint(args, kind: str = "generator"):
    """The config saved in `--checkpoint` (or `--config`'s), with `--set` and `--dataroot` on top."""
    from dagan_tf.config import parse_overrides
    from dagan_tf.models.loading import config_for_checkpoint

    cfg = config_for_checkpoint(args.checkpoint, args.config, parse_overrides(args.overrides), kind=kind)
    if getattr(args, "dataroot", None):
        cfg = cfg.replace(dataroot=args.dataroot)
    return cfg


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

    cfg = _load_for_checkpoint(args)
    page = generate_results(
        cfg,
        args.checkpoint,
        results_dir=args.results_dir,
        how_many=args.how_many,
        style_image=args.style,
        seed=args.seed,
        encoder_checkpoint=args.encoder,
        precision=args.precision,
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

    cfg = _load_for_checkpoint(args)
    out = export_generator(
        cfg, args.checkpoint, format=args.format, quantize=args.quantize, out=args.out, name=args.name,
        batch=args.batch, precision=args.precision, force=args.force,
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

    cfg = _load_for_checkpoint(args)
    result = evaluate(
        cfg, args.checkpoint, metrics=args.metrics.split(","), how_many=args.how_many,
        batch_size=args.batch_size, inception_weights=args.inception_weights, segmenter=args.segmenter,
        segmenter_weights=args.segmenter_weights, real_stats=args.real_stats,
        save_real_stats=args.save_real_stats, results_dir=args.results_dir, seed=args.seed, dims=args.dims,
        precision=args.precision,
    )
    print(format_metrics_table(result))
    return 0


#: The function that runs each subcommand.
COMMANDS = {
    "demo": _cmd_demo, "make-demo-data": _cmd_make_demo_data, "train": _cmd_train, "generate": _cmd_generate,
    "convert": _cmd_convert, "export": _cmd_export, "paint": _cmd_paint, "fid": _cmd_fid,
    "evaluate": _cmd_evaluate,
}


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
    if "--verbose" not in (sys.argv[1:] if argv is None else argv):
        # TensorFlow's C++ start-up lines off the user's terminal (the parser's choices import it)
        from dagan_tf.native_logs import quiet_tensorflow_import

        quiet_tensorflow_import()
    args = build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print(f"dagan-tf {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - sorted into user errors (one line) and bugs (traceback)
        line = _error_line(args.command, error)
        if line is None:
            raise
        if verbose:  # the traceback too, and still the user error's one line and exit status
            traceback.print_exc()
        print(line, file=sys.stderr)
        return getattr(error, "exit_code", 2)


if __name__ == "__main__":
    sys.exit(main())
