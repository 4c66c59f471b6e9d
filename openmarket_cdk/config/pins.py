"""Every version the platform deploys, in one table, at the bottom of the import graph.

A version here is the default of the config field that uses it (a stage may override a
field; the table says what "current" means for the project). Change a pin here, then
follow the upgrade notes named beside it; `make test` checks each appears nowhere else in
openmarket_cdk/.
"""

from __future__ import annotations

from typing import Final

# --- AWS managed services ---------------------------------------------------------------
# EKS, standard support (docs/runbooks.md, "Upgrading the Kubernetes version"); the kubectl
# layer (aws-cdk.lambda-layer-kubectl-v35) and the Cluster Autoscaler's minor follow it.
KUBERNETES_VERSION: Final = "1.35"
# Aurora MySQL 3 (MySQL 8.0 compatible): the engine's major and its Aurora release.
AURORA_MYSQL_MAJOR: Final = "8.0"
AURORA_MYSQL_VERSION: Final = "3.10.2"
# ElastiCache Valkey.
VALKEY_VERSION: Final = "8.0"

# Lambda's Python runtime for every function (the newest aws-cdk-lib offers: cdk-nag's L1
# check wants the latest); their wheels are resolved for it (tests/functions).
LAMBDA_PYTHON_VERSION: Final = "3.14"

# --- Helm charts (repository: the chart's own) -----------------------------------------
ALB_CONTROLLER_CHART: Final = "3.2.2"
EXTERNAL_SECRETS_CHART: Final = "2.0.1"
# kubernetes-sigs/external-dns chart 1.21.1 = ExternalDNS 0.21.0 (AWS SDK v2: Pod Identity).
EXTERNAL_DNS_CHART: Final = "1.21.1"
# Chart 9.59.0 ships app 1.35.0; the image is the newest 1.35 patch (its minor must match
# the cluster's: its scheduler simulation is 1.35's).
CLUSTER_AUTOSCALER_CHART: Final = "9.59.0"
CLUSTER_AUTOSCALER_IMAGE_TAG: Final = "v1.35.2"
# kube-prometheus-stack 88.5.3 = prometheus-operator v0.93.1 (Grafana chart 12.11.1,
# kube-state-metrics 8.4.0, prometheus-node-exporter 4.56.1); the CRD chart of the same
# operator release. Regenerate charts/monitoring/chart_keys/ with them (docs/monitoring.md).
KUBE_PROMETHEUS_STACK_CHART: Final = "88.5.3"
PROMETHEUS_OPERATOR_CRDS_CHART: Final = "31.0.1"

# --- images the monitoring runs (exact tags; docs/monitoring.md, "Versions") ------------
PROMETHEUS_IMAGE: Final = "quay.io/prometheus/prometheus:v3.13.3"
ALERTMANAGER_IMAGE: Final = "quay.io/prometheus/alertmanager:v0.34.1"
GRAFANA_IMAGE: Final = "docker.io/grafana/grafana:12.4.11"
NODE_EXPORTER_IMAGE: Final = "quay.io/prometheus/node-exporter:v1.12.1"
KUBE_STATE_METRICS_IMAGE: Final = "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.19.1"
