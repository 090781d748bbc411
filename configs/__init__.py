"""YAML presets and the strict loader that reads them into config dataclasses.

Presets live beside this file (`tokenizer/tiny.yaml`, ...) and ship with the package.
"""

from arvid.configs.loader import ConfigError, load_config, preset_path, resolve_preset, to_dict

__all__ = ["ConfigError", "load_config", "preset_path", "resolve_preset", "to_dict"]
