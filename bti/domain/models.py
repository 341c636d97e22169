"""Every entity by name (migrations, ``create_all``). Importing any ``bti.domain`` module
registers them all already (bti/domain/__init__.py)."""

from bti.domain.analytics import AnalyticsCounter
from bti.domain.analytics import AnnualWheelItem
from bti.domain.analytics import MeasureCatalogueItem
from bti.domain.base import Base
from bti.domain.cases import AnsvarsgruppeMeeting
from bti.domain.cases import AnsvarsgruppeMember
from bti.domain.cases import BarnevernFeedback
from bti.domain.cases import BarnevernReport
from bti.domain.cases import Case
from bti.domain.cases import CaseArchive
from bti.domain.cases import CaseUnitPeriod
from bti.domain.cases import Concern
from bti.domain.cases import Consent
from bti.domain.cases import ConsentService
from bti.domain.cases import EmergencyAccess
from bti.domain.cases import Evaluation
from bti.domain.cases import EvaluationMeasure
from bti.domain.cases import Goal
from bti.domain.cases import Handover
from bti.domain.cases import IndividualPlan
from bti.domain.cases import Measure
from bti.domain.cases import Meeting
from bti.domain.cases import Note
from bti.domain.cases import Notification
from bti.domain.cases import Participant
from bti.domain.family import FamilyMember
from bti.domain.family import FamilySession
from bti.domain.family_voice import FamilyConcern
from bti.domain.family_voice import FamilyMessage
from bti.domain.log import AuditChainHead
from bti.domain.log import AuditEvent
from bti.domain.log import AuditReviewItem
from bti.domain.log import AuditReviewMark
from bti.domain.log import CasePurge
from bti.domain.log import CaseTransfer
from bti.domain.log import StafettloggEntry
from bti.domain.log import WorkflowDefinitionRecord
from bti.domain.notifications import CalendarFeed
from bti.domain.notifications import NotificationDelivery
from bti.domain.notifications import NotificationPreference
from bti.domain.org import ApiToken
from bti.domain.org import Municipality
from bti.domain.org import Unit
from bti.domain.org import UnitMunicipality
from bti.domain.org import User
from bti.domain.org import UserRole
from bti.domain.org import UserSession
from bti.domain.teams import AgendaItem
from bti.domain.teams import FollowUp
from bti.domain.teams import Team
from bti.domain.teams import TeamMeeting
from bti.domain.teams import TeamMember

__all__ = [
    "AnalyticsCounter", "AnnualWheelItem",
    "AnsvarsgruppeMeeting", "AnsvarsgruppeMember", "ApiToken",
    "AuditChainHead", "AuditEvent", "AuditReviewItem",
    "AuditReviewMark", "EmergencyAccess", "MeasureCatalogueItem", "Notification", "UserSession",
    "BarnevernFeedback", "BarnevernReport", "Base", "CalendarFeed", "NotificationDelivery",
    "NotificationPreference", "Case", "CaseArchive", "CasePurge", "CaseTransfer", "CaseUnitPeriod",
    "Concern", "Consent", "ConsentService", "FamilyMember", "FamilySession",
    "Evaluation", "EvaluationMeasure", "Goal", "Handover", "IndividualPlan", "Measure", "Meeting",
    "Municipality",
    "Note", "Participant", "StafettloggEntry", "Unit", "UnitMunicipality", "User", "UserRole",
    "WorkflowDefinitionRecord",
    "Note", "Participant", "StafettloggEntry", "Unit", "User", "UserRole",
    "WorkflowDefinitionRecord", "AgendaItem", "FollowUp", "Team", "TeamMeeting", "TeamMember",
    "FamilyConcern", "FamilyMessage",
]
