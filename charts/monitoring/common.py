"""What OpenMarket's monitoring charts share: their labels."""

from __future__ import annotations

from charts.labels import NAME_LABEL, chart_labels

COMPONENT_LABEL = "app.kubernetes.io/component"
MONITORING = "monitoring"

__all__ = ["COMPONENT_LABEL", "MONITORING", "monitoring_labels"]


def monitoring_labels(component: str) -> dict[str, str]:
    """Metadata labels of every object of a monitoring chart (never a selector)."""
    return chart_labels(**{COMPONENT_LABEL: MONITORING, NAME_LABEL: component})
