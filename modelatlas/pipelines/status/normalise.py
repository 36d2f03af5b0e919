"""One status vocabulary for every platform: each platform's own values mapped onto it, unknown values flagged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OPERATIONAL = "operational"
DEGRADED = "degraded"
PARTIAL_OUTAGE = "partial_outage"
MAJOR_OUTAGE = "major_outage"
MAINTENANCE = "maintenance"
UNKNOWN = "unknown"
STATUSES = frozenset({OPERATIONAL, DEGRADED, PARTIAL_OUTAGE, MAJOR_OUTAGE, MAINTENANCE, UNKNOWN})
# How bad each status is, for "the worst of": an unknown status outranks the calm ones, never a reported outage.
SEVERITY = {OPERATIONAL: 0, MAINTENANCE: 1, UNKNOWN: 2, DEGRADED: 3, PARTIAL_OUTAGE: 4, MAJOR_OUTAGE: 5}

# Statuspage's page indicator and incident impact (incident.io's compatible API uses the same words).
INDICATOR = {
    "none": OPERATIONAL,
    "minor": DEGRADED,
    "major": PARTIAL_OUTAGE,
    "critical": MAJOR_OUTAGE,
    "maintenance": MAINTENANCE,
}
IMPACT = INDICATOR
STATUSPAGE_COMPONENT = {
    "operational": OPERATIONAL,
    "degraded_performance": DEGRADED,
    "partial_outage": PARTIAL_OUTAGE,
    "major_outage": MAJOR_OUTAGE,
    "under_maintenance": MAINTENANCE,
}
INCIDENTIO_COMPONENT = {**STATUSPAGE_COMPONENT, "full_outage": MAJOR_OUTAGE}
# Better Stack's page `aggregate_state` and resource `status`; `not_monitored` is a known value that says nothing.
BETTERSTACK = {
    "operational": OPERATIONAL,
    "degraded": DEGRADED,
    "downtime": MAJOR_OUTAGE,
    "maintenance": MAINTENANCE,
    "not_monitored": UNKNOWN,
}
# The statuses a Better Stack status update gives its affected resources ("resolved" ends the report).
BETTERSTACK_REPORT = {**BETTERSTACK, "resolved": OPERATIONAL}
# Google Cloud's incident `status_impact`: information about a problem, a disruption, an outage.
GCP_IMPACT = {
    "service_information": DEGRADED,
    "service_disruption": PARTIAL_OUTAGE,
    "service_outage": MAJOR_OUTAGE,
}


def normalise(value: Any, table: Mapping[str, str]) -> tuple[str, bool]:
    """(status in the one vocabulary, whether the value is one the table knows); unknown values map to "unknown"."""
    if not isinstance(value, str):
        return UNKNOWN, False
    status = table.get(value.strip().lower())
    return (status, True) if status is not None else (UNKNOWN, False)
