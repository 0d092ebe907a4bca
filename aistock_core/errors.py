"""One error hierarchy for the whole project.

Messages say what was wrong, where, and what to do, so that a user reading a failed Dagster run or a CLI
error knows the next step without reading code.
"""


class AistockError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(AistockError):
    """A setting is missing or inconsistent."""


class CalendarError(AistockError):
    """A date is not a trading day, or lies past the calendar's horizon."""


class InstrumentError(AistockError, ValueError):
    """An instrument code cannot be placed on an exchange or board."""


class DataError(AistockError):
    """Market data is missing, corrupt or violates a schema rule."""


class SchemaError(DataError):
    """A frame entering from outside violates a validation rule (names instrument, date and rule)."""


class CatalogError(AistockError):
    """A research catalog or artifact from RD-Agent is malformed or unreachable."""


class FactorError(AistockError):
    """A factor expression or factor code cannot be parsed, audited, run or aligned."""


class SandboxError(AistockError):
    """Untrusted code cannot be run safely here (no bubblewrap, no namespaces), or its sandbox broke down."""


class ModelError(AistockError):
    """A model cannot be built, trained or reconciled."""


class StrategyError(AistockError):
    """A strategy config or score frame is invalid."""


class RiskRejected(AistockError):
    """Pre-trade risk denied an order (our decision, not the broker's)."""


class GatewayError(AistockError):
    """The broker gateway failed or rejected an order."""


class PreviewError(AistockError):
    """A preview instance or request is invalid (unknown id, capital ≤ 0, stopped instance, non-session day)."""


class FeedbackError(AistockError):
    """A LiveFeedback, ExperimentRequest or optimizer request is invalid (unknown instance, empty period, a
    period without sessions, a malformed approval)."""


class SignalError(AistockError):
    """A trading-signal or evaluation request is invalid (unknown instance, non-session day, illegal transition)."""


class InstanceError(SignalError, FeedbackError):
    """An instance reference names no instance (or more than one), or the instance has no account over a period.

    Both the signals and the feedback box resolve instances and read their accounts through one module
    (`aistock_core.instances`, `aistock_core.feedback.history`), so this is a `SignalError` and a `FeedbackError`
    at once: each box's callers keep catching the error they always caught."""
