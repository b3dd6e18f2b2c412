"""Every table, imported here so Alembic and the tests see the whole schema."""

from app.models.announcement import Announcement
from app.models.announcement_segment import AnnouncementSegment
from app.models.api_key import ApiKey
from app.models.audit_entry import AuditEntry
from app.models.base import SQLModel
from app.models.console_session import ConsoleSession
from app.models.end_user import EndUser
from app.models.event import Event
from app.models.invitation import Invitation
from app.models.member import Member
from app.models.membership import Membership
from app.models.segment import Segment
from app.models.stats import AnnouncementStats
from app.models.user_state import UserState
from app.models.webhook_attempt import WebhookAttempt
from app.models.webhook_delivery import WebhookDelivery
from app.models.webhook_endpoint import WebhookEndpoint
from app.models.webhook_lease import WebhookLease
from app.models.webhook_message import WebhookMessage
from app.models.workspace import Workspace

metadata = SQLModel.metadata

__all__ = [
    "Announcement",
    "AnnouncementSegment",
    "AnnouncementStats",
    "ApiKey",
    "AuditEntry",
    "ConsoleSession",
    "EndUser",
    "Event",
    "Invitation",
    "Member",
    "Membership",
    "SQLModel",
    "Segment",
    "UserState",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookLease",
    "WebhookMessage",
    "Workspace",
    "metadata",
]
