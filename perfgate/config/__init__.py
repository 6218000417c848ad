"""``perfgate.toml`` (or ``[tool.perfgate]`` in ``pyproject.toml``) → a typed, validated :class:`Config`.

``settings`` holds the frozen dataclasses and the names they may take; ``load`` reads and checks a
file into them, and every error names the file and the key.
"""

from perfgate.config.load import find_config, load_config, parse_config
from perfgate.config.settings import (
    CONFIG_NAME,
    DATABASES,
    INCONCLUSIVE_POLICIES,
    LIVE_REQUIRED,
    METRIC_MARGINS,
    METRICS,
    READY_PROBES,
    Config,
    JudgeConfig,
    LiveConfig,
    RoundsConfig,
    ScenarioConfig,
    TargetConfig,
    split_metric_spec,
)

__all__ = [
    "CONFIG_NAME",
    "DATABASES",
    "INCONCLUSIVE_POLICIES",
    "LIVE_REQUIRED",
    "METRICS",
    "METRIC_MARGINS",
    "READY_PROBES",
    "Config",
    "JudgeConfig",
    "LiveConfig",
    "RoundsConfig",
    "ScenarioConfig",
    "TargetConfig",
    "find_config",
    "load_config",
    "parse_config",
    "split_metric_spec",
]
