"""Label conventions shared by the charts.

One selector label per workload, ``app.kubernetes.io/name``: the Deployment selector, the
Service selector, the PodDisruptionBudget, the topology spread constraints and the
NetworkPolicy pod selectors all use exactly this one label. The VPC CNI network policy
controller allows a Service's ClusterIP in an egress rule only when the Service selector
equals the rule's ``podSelector.matchLabels``, so the two must never drift apart.
"""

from __future__ import annotations

NAME_LABEL = "app.kubernetes.io/name"
PART_OF_LABEL = "app.kubernetes.io/part-of"
PART_OF = "openmarket"


def selector_labels(workload_name: str) -> dict[str, str]:
    """The labels that select the pods of one workload (and nothing else)."""
    return {NAME_LABEL: workload_name}


def chart_labels(**extra: str) -> dict[str, str]:
    """Labels on every object of a chart (metadata only, never used as a selector)."""
    return {PART_OF_LABEL: PART_OF, **extra}


COMPONENT_LABEL = "app.kubernetes.io/component"


def monitoring_labels(name: str) -> dict[str, str]:
    """Metadata labels of every object of a monitoring chart (never a selector)."""
    return chart_labels(**{COMPONENT_LABEL: "monitoring", NAME_LABEL: name})
