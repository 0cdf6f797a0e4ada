"""Packaging beyond setup.cfg: the presets and the shipped generators. `configs/` is their one source (a checkout reads it
there); a wheel ships the same files as the package data `dagan_tf/presets/*.yaml`, so
`load_config("ade20k")` works from an installed package too."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["dagan_tf", "dagan_tf.*"]) + ["dagan_tf.presets"],
    package_dir={"dagan_tf.presets": "configs"},
    package_data={
        "dagan_tf.presets": ["*.yaml"],
        # the generators that ship (dagan_tf.models.SHIPPED_GENERATORS; docs/demo_model.md)
        "dagan_tf": ["pretrained/*.keras"],
        # the paint page (dagan-tf paint); the LiteRT.js runtime is not shipped: `npm ci` (README, Mobile demo)
        "dagan_tf.paint": ["static/*.html", "static/*.js", "static/*.css"],
    },
)
