"""Interview invitations as iCalendar (RFC 5545, with the iTIP methods of RFC 5546).

One UID per interview: a reschedule is ``METHOD:REQUEST`` with a higher ``SEQUENCE`` (the
calendar moves the event), a cancellation ``METHOD:CANCEL`` with ``STATUS:CANCELLED`` (the
calendar removes it). Google Calendar and Outlook read either from an e-mail, no API key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from icalendar import Calendar, Event, vCalAddress, vText

PRODID = "-//PVARA//Interviews//EN"


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str
    role: str = "REQ-PARTICIPANT"


@dataclass(frozen=True)
class Invitation:
    interview_id: str
    sequence: int
    starts_at: datetime
    ends_at: datetime
    summary: str
    description: str
    location: str
    organizer_email: str
    organizer_name: str
    attendees: tuple[Attendee, ...]
    cancelled: bool = False

    @property
    def uid(self) -> str:
        return f"interview-{self.interview_id}@pvara"

    @property
    def method(self) -> str:
        return "CANCEL" if self.cancelled else "REQUEST"


def calendar(invitation: Invitation, *, now: datetime | None = None) -> bytes:
    """The ``text/calendar`` body of ``invitation``."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", invitation.method)
    event = Event()
    event.add("uid", invitation.uid)
    event.add("sequence", invitation.sequence)
    event.add("dtstamp", now or datetime.now(UTC))
    event.add("dtstart", invitation.starts_at.astimezone(UTC))
    event.add("dtend", invitation.ends_at.astimezone(UTC))
    event.add("summary", invitation.summary)
    event.add("description", invitation.description)
    event.add("location", invitation.location)
    event.add("status", "CANCELLED" if invitation.cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    organizer = vCalAddress(f"mailto:{invitation.organizer_email}")
    organizer.params["cn"] = vText(invitation.organizer_name)
    event["organizer"] = organizer
    for person in invitation.attendees:
        attendee = vCalAddress(f"mailto:{person.email}")
        attendee.params["cn"] = vText(person.name)
        attendee.params["role"] = vText(person.role)
        attendee.params["partstat"] = vText("NEEDS-ACTION")
        attendee.params["rsvp"] = vText("TRUE")
        event.add("attendee", attendee, encode=False)
    cal.add_component(event)
    return bytes(cal.to_ical())
