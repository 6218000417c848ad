"""perfgate: a performance-regression gate for networked services."""

from perfgate.errors import (
    ConfigError,
    FaultError,
    GitHubError,
    InfraError,
    LoadError,
    PerfgateError,
    PortInUseError,
    RevisionError,
    StoreError,
    TargetError,
)
from perfgate.model import (
    SCHEMA_VERSION,
    Design,
    Manifest,
    MetricComparison,
    Revision,
    RoundMetrics,
    RoundRecord,
    RoundSpec,
    Side,
    State,
    Verdict,
    Window,
)

__version__ = "0.2.0"

__all__ = [
    "SCHEMA_VERSION",
    "ConfigError",
    "Design",
    "FaultError",
    "GitHubError",
    "InfraError",
    "LoadError",
    "Manifest",
    "MetricComparison",
    "PerfgateError",
    "PortInUseError",
    "Revision",
    "RevisionError",
    "RoundMetrics",
    "RoundRecord",
    "RoundSpec",
    "Side",
    "State",
    "StoreError",
    "TargetError",
    "Verdict",
    "Window",
    "__version__",
]
