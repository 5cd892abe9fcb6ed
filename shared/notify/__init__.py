"""Notifications: versioned events for state changes, queued per sink, delivered elsewhere.

    something changes (a tenant's health, a standard's drift, a run closing, the app breaker)
      -> events.<kind>(...)                    an Event: id, kind, subject, summary, data, links
      -> Notifier.emit(event)                  one message per configured sink on xtenant-events
      -> delivery.deliver (queue trigger)      POST to the sink, retried; failures recorded
      -> delivery.gave_up (its poison queue)   what could not be delivered, recorded

docs/notifications.md documents the schema, every kind, the sinks and their setup.
"""

from shared.notify.delivery import DeliveryFailed, DeliveryPolicy, deliver, gave_up
from shared.notify.events import HealthChange
from shared.notify.failures import DeliveryFailure, FailedDeliveries
from shared.notify.outbox import (
    EVENTS_POISON_QUEUE,
    EVENTS_QUEUE,
    Delivery,
    Emit,
    Notifier,
    nowhere,
)
from shared.notify.schema import SCHEMA_VERSION, Event, EventKind, Severity
from shared.notify.sinks import Sink, SinkKind, adaptive_card, sinks_from, teams_message

__all__ = [
    "EVENTS_POISON_QUEUE",
    "EVENTS_QUEUE",
    "SCHEMA_VERSION",
    "Delivery",
    "DeliveryFailed",
    "DeliveryFailure",
    "DeliveryPolicy",
    "Emit",
    "Event",
    "EventKind",
    "FailedDeliveries",
    "HealthChange",
    "Notifier",
    "Severity",
    "Sink",
    "SinkKind",
    "adaptive_card",
    "deliver",
    "gave_up",
    "nowhere",
    "sinks_from",
    "teams_message",
]
