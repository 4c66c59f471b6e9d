"""Grafana, with its datasource and dashboards provisioned from files."""

from __future__ import annotations

import json
from typing import Any

import cdk8s
import cdk8s_plus_28 as kplus
from constructs import Construct

from charts.monitoring import common
from charts.monitoring.common import (
    NOBODY,
    PodPatches,
    http_probe,
    monitoring_labels,
    pod_labels,
    restricted_container,
    restricted_pod,
    selector_labels,
)
from charts.monitoring.dashboards import dashboards
from charts.monitoring.dashboards._common import DATASOURCE_UID
from charts.monitoring.prometheus import GRAFANA, render_yaml
from charts.monitoring.prometheus import NAME as PROMETHEUS
from charts.monitoring.prometheus import PORT as PROMETHEUS_PORT
from charts.monitoring.values import MonitoringValues

NAME, PORT = GRAFANA
PROVISIONING_DIR = "/etc/grafana/provisioning"
DASHBOARDS_DIR = "/var/lib/grafana-dashboards"
ADMIN_DIR = "/etc/grafana/admin"
DATA_DIR = "/var/lib/grafana"
DASHBOARD_FOLDER = "OpenMarket"
HOME_DASHBOARD = "openmarket-application"


def datasources(values: MonitoringValues) -> dict[str, Any]:
    """provisioning/datasources: Prometheus, with a fixed uid the dashboards refer to."""
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "type": "prometheus",
                "uid": DATASOURCE_UID,
                "access": "proxy",
                "url": f"http://{PROMETHEUS}.{values.namespace}.svc:{PROMETHEUS_PORT}",
                "isDefault": True,
                "editable": False,
                "jsonData": {
                    "timeInterval": values.scrape_interval,
                    "httpMethod": "POST",
                    "prometheusType": "Prometheus",
                },
            }
        ],
    }


def dashboard_providers() -> dict[str, Any]:
    """provisioning/dashboards: read the dashboards from files; the UI cannot change them."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "openmarket",
                "folder": DASHBOARD_FOLDER,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": DASHBOARDS_DIR},
            }
        ],
    }


def grafana_environment(values: MonitoringValues) -> dict[str, str]:
    """grafana.ini settings, as GF_* variables. The admin login comes from files (the
    Secret synced from Secrets Manager): no credential is part of the manifest."""
    return {
        "GF_SECURITY_ADMIN_USER__FILE": f"{ADMIN_DIR}/admin-user",
        "GF_SECURITY_ADMIN_PASSWORD__FILE": f"{ADMIN_DIR}/admin-password",
        "GF_SECURITY_DISABLE_GRAVATAR": "true",
        "GF_SECURITY_COOKIE_SAMESITE": "strict",
        "GF_AUTH_ANONYMOUS_ENABLED": "false",
        "GF_AUTH_DISABLE_SIGNOUT_MENU": "false",
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_USERS_ALLOW_ORG_CREATE": "false",
        # No call home and no plugin downloads: the network policy allows no internet.
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES": "false",
        "GF_NEWS_NEWS_FEED_ENABLED": "false",
        "GF_PLUGINS_PREINSTALL_DISABLED": "true",
        "GF_LOG_MODE": "console",
        "GF_PATHS_DATA": DATA_DIR,
        "GF_PATHS_PROVISIONING": PROVISIONING_DIR,
        "GF_SERVER_HTTP_PORT": str(PORT),
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH": (
            f"{DASHBOARDS_DIR}/{HOME_DASHBOARD}/{HOME_DASHBOARD}.json"
        ),
    }


def dashboard_config_map_data(values: MonitoringValues) -> dict[str, dict[str, str]]:
    """One ConfigMap per dashboard (ConfigMap name -> data), each far below the 262,144
    bytes kubectl can keep in its last-applied annotation."""
    return {
        dashboard_config_map_name(uid): {f"{uid}.json": json.dumps(model, indent=1, sort_keys=True)}
        for uid, model in dashboards(values).items()
    }


def dashboard_config_map_name(uid: str) -> str:
    return f"{NAME}-dashboard-{uid}"


def _chart_props(values: MonitoringValues) -> dict[str, Any]:
    """Grafana's charts (the server, each dashboard): one namespace, the same labels."""
    return {
        "namespace": values.namespace,
        "labels": monitoring_labels(NAME),
        "disable_resource_name_hashes": True,
    }


class GrafanaDashboardChart(cdk8s.Chart):
    """Deploys one provisioned Grafana dashboard (a ConfigMap Grafana mounts), for everyone
    who looks at the stack's health.

    One chart per dashboard, not one for Grafana and all three: the cluster stack applies a
    chart as one custom resource, and CloudFormation sends an update's old and new
    properties to the kubectl handler in one Lambda event (256 KB); the three dashboards
    together are about 150 KB in the template, each one alone under 75 KB.
    """

    def __init__(self, scope: Construct, id: str, values: MonitoringValues, uid: str) -> None:
        super().__init__(scope, id, **_chart_props(values))
        name = dashboard_config_map_name(uid)
        self.config_map = kplus.ConfigMap(
            self,
            name,
            metadata=cdk8s.ApiObjectMetadata(name=name),
            data=dashboard_config_map_data(values)[name],
        )


class GrafanaChart(cdk8s.Chart):
    """Deploys Grafana, for everyone who looks at the stack's health.

    Reached only through ``kubectl port-forward`` (docs/monitoring.md): no Ingress. Its
    state is an emptyDir: the datasource and the three dashboards are provisioned from
    ConfigMaps on every start, and the admin login comes from the ``grafana-admin`` Secret
    (External Secrets, from Secrets Manager), so nothing is lost on a restart but edits made
    in the UI, which provisioned dashboards refuse anyway.
    """

    def __init__(self, scope: Construct, id: str, values: MonitoringValues) -> None:
        super().__init__(scope, id, **_chart_props(values))
        self.service_account = common.service_account(self, NAME)
        provisioning = {
            "datasources": datasources(values),
            "dashboards": dashboard_providers(),
        }
        self.provisioning_config_maps = {
            kind: kplus.ConfigMap(
                self,
                f"provisioning-{kind}",
                metadata=cdk8s.ApiObjectMetadata(name=f"{NAME}-{kind}"),
                data={f"{kind}.yaml": render_yaml(document)},
            )
            for kind, document in provisioning.items()
        }
        # The dashboards' ConfigMaps are charts of their own (GrafanaDashboardChart), applied
        # before this one; the checksum still restarts Grafana when one of them changes.
        dashboard_data = dashboard_config_map_data(values)
        self.dashboard_config_maps = {
            uid: kplus.ConfigMap.from_config_map_name(
                self, f"dashboard-{uid}", dashboard_config_map_name(uid)
            )
            for uid in dashboards(values)
        }
        self.service = common.cluster_ip_service(self, NAME, [("http", PORT)])
        self.deployment = self._deployment(
            values, common.config_checksum(provisioning, dashboard_data)
        )

    def _deployment(self, values: MonitoringValues, checksum: str) -> kplus.Deployment:
        deployment = kplus.Deployment(
            self,
            "deployment",
            metadata=cdk8s.ApiObjectMetadata(name=NAME),
            pod_metadata=cdk8s.ApiObjectMetadata(labels=pod_labels(NAME)),
            select=False,
            replicas=1,
            service_account=self.service_account,
            automount_service_account_token=False,
            security_context=restricted_pod(fs_group=NOBODY),
            # One replica with emptyDir state: replace it rather than run two side by side.
            strategy=kplus.DeploymentStrategy.recreate(),
        )
        deployment.select(kplus.LabelSelector.of(labels=selector_labels(NAME)))
        mounts = [
            kplus.VolumeMount(
                path=f"{PROVISIONING_DIR}/{kind}",
                volume=kplus.Volume.from_config_map(self, f"{kind}-volume", config_map, name=kind),
                read_only=True,
            )
            for kind, config_map in self.provisioning_config_maps.items()
        ]
        # One directory per dashboard; the file provider reads the tree.
        mounts += [
            kplus.VolumeMount(
                path=f"{DASHBOARDS_DIR}/{uid}",
                volume=kplus.Volume.from_config_map(
                    self, f"dashboard-{uid}-volume", config_map, name=f"dashboard-{index}"
                ),
                read_only=True,
            )
            for index, (uid, config_map) in enumerate(self.dashboard_config_maps.items())
        ]
        admin = kplus.Volume.from_secret(
            self,
            "admin-volume",
            kplus.Secret.from_secret_name(
                self, "admin-secret", values.secrets.grafana_admin_secret_name
            ),
            name="admin",
            default_mode=0o440,
        )
        data = kplus.Volume.from_empty_dir(self, "data", "data", size_limit=cdk8s.Size.gibibytes(1))
        tmp = kplus.Volume.from_empty_dir(self, "tmp", "tmp", size_limit=cdk8s.Size.mebibytes(256))
        mounts += [
            kplus.VolumeMount(path=ADMIN_DIR, volume=admin, read_only=True),
            kplus.VolumeMount(path=DATA_DIR, volume=data),
            kplus.VolumeMount(path="/tmp", volume=tmp),
        ]
        deployment.add_container(
            name=NAME,
            image=values.images.grafana,
            ports=[kplus.ContainerPort(number=PORT, name="http")],
            env_variables={
                key: kplus.EnvValue.from_value(value)
                for key, value in grafana_environment(values).items()
            },
            resources=common.resources(values.resources.grafana),
            security_context=restricted_container(),
            readiness=http_probe("/api/health", PORT),
            liveness=http_probe("/api/health", PORT, period_s=20, failures=6),
            volume_mounts=mounts,
        )
        PodPatches(deployment).common(fs_group=True).annotate({"checksum/config": checksum})
        return deployment
