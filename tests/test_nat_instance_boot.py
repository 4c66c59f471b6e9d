"""The NAT instance's per-boot setup script, run against stand-in system commands.

The script runs as root on an EC2 instance at every boot; here it runs with a PATH of small
fakes (sysctl, ip, iptables, nft, dnf) that record their arguments, so what it decides is
tested: which tool, which interface, nothing added twice, dnf retried, clear failures.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from openmarket_cdk.constructs.network_nat import NAT_BOOT_SCRIPT, nat_instance_user_data

DEFAULT_ROUTE = "default via 10.0.1.1 dev ens5 proto dhcp src 10.0.1.23 metric 512"


class Host:
    """A fake instance: a bin directory of recording commands and the calls they saw."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        self.log = root / "calls.log"
        self.log.touch()
        for tool in ("awk", "grep", "sleep", "cat", "chmod"):
            real = shutil.which(tool)
            assert real, tool
            (self.bin / tool).symlink_to(real)

    def command(self, name: str, body: str = "exit 0") -> None:
        path = self.bin / name
        path.write_text(f'#!/bin/bash\necho "{name} $*" >> "{self.log}"\n{body}\n')
        path.chmod(path.stat().st_mode | stat.S_IEXEC)

    def boot(self, route: str = DEFAULT_ROUTE) -> subprocess.CompletedProcess[str]:
        self.command("sysctl")
        self.command("ip", f"echo '{route}'")
        return subprocess.run(
            ["/bin/bash", str(NAT_BOOT_SCRIPT)],
            env={"PATH": str(self.bin), "NAT_DNF_DELAY": "0", "NAT_DNF_ATTEMPTS": "3"},
            capture_output=True,
            text=True,
            check=False,
        )

    def calls(self, name: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if line.startswith(name + " ")]


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


def test_iptables_masquerades_through_the_default_route_interface(host: Host) -> None:
    # -C (check) fails: the rule is not there yet.
    host.command("iptables", 'case "$*" in *-C*) exit 1;; esac')
    result = host.boot()
    assert result.returncode == 0, result.stderr
    assert host.calls("sysctl") == ["sysctl -q -w net.ipv4.ip_forward=1"]
    assert host.calls("iptables") == [
        "iptables -t nat -C POSTROUTING -o ens5 -j MASQUERADE",
        "iptables -t nat -A POSTROUTING -o ens5 -j MASQUERADE",
        "iptables -P FORWARD ACCEPT",
        "iptables -F FORWARD",
    ]
    assert "through ens5" in result.stdout


def test_an_existing_rule_is_not_added_twice(host: Host) -> None:
    host.command("iptables")  # -C succeeds: the rule exists
    assert host.boot().returncode == 0
    assert "iptables -t nat -A POSTROUTING -o ens5 -j MASQUERADE" not in host.calls("iptables")


def test_nft_when_iptables_is_missing(host: Host) -> None:
    host.command("nft", 'case "$*" in "list chain"*) echo "chain postrouting {}";; esac')
    result = host.boot()
    assert result.returncode == 0, result.stderr
    # (The shell hands nft the bare name; nft's own listing quotes it.)
    assert host.calls("nft")[-1] == "nft add rule ip nat postrouting oifname ens5 masquerade"


def test_dnf_is_retried_until_iptables_is_installed(host: Host) -> None:
    # Fails twice (another dnf holds the lock), then installs an iptables command.
    installed = host.bin / "iptables"
    counter = host.bin.parent / "dnf-runs"
    host.command(
        "dnf",
        f'echo x >> "{counter}"; [ "$(grep -c x "{counter}")" -ge 3 ] || exit 1\n'
        f'printf \'#!/bin/bash\\necho "iptables $*" >> "{host.log}"\\n'
        f'case "$*" in *-C*) exit 1;; esac\\n\' > "{installed}"; chmod +x "{installed}"',
    )
    result = host.boot()
    assert result.returncode == 0, result.stderr
    assert host.calls("dnf") == ["dnf install -y iptables-nft"] * 3
    assert "iptables -t nat -A POSTROUTING -o ens5 -j MASQUERADE" in host.calls("iptables")


def test_no_packet_filter_at_all_fails_loudly(host: Host) -> None:
    host.command("dnf", "exit 1")
    result = host.boot()
    assert result.returncode == 1
    assert len(host.calls("dnf")) == 3
    assert "dnf could not install iptables-nft" in result.stderr


def test_no_default_route_fails_before_touching_anything(host: Host) -> None:
    host.command("iptables")
    result = host.boot(route="")
    assert result.returncode == 1
    assert "no default route" in result.stderr
    assert host.calls("iptables") == []


def test_the_user_data_installs_the_script_for_every_boot_and_runs_it_now() -> None:
    rendered = nat_instance_user_data().render()
    per_boot = "/var/lib/cloud/scripts/per-boot/openmarket-nat.sh"
    assert rendered.startswith("#!/bin/bash")
    assert NAT_BOOT_SCRIPT.read_text() in rendered
    assert f"chmod 755 {per_boot}" in rendered
    # cloud-init runs per-boot scripts before the user data on the first boot.
    assert rendered.rstrip().endswith(per_boot)
    syntax = subprocess.run(
        ["/bin/bash", "-n"], input=rendered, capture_output=True, text=True, check=False
    )
    assert syntax.returncode == 0, syntax.stderr
    assert os.access(NAT_BOOT_SCRIPT, os.R_OK)
