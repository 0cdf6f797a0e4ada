"""dagan_tf/cli.py: options, help, version, and one clear last line per error."""

import errno
import os
import re
import shutil
import subprocess
import sys

import pytest

from dagan_tf import __version__
from dagan_tf.cli import _load, build_parser, main
from dagan_tf.files import WriteError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(REPO, "configs", "demo.yaml")


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


def test_set_takes_several_pairs_repeated_or_not():
    args = build_parser().parse_args(["train", "--config", DEMO, "--set", "ngf=16", "batchSize=4",
                                      "--set", "lr=0.001", "--name", "x"])
    assert args.overrides == ["ngf=16", "batchSize=4", "lr=0.001"] and args.name == "x"
    cfg = _load(args)
    assert (cfg.ngf, cfg.batchSize, cfg.lr) == (16, 4, 0.001)


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"dagan-tf {__version__}"


def test_every_option_has_help_and_shows_its_default():
    for name, sub in _subcommands().items():
        text = sub.format_help()
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, (name, action.option_strings)
        assert "--verbose" in text, name
    train = _subcommands()["train"].format_help()
    assert "(default: auto)" in " ".join(train.split()) and "(default: 1)" in train
    export = " ".join(_subcommands()["export"].format_help().split())
    assert 'pip install "dagan-tf[lite]"' in export and "onnx (needs the 'onnx' extra)" in export
    assert "DIR/<next version>/" in export


@pytest.mark.parametrize("error, line", [
    (WriteError(errno.ENOSPC, "cannot write snapshot /r/latest_net_G.keras: no space left on the device"),
     "dagan-tf train: error: cannot write snapshot /r/latest_net_G.keras: no space left on the device"),
    (PermissionError(errno.EACCES, "Permission denied", "/ro/checkpoints"),
     "dagan-tf train: error: /ro/checkpoints: Permission denied"),
    (ValueError("config key 'batchSize': value 64 is larger than the training set"),
     "dagan-tf train: error: config key 'batchSize': value 64 is larger than the training set"),
])
def test_user_errors_end_in_one_line_and_exit_2(monkeypatch, capsys, error, line):
    import dagan_tf.training

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(dagan_tf.training, "run_training", fail)
    assert main(["train", "--config", DEMO]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [line]
    assert main(["train", "--config", DEMO, "--verbose"]) == 2  # --verbose: the traceback too, still exit 2
    verbose = capsys.readouterr().err
    assert "Traceback (most recent call last)" in verbose and verbose.strip().splitlines()[-1] == line


def test_bugs_keep_their_traceback(monkeypatch):
    import dagan_tf.training

    monkeypatch.setattr(dagan_tf.training, "run_training", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        main(["train", "--config", DEMO])


def test_the_command_prints_no_tensorflow_log_lines(tmp_path):
    """The installed `dagan-tf` script: --help and an error, nothing but their own lines on stderr."""
    script = shutil.which("dagan-tf", path=os.path.dirname(sys.executable)) or shutil.which("dagan-tf")
    assert script, "the dagan-tf console script is not installed (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    shown = subprocess.run([script, "--help"], capture_output=True, text=True, env=env, timeout=300)
    assert shown.returncode == 0 and shown.stderr == "" and "COMMAND" in shown.stdout
    missing = str(tmp_path / "missing.yaml")
    failed = subprocess.run([script, "train", "--config", missing], capture_output=True, text=True, env=env,
                            timeout=300)
    assert failed.returncode == 2
    assert failed.stderr.splitlines() == [f"dagan-tf train: error: config file not found: {missing}"]
    noisy = subprocess.run([script, "--verbose", "--help"], capture_output=True, text=True, env=env, timeout=300)
    assert noisy.returncode == 0  # --verbose leaves TensorFlow's own lines alone (they vary by machine)


#: What TensorFlow's C++ start-up writes to stderr (before its logging is configured), and a terminal's
#: escape codes: none of it belongs in a command's output to a file or a pipe.
_NOISE = re.compile(r"\x1b\[|absl::InitializeLog|cudart_stub|cuda_platform|port\.cc|cpu_feature_guard|^[IWE]0000",
                    re.MULTILINE)


@pytest.mark.slow
def test_piped_output_is_plain_lines(tmp_path):
    """`make-demo-data` and `generate` into a pipe: progress as plain lines, no escape codes, no
    TensorFlow log lines."""
    from dagan_tf.config import load_config
    from dagan_tf.models import build_generator

    script = shutil.which("dagan-tf", path=os.path.dirname(sys.executable)) or shutil.which("dagan-tf")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    data = tmp_path / "data"
    made = subprocess.run([script, "make-demo-data", str(data), "--count", "10", "--size", "64"],
                          capture_output=True, text=True, env=env, timeout=300)
    checkpoint = tmp_path / "G.keras"
    build_generator(load_config("demo", {"crop_size": 64, "load_size": 64, "ngf": 8, "dataroot": str(data)})).save(
        checkpoint)
    generated = subprocess.run([script, "generate", "--checkpoint", str(checkpoint), "--dataroot", str(data),
                                "--results-dir", str(tmp_path / "results")],
                               capture_output=True, text=True, env=env, timeout=600)
    for result in (made, generated):
        assert result.returncode == 0, result.stderr[-2000:]
        assert not _NOISE.search(result.stdout + result.stderr), result.stdout + result.stderr
    assert made.stdout.splitlines()[-2] == "10/10 scenes (100%)"
    assert "1/1 images (100%)" in generated.stdout.splitlines()


def test_verbose_shows_the_traceback_and_keeps_the_one_line_and_exit_2(tmp_path, capsys):
    missing = str(tmp_path / "missing.yaml")
    assert main(["--verbose", "train", "--config", missing]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1] == f"dagan-tf train: error: config file not found: {missing}"


def test_a_name_that_leaves_checkpoints_dir_is_refused(tmp_path, capsys):
    argv = ["train", "--config", "demo", "--name", "../escaped", "--set", f"checkpoints_dir={tmp_path / 'ck'}"]
    assert main(argv) == 2
    assert "config key 'name': value '../escaped' must be a plain folder name" in capsys.readouterr().err
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "ck").exists()


def test_choices_are_the_librarys_constants():
    from dagan_tf.export import FORMATS, QUANTIZE_MODES
    from dagan_tf.precision import PRECISIONS
    from dagan_tf.training.strategy import STRATEGIES

    def choices(command, option):
        parser = _subcommands()[command]
        return tuple(next(a for a in parser._actions if option in a.option_strings).choices)

    assert choices("export", "--format") == FORMATS
    assert choices("export", "--quantize") == QUANTIZE_MODES == choices("paint", "--quantize")
    assert choices("export", "--precision") == PRECISIONS == choices("generate", "--precision")
    assert choices("evaluate", "--precision") == PRECISIONS
    assert choices("train", "--strategy") == STRATEGIES
