"""Why an official checkpoint does not fit a network built from a config: the keys that differ and
the config keys that likely cause it (used by the converter and by fine-tuning's initialisation)."""

from __future__ import annotations

import re

from dagan_tf.models.arguments import config_keys_text

__all__ = ["IGNORED_SUFFIXES", "MAX_LISTED", "hints_for", "mismatch_message"]

#: Buffers of the official files with no counterpart here.
IGNORED_SUFFIXES = (".num_batches_tracked",)
#: Keys listed per kind of difference in a message.
MAX_LISTED = 5


# ---------------------------------------------------------------------------------------------
def _guess_network(keys) -> str | None:
    """Which official network a set of keys comes from, by its characteristic first keys."""
    keys = set(keys)
    if any(k.startswith("discriminator_") for k in keys):
        return "D"
    if any(k.startswith("layer1.") for k in keys) and any(k.startswith("fc_mu.") for k in keys):
        return "E"
    if any(k.startswith("head_0.") for k in keys):
        return "G"
    return None


#: The official networks' letters -> the kinds of `models.arguments` (whose table names the config keys).
_KIND = {"G": "generator", "D": "discriminator", "E": "encoder"}
_NORM_ARGUMENT = {"G": "norm_G", "D": "norm_D", "E": "norm_E"}
_WIDTH_ARGUMENT = {"G": "ngf", "D": "ndf", "E": "ngf"}


def _keys(network: str, *arguments: str) -> str:
    """The config keys behind the network's constructor `arguments` ("'label_nc', ... and 'no_instance'")."""
    return config_keys_text(_KIND[network], *arguments)


def _in_channels(shape):
    return shape[1] if len(shape) >= 2 else None


def _shape_hint(network: str, key: str, want: tuple, got: tuple, has_up_4: bool) -> str | None:
    """The config keys behind one shape mismatch (`want`: config, `got`: checkpoint)."""
    first_layer = (
        key.endswith("mlp_shared.0.weight")
        or (network == "G" and key == "fc.weight" and len(got) == 4 and len(want) == 4)
        or (network == "D" and re.fullmatch(r"discriminator_\d+\.model0\.0\.weight", key))
    )
    if first_layer and _in_channels(want) != _in_channels(got):
        offset = 3 if network == "D" else 0  # D sees concat[semantic map, RGB image]
        return (f"the checkpoint's first layers take {_in_channels(got) - offset} semantic channels, the "
                f"config gives {_in_channels(want) - offset} (semantic_nc): check {_keys(network, 'semantic_nc')}")
    if network == "G" and key == "fc.weight" and len(got) != len(want):
        kind = "dense layer (VAE generator)" if len(got) == 2 else "conv (generator without VAE)"
        return f"the checkpoint's 'fc' is a {kind}: check {_keys(network, 'use_vae')}"
    if network == "G" and key in ("fc.weight", "fc.bias"):
        if key == "fc.weight" and len(got) == 2 and got[1] != want[1]:
            return (f"the checkpoint's z has {got[1]} dimensions, the config's {want[1]}: "
                    f"check {_keys(network, 'z_dim')}")
        return (f"the VAE generator's latent size differs (fc outputs {got[0]} values, the config needs "
                f"{want[0]} = 16*ngf*sh*sw): check {_keys(network, 'latent_hw')} (and {_keys(network, 'ngf')})")
    if network == "E" and key.startswith(("fc_mu.", "fc_var.")):
        if len(got) == 2 and got[0] != want[0]:
            return (f"the checkpoint's encoder gives {got[0]}-dimensional mu/logvar, the config "
                    f"{want[0]}: check {_keys(network, 'z_dim')}")
        return f"the encoder's flattened grid differs: check {_keys(network, 'ngf', 'input_size')}"
    if network == "G" and has_up_4 and key.startswith(("conv_64.", "cab.", "conv_img.")):
        return None  # final_nc follows num_upsampling_layers; said by the up_4 hint
    return (f"layer widths differ (e.g. {key}: checkpoint {got}, config {want}): "
            f"check {_keys(network, _WIDTH_ARGUMENT[network])}")


def _structure_hints(network: str, names: list, common: list) -> list[str]:
    """The config keys behind keys present on one side only (`names`); `common`: keys on both."""
    hints = []
    norm_keys = _keys(network, _NORM_ARGUMENT[network])
    if network == "G" and any(k.startswith("up_4.") for k in names):
        hints.append("only num_upsampling_layers='most' has 'up_4' (and final_nc = ngf/2 for conv_64, "
                     f"cab, conv_img): check {_keys(network, 'num_upsampling_layers')}")
    # the same conv stored raw on one side and spectrally normalised on the other
    raw = {k[: -len(".weight")] for k in names if k.endswith(".weight")}
    if any(k.endswith(".weight_orig") and k[: -len(".weight_orig")] in raw for k in names):
        hints.append(f"spectral normalisation differs ('weight_orig' vs 'weight'): check {norm_keys}")
    # batch-norm tensors on one side only, in a module both sides have
    for k in names:
        if ".running_" in k or (network != "G" and re.search(r"\.1\.(weight|bias)$", k)):
            module = k.rsplit(".", 2)[0]
            if any(c.startswith(module + ".") for c in common):
                hints.append(f"batch-norm statistics present on one side only (batch vs instance norm): "
                             f"check {norm_keys}")
                break

    def one_sided(pattern):  # modules whose keys all sit on one side
        prefixes = {m.group(0) for k in names if (m := re.match(pattern, k))}
        return [p for p in prefixes if not any(c.startswith(p) for c in common)]

    if network == "D" and one_sided(r"discriminator_\d+\."):
        hints.append(f"the number of scales differs: check {_keys(network, 'num_D')}")
    elif network == "D" and one_sided(r"discriminator_\d+\.model\d+\."):
        hints.append(f"the number of layers per scale differs: check {_keys(network, 'n_layers_D')}")
    if network == "E" and any(k.startswith("layer6.") for k in names):
        hints.append(f"the encoder has six layers only when crop_size >= 256 (five below): "
                     f"check {_keys(network, 'input_size')}")
    return hints


def hints_for(network: str, missing, unexpected, mismatched, state_dict) -> list[str]:
    """The config keys that likely cause a mismatch, from what the differences look like."""
    names = list(missing) + list(unexpected)
    common = [k for k in state_dict if k not in unexpected and not k.endswith(IGNORED_SUFFIXES)]
    has_up_4 = any(k.startswith("up_4.") for k in names)
    hints = []
    for text in [_shape_hint(network, k, want, got, has_up_4) for k, want, got in mismatched] \
            + _structure_hints(network, names, common):
        if text and text not in hints:
            hints.append(text)
    guessed = _guess_network(state_dict.keys())
    if guessed and guessed != network:
        hints.insert(0, f"the checkpoint looks like a {guessed} network, not {network}: "
                        f"pass network={guessed!r} (CLI: --network {guessed})")
    return hints


def mismatch_message(source, network, model, missing, unexpected, mismatched, hints) -> str:
    def listing(items, fmt):
        shown = [fmt(i) for i in items[:MAX_LISTED]]
        more = f", ... ({len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else ""
        return ", ".join(shown) + more

    lines = [f"checkpoint {source} does not fit the {network} network built from the config "
             f"({getattr(model, 'name', type(model).__name__)}):"]
    if missing:
        lines.append(f"  missing keys ({len(missing)}): {listing(missing, str)}")
    if unexpected:
        lines.append(f"  unexpected keys ({len(unexpected)}): {listing(unexpected, str)}")
    if mismatched:
        lines.append(f"  shape mismatches ({len(mismatched)}): "
                     + listing(mismatched, lambda m: f"{m[0]} checkpoint {m[2]} vs config {m[1]}"))
    if hints:
        lines.append("  likely cause: " + "; ".join(hints))
    return "\n".join(lines)
