"""The norm strings of the reference's options: one parser for `norm_G`, `norm_D` and `norm_E`.

- `norm_G` (SPADE): an optional `spectral` prefix, then `spade<norm><k>x<k>`, e.g.
  'spectralspadesyncbatch3x3'. The reference reads only the first k (`spade(\\D+)(\\d)x\\d`); we also
  require the second to equal it and k to be odd, so the SPADE convs (padding k // 2) keep the map's size.
- `norm_D` / `norm_E` (plain): an optional `spectral` prefix, then `instance`, `batch`, `syncbatch` or
  `none`, e.g. 'spectralinstance'.

The config's validation (`config_checks`), the SPADE layer and ConvNorm all parse through here.
Errors are ValueErrors whose message starts with `subject` (what the string is: a config key or a
layer argument), then the value and what is allowed.
"""

from __future__ import annotations

import re

__all__ = ["PLAIN_NORM_PATTERN", "SPADE_NORM_PATTERN", "parse_plain_norm", "parse_spade_norm"]

#: `norm_G` strings: groups (spectral prefix or None, norm, first k, second k).
SPADE_NORM_PATTERN = re.compile(r"^(spectral)?spade(syncbatch|batch|instance)(\d)x(\d)$")
#: `norm_D` / `norm_E` strings: groups (spectral prefix or None, norm or 'none').
PLAIN_NORM_PATTERN = re.compile(r"^(spectral)?(syncbatch|batch|instance|none)$")


def parse_spade_norm(text: str, subject: str = "config key 'norm_G'") -> tuple[bool, str, int]:
    """'spectralspadesyncbatch3x3' -> (True, 'syncbatch', 3): (spectral, parameter-free norm, kernel).

    Raises ValueError `"<subject>: value ..."` for anything else, also for a kernel that is not
    written `<k>x<k>` with one odd k.
    """
    match = SPADE_NORM_PATTERN.match(text)
    if match is None:
        raise ValueError(
            f"{subject}: value {text!r} is not a SPADE norm string; expected "
            "'[spectral]spade<syncbatch|batch|instance><k>x<k>', e.g. 'spectralspadesyncbatch3x3'")
    kernel, kernel_w = int(match.group(3)), int(match.group(4))
    if kernel != kernel_w or kernel % 2 == 0:
        raise ValueError(
            f"{subject}: value {text!r} has kernel {kernel}x{kernel_w}; SPADE kernels are square and "
            f"odd (1x1, 3x3, 5x5, 7x7 or 9x9), e.g. '{text[:match.start(3)]}3x3'")
    return match.group(1) is not None, match.group(2), kernel


def parse_plain_norm(text: str, subject: str = "config key 'norm_D'") -> tuple[bool, str]:
    """'spectralinstance' -> (True, 'instance'): (spectral, norm or 'none').

    Raises ValueError `"<subject>: value ..."` for anything else.
    """
    match = PLAIN_NORM_PATTERN.match(text)
    if match is None:
        raise ValueError(
            f"{subject}: value {text!r} is not allowed; expected "
            "'[spectral]<syncbatch|batch|instance|none>', e.g. 'spectralinstance'")
    return match.group(1) is not None, match.group(2)
