"""Training configs: the handoff's layout, field rules, presets, parsing and templates,
layering with origins, and the mapping onto the trainer's real inputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.lazy import lazy_exports

_EXPORTS = {
    "TrainingSection": "model",
    "WandbSection": "model",
    "AdvancedSection": "model",
    "TrainingConfig": "model",
    "ResolvedConfig": "model",
    "flat_values": "model",
    "resolve_config": "model",
    "load_user_defaults": "model",
    "to_trainer_input": "inputs",
    "secret_inputs": "inputs",
    "load_config": "model",
    "get_preset": "presets",
    "load_presets": "presets",
    "describe_parameters": "presets",
    "parse_config_text": "parse",
    "load_config_file": "parse",
    "render_template": "template",
    "config_to_yaml": "template",
}
__all__ = [
    "AdvancedSection",
    "ResolvedConfig",
    "TrainingConfig",
    "TrainingSection",
    "WandbSection",
    "config_to_yaml",
    "describe_parameters",
    "flat_values",
    "get_preset",
    "load_config",
    "load_config_file",
    "load_presets",
    "load_user_defaults",
    "parse_config_text",
    "render_template",
    "resolve_config",
    "secret_inputs",
    "to_trainer_input",
]
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from bot.core.config.model import (
        AdvancedSection,
        ResolvedConfig,
        TrainingConfig,
        TrainingSection,
        WandbSection,
        flat_values,
        load_config,
        load_user_defaults,
        resolve_config,
        secret_inputs,
        to_trainer_input,
    )
    from bot.core.config.parse import load_config_file, parse_config_text
    from bot.core.config.presets import describe_parameters, get_preset, load_presets
    from bot.core.config.template import config_to_yaml, render_template
