"""Lets `make smoke` reach a stage whose ALB admits listed ranges only (dev, which has no WAF).

    smoke_access.py open STAGE [--ip 198.51.100.7]   # before the smoke test
    smoke_access.py close STAGE                     # after it, whatever its result

``open`` adds one rule to the stage's ALB security group: this machine's public IPv4 address
(asked of checkip.amazonaws.com, or ``--ip``) on the listener ports, described
``make smoke ...``. ``close`` removes every such rule, so a run that died before closing is
cleaned up by the next one (``open`` closes first too). A stage whose ALB is open to the
internet (behind its WAF) needs nothing: both say so and change nothing. An address already
inside the stage's ranges (the office) is not added.

The deploy role may do this only on security groups tagged ``openmarket:smoke-access`` with
the stage's name (`GitHubDeployRole.allow_smoke_access` in
openmarket_cdk/constructs/deploy_access_deploy_role.py). CloudFormation does not manage
the temporary rule; `cdk diff` never sees it, and the next deploy leaves it alone.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import time
import urllib.request
from typing import Any

from openmarket_cdk.config import SMOKE_ACCESS_TAG, STAGE_NAMES, StageConfig
from scripts.aws_access import OperatorError, client, require_credentials, run
from scripts.cli_config import stage_config_from_cli

RULE_DESCRIPTION = "make smoke"
CHECKIP_URL = "https://checkip.amazonaws.com"


def listener_ports(config: StageConfig) -> list[int]:
    """80, and 443 for a stage with a domain (HTTPS, with the redirect from 80)."""
    return [80, 443] if config.edge is not None else [80]


def public_ip(url: str = CHECKIP_URL, timeout_s: float = 10.0) -> str:
    """This machine's public IPv4 address, as the internet sees it."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        text = response.read().decode().strip()
    return str(ipaddress.IPv4Address(text))


def security_group_id(config: StageConfig, ec2: Any) -> str:
    groups = ec2.describe_security_groups(
        Filters=[
            {"Name": "group-name", "Values": [config.names.alb_security_group_name]},
            {"Name": f"tag:{SMOKE_ACCESS_TAG}", "Values": [config.name]},
        ]
    )["SecurityGroups"]
    if len(groups) != 1:
        raise OperatorError(
            f"expected one security group {config.names.alb_security_group_name} tagged "
            f"{SMOKE_ACCESS_TAG}={config.name}, found {len(groups)}: is {config.name} deployed?"
        )
    return str(groups[0]["GroupId"])


def close(config: StageConfig, ec2: Any) -> list[str]:
    """Remove every ``make smoke`` rule; return the CIDRs removed."""
    if not config.alb_is_restricted:
        return []
    return _revoke_smoke_rules(security_group_id(config, ec2), ec2)


def _revoke_smoke_rules(group_id: str, ec2: Any) -> list[str]:
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])[
        "SecurityGroupRules"
    ]
    ours = [
        rule
        for rule in rules
        if not rule["IsEgress"] and rule.get("Description", "").startswith(RULE_DESCRIPTION)
    ]
    if ours:
        ec2.revoke_security_group_ingress(
            GroupId=group_id, SecurityGroupRuleIds=[rule["SecurityGroupRuleId"] for rule in ours]
        )
    return sorted({str(rule.get("CidrIpv4")) for rule in ours})


def open_for(config: StageConfig, ec2: Any, ip: str) -> str | None:
    """Admit ``ip`` on the listener ports; return the CIDR added, or None when none was
    needed (the ALB is open to the internet, or ``ip`` is inside the stage's ranges)."""
    if not config.alb_is_restricted:
        return None
    address = ipaddress.IPv4Address(ip)
    if any(address in ipaddress.IPv4Network(c) for c in config.network.alb_ingress_cidrs):
        return None
    group_id = security_group_id(config, ec2)
    _revoke_smoke_rules(group_id, ec2)  # a rule left by a run that died
    cidr = f"{address}/32"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": port,
                "ToPort": port,
                "IpRanges": [{"CidrIp": cidr, "Description": f"{RULE_DESCRIPTION} {stamp}"}],
            }
            for port in listener_ports(config)
        ],
    )
    return cidr


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["open", "close"])
    parser.add_argument("stage", choices=STAGE_NAMES)
    parser.add_argument("--ip", help="the address to admit (default: this machine's)")
    args, cdk_args = parser.parse_known_args(argv)

    def body() -> int:
        config = stage_config_from_cli(args.stage, cdk_args)
        if not config.alb_is_restricted:
            print(f"{config.name}'s ALB is open to the internet: no smoke access to {args.action}")
            return 0
        require_credentials()
        ec2 = client("ec2", config.region)
        if args.action == "close":
            removed = close(config, ec2)
            print(f"closed smoke access to {config.name}: {', '.join(removed) or 'none was open'}")
            return 0
        try:
            ip = args.ip or public_ip()
        except OSError as err:
            raise OperatorError(
                f"could not learn this machine's public address from {CHECKIP_URL} ({err}); "
                "give it with --ip"
            ) from None
        cidr = open_for(config, ec2, ip)
        if cidr is None:
            print(f"this address is inside {config.name}'s ranges: nothing to open")
        else:
            print(f"opened {config.name}'s ALB to {cidr} for the smoke test")
        return 0

    return run(f"make smoke STAGE={args.stage} ({args.action} access)", body)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
