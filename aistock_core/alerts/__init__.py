"""Monitoring alerts: incidents (`sources`) sent through operator-configured channels (`config`), de-duplicated
and rate-limited across processes in the app DB (`state`), never raising into the caller (`dispatcher`)."""

from aistock_core.alerts.channels import AlertChannelError, Channel, RateLimit
from aistock_core.alerts.config import load_channels
from aistock_core.alerts.dispatcher import AlertDispatcher, dispatcher_from_settings
from aistock_core.alerts.model import Alert, Delivery, DeliveryStatus, DispatchResult, Severity
from aistock_core.alerts.state import AlertLedger

__all__ = [
    "Alert", "AlertChannelError", "AlertDispatcher", "AlertLedger", "Channel", "Delivery", "DeliveryStatus",
    "DispatchResult", "RateLimit", "Severity", "dispatcher_from_settings", "load_channels",
]
