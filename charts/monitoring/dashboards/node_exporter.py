"""Node Exporter Full: everything node-exporter says about one node.

Authored here with grafana-foundation-sdk on the layout and metrics of the community
dashboard of the same name (grafana.com dashboard 1860): no package registry ships that
dashboard with its licence, so it is not vendored. Panels: quick stats, then CPU, memory,
network, disk and filesystem, and system (load, processes, pressure, time) details.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash

from charts.monitoring.dashboards._common import (
    graph,
    new_dashboard,
    percent_thresholds,
    query_variable,
    single_stat,
    to_dict,
)

UID = "node-exporter-full"
TITLE = "Node Exporter Full"

N = 'job="node-exporter", instance="$node"'
RATE = "$__rate_interval"
FS = f'{N}, fstype!~"tmpfs|overlay|squashfs|nsfs|ramfs", mountpoint!=""'
NET = f'{N}, device!~"lo|veth.*|eni.*|cali.*|docker.*"'
DISK = f'{N}, device!~"dm-.*|loop.*|ram.*"'


def _cpu_mode(mode: str) -> str:
    return (
        f'sum(rate(node_cpu_seconds_total{{{N}, mode="{mode}"}}[{RATE}])) '
        f'/ count(node_cpu_seconds_total{{{N}, mode="idle"}}) * 100'
    )


def node_exporter_dashboard() -> dict[str, Any]:
    mem_total = f"node_memory_MemTotal_bytes{{{N}}}"
    mem_available = f"node_memory_MemAvailable_bytes{{{N}}}"
    root_fs = f'{N}, mountpoint="/"'
    builder = (
        new_dashboard(
            UID,
            TITLE,
            ["node-exporter", "nodes"],
            "One node as node-exporter sees it: CPU, memory, network, disks, filesystems "
            "and the kernel. Pick the node at the top.",
        )
        .with_variable(
            query_variable(
                "node", "Node", 'label_values(node_uname_info{job="node-exporter"}, instance)'
            )
        )
        .with_row(dash.Row("Quick CPU / Mem / Disk"))
        .with_panel(
            single_stat(
                "CPU busy",
                f"100 - {_cpu_mode('idle')}",
                unit="percent",
                thresholds=percent_thresholds(),
                decimals=1,
                width=3,
            )
        )
        .with_panel(
            single_stat(
                "Sys load (5m)",
                f'node_load5{{{N}}} / count(node_cpu_seconds_total{{{N}, mode="idle"}}) * 100',
                unit="percent",
                thresholds=percent_thresholds(),
                decimals=1,
                width=3,
            )
        )
        .with_panel(
            single_stat(
                "RAM used",
                f"100 * (1 - {mem_available} / {mem_total})",
                unit="percent",
                thresholds=percent_thresholds(),
                decimals=1,
                width=3,
            )
        )
        .with_panel(
            single_stat(
                "Swap used",
                f"100 * (1 - node_memory_SwapFree_bytes{{{N}}} "
                f"/ node_memory_SwapTotal_bytes{{{N}}})",
                unit="percent",
                thresholds=percent_thresholds(),
                decimals=1,
                width=3,
            )
        )
        .with_panel(
            single_stat(
                "Root FS used",
                f"100 - node_filesystem_avail_bytes{{{root_fs}}} "
                f"/ node_filesystem_size_bytes{{{root_fs}}} * 100",
                unit="percent",
                thresholds=percent_thresholds(),
                decimals=1,
                width=3,
            )
        )
        .with_panel(
            single_stat("CPU cores", f'count(node_cpu_seconds_total{{{N}, mode="idle"}})', width=3)
        )
        .with_panel(single_stat("RAM total", mem_total, unit="bytes", decimals=1, width=3))
        .with_panel(
            single_stat(
                "Uptime",
                f"node_time_seconds{{{N}}} - node_boot_time_seconds{{{N}}}",
                unit="s",
                decimals=1,
                width=3,
            )
        )
        .with_row(dash.Row("Basic CPU / Mem / Net / Disk"))
        .with_panel(
            graph(
                "CPU basic",
                [
                    (_cpu_mode("system"), "System"),
                    (_cpu_mode("user"), "User"),
                    (_cpu_mode("iowait"), "IO wait"),
                    (
                        f'sum(rate(node_cpu_seconds_total{{{N}, mode=~"irq|softirq"}}[{RATE}])) '
                        f'/ count(node_cpu_seconds_total{{{N}, mode="idle"}}) * 100',
                        "IRQs",
                    ),
                    (_cpu_mode("steal"), "Steal"),
                    (_cpu_mode("idle"), "Idle"),
                ],
                unit="percent",
                stacked=True,
            )
        )
        .with_panel(
            graph(
                "Memory basic",
                [
                    (mem_total, "RAM total"),
                    (f"{mem_total} - {mem_available}", "RAM used"),
                    (
                        f"node_memory_Cached_bytes{{{N}}} + node_memory_Buffers_bytes{{{N}}}"
                        f" + node_memory_SReclaimable_bytes{{{N}}}",
                        "RAM cache + buffer",
                    ),
                    (f"node_memory_MemFree_bytes{{{N}}}", "RAM free"),
                    (
                        f"node_memory_SwapTotal_bytes{{{N}}} - node_memory_SwapFree_bytes{{{N}}}",
                        "Swap used",
                    ),
                ],
                unit="bytes",
            )
        )
        .with_panel(
            graph(
                "Network traffic basic",
                [
                    (
                        f"rate(node_network_receive_bytes_total{{{NET}}}[{RATE}]) * 8",
                        "{{device}} receive",
                    ),
                    (
                        f"-rate(node_network_transmit_bytes_total{{{NET}}}[{RATE}]) * 8",
                        "{{device}} transmit",
                    ),
                ],
                unit="bps",
                minimum=None,
            )
        )
        .with_panel(
            graph(
                "Disk space used basic",
                [
                    (
                        f"100 - node_filesystem_avail_bytes{{{FS}}} "
                        f"/ node_filesystem_size_bytes{{{FS}}} * 100",
                        "{{mountpoint}}",
                    )
                ],
                unit="percent",
            )
        )
        .with_row(dash.Row("CPU and memory"))
        .with_panel(
            graph(
                "CPU per mode",
                [
                    (
                        f"sum by (mode) (rate(node_cpu_seconds_total{{{N}}}[{RATE}])) "
                        f'/ scalar(count(node_cpu_seconds_total{{{N}, mode="idle"}})) * 100',
                        "{{mode}}",
                    )
                ],
                unit="percent",
                stacked=True,
            )
        )
        .with_panel(
            graph(
                "CPU per core",
                [
                    (
                        f'100 * (1 - rate(node_cpu_seconds_total{{{N}, mode="idle"}}[{RATE}]))',
                        "cpu {{cpu}}",
                    )
                ],
                unit="percent",
            )
        )
        .with_panel(
            graph(
                "Memory active / inactive",
                [
                    (f"node_memory_Active_bytes{{{N}}}", "Active"),
                    (f"node_memory_Inactive_bytes{{{N}}}", "Inactive"),
                    (f"node_memory_Committed_AS_bytes{{{N}}}", "Committed"),
                    (f"node_memory_CommitLimit_bytes{{{N}}}", "Commit limit"),
                ],
                unit="bytes",
            )
        )
        .with_panel(
            graph(
                "Memory kernel",
                [
                    (f"node_memory_Slab_bytes{{{N}}}", "Slab"),
                    (f"node_memory_SUnreclaim_bytes{{{N}}}", "Slab unreclaimable"),
                    (f"node_memory_PageTables_bytes{{{N}}}", "Page tables"),
                    (f"node_memory_KernelStack_bytes{{{N}}}", "Kernel stack"),
                    (f"node_memory_Dirty_bytes{{{N}}}", "Dirty"),
                    (f"node_memory_Writeback_bytes{{{N}}}", "Writeback"),
                ],
                unit="bytes",
            )
        )
        .with_panel(
            graph(
                "Page faults",
                [
                    (f"rate(node_vmstat_pgfault{{{N}}}[{RATE}])", "Page faults"),
                    (f"rate(node_vmstat_pgmajfault{{{N}}}[{RATE}])", "Major page faults"),
                ],
                unit="ops",
            )
        )
        .with_panel(
            graph(
                "OOM kills",
                [(f"increase(node_vmstat_oom_kill{{{N}}}[{RATE}])", "OOM kills")],
            )
        )
        .with_row(dash.Row("Network"))
        .with_panel(
            graph(
                "Network packets",
                [
                    (
                        f"rate(node_network_receive_packets_total{{{NET}}}[{RATE}])",
                        "{{device}} receive",
                    ),
                    (
                        f"-rate(node_network_transmit_packets_total{{{NET}}}[{RATE}])",
                        "{{device}} transmit",
                    ),
                ],
                unit="pps",
                minimum=None,
            )
        )
        .with_panel(
            graph(
                "Network errors and drops",
                [
                    (
                        f"rate(node_network_receive_errs_total{{{NET}}}[{RATE}])",
                        "{{device}} receive errors",
                    ),
                    (
                        f"rate(node_network_transmit_errs_total{{{NET}}}[{RATE}])",
                        "{{device}} transmit errors",
                    ),
                    (
                        f"rate(node_network_receive_drop_total{{{NET}}}[{RATE}])",
                        "{{device}} receive drops",
                    ),
                    (
                        f"rate(node_network_transmit_drop_total{{{NET}}}[{RATE}])",
                        "{{device}} transmit drops",
                    ),
                ],
                unit="pps",
            )
        )
        .with_panel(
            graph(
                "TCP connections",
                [
                    (f"node_netstat_Tcp_CurrEstab{{{N}}}", "Established"),
                    (f"node_sockstat_TCP_tw{{{N}}}", "Time wait"),
                    (f"node_sockstat_TCP_inuse{{{N}}}", "In use"),
                ],
            )
        )
        .with_panel(
            graph(
                "Conntrack",
                [
                    (f"node_nf_conntrack_entries{{{N}}}", "Entries"),
                    (f"node_nf_conntrack_entries_limit{{{N}}}", "Limit"),
                ],
            )
        )
        .with_row(dash.Row("Disks and filesystems"))
        .with_panel(
            graph(
                "Disk IOPS",
                [
                    (
                        f"rate(node_disk_reads_completed_total{{{DISK}}}[{RATE}])",
                        "{{device}} reads",
                    ),
                    (
                        f"-rate(node_disk_writes_completed_total{{{DISK}}}[{RATE}])",
                        "{{device}} writes",
                    ),
                ],
                unit="iops",
                minimum=None,
            )
        )
        .with_panel(
            graph(
                "Disk throughput",
                [
                    (
                        f"rate(node_disk_read_bytes_total{{{DISK}}}[{RATE}])",
                        "{{device}} read",
                    ),
                    (
                        f"-rate(node_disk_written_bytes_total{{{DISK}}}[{RATE}])",
                        "{{device}} written",
                    ),
                ],
                unit="Bps",
                minimum=None,
            )
        )
        .with_panel(
            graph(
                "Disk I/O utilisation",
                [
                    (
                        f"rate(node_disk_io_time_seconds_total{{{DISK}}}[{RATE}])",
                        "{{device}}",
                    )
                ],
                unit="percentunit",
            )
        )
        .with_panel(
            graph(
                "Disk average wait",
                [
                    (
                        f"rate(node_disk_read_time_seconds_total{{{DISK}}}[{RATE}]) "
                        f"/ rate(node_disk_reads_completed_total{{{DISK}}}[{RATE}])",
                        "{{device}} read",
                    ),
                    (
                        f"rate(node_disk_write_time_seconds_total{{{DISK}}}[{RATE}]) "
                        f"/ rate(node_disk_writes_completed_total{{{DISK}}}[{RATE}])",
                        "{{device}} write",
                    ),
                ],
                unit="s",
            )
        )
        .with_panel(
            graph(
                "Filesystem space available",
                [(f"node_filesystem_avail_bytes{{{FS}}}", "{{mountpoint}}")],
                unit="bytes",
            )
        )
        .with_panel(
            graph(
                "Filesystem inodes free",
                [(f"node_filesystem_files_free{{{FS}}}", "{{mountpoint}}")],
            )
        )
        .with_row(dash.Row("System"))
        .with_panel(
            graph(
                "Load average",
                [
                    (f"node_load1{{{N}}}", "1m"),
                    (f"node_load5{{{N}}}", "5m"),
                    (f"node_load15{{{N}}}", "15m"),
                    (f'count(node_cpu_seconds_total{{{N}, mode="idle"}})', "CPU cores"),
                ],
            )
        )
        .with_panel(
            graph(
                "Context switches and interrupts",
                [
                    (f"rate(node_context_switches_total{{{N}}}[{RATE}])", "Context switches"),
                    (f"rate(node_intr_total{{{N}}}[{RATE}])", "Interrupts"),
                ],
                unit="ops",
            )
        )
        .with_panel(
            graph(
                "Processes",
                [
                    (f"node_procs_running{{{N}}}", "Running"),
                    (f"node_procs_blocked{{{N}}}", "Blocked"),
                    (f"rate(node_forks_total{{{N}}}[{RATE}])", "Forks / s"),
                ],
            )
        )
        .with_panel(
            graph(
                "Pressure stall",
                [
                    (
                        f"rate(node_pressure_cpu_waiting_seconds_total{{{N}}}[{RATE}])",
                        "CPU some",
                    ),
                    (
                        f"rate(node_pressure_memory_waiting_seconds_total{{{N}}}[{RATE}])",
                        "Memory some",
                    ),
                    (f"rate(node_pressure_io_waiting_seconds_total{{{N}}}[{RATE}])", "IO some"),
                ],
                unit="percentunit",
            )
        )
        .with_panel(
            graph(
                "File descriptors",
                [
                    (f"node_filefd_allocated{{{N}}}", "Allocated"),
                    (f"node_filefd_maximum{{{N}}}", "Maximum"),
                ],
            )
        )
        .with_panel(
            graph(
                "Time synchronisation offset",
                [
                    (f"node_timex_offset_seconds{{{N}}}", "Offset"),
                    (f"node_timex_maxerror_seconds{{{N}}}", "Maximum error"),
                ],
                unit="s",
                minimum=None,
            )
        )
    )
    return to_dict(builder)
