#!/bin/bash
# NAT setup of a NAT instance, run at EVERY boot (cloud-init per-boot script): dev's NAT
# instance is stopped every night and started every morning, and nothing of this survives a
# stop unless redone. Replaces CDK's default NAT user data, which runs once, needs `route`
# (net-tools) and installs iptables-services with dnf at first boot, where a dnf race or a
# 512 MB instance can make it fail (aws-cdk#36717): then the instance forwards nothing.
#
# 1. IP forwarding on.
# 2. Masquerade what leaves through the default-route interface (found with `ip route`), with
#    iptables if present, else nft, else iptables-nft installed by dnf (retried: at boot dnf
#    may be busy with its own cache refresh).
# Idempotent: a rule that exists is not added twice.
set -euo pipefail

attempts="${NAT_DNF_ATTEMPTS:-10}"
delay="${NAT_DNF_DELAY:-15}"

sysctl -q -w net.ipv4.ip_forward=1

iface="$(ip -4 route show default | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')"
if [ -z "$iface" ]; then
  echo "nat-setup: no default route yet" >&2
  exit 1
fi

if ! command -v iptables >/dev/null 2>&1 && ! command -v nft >/dev/null 2>&1; then
  for ((attempt = 1; attempt <= attempts; attempt++)); do
    if dnf install -y iptables-nft; then
      break
    fi
    echo "nat-setup: dnf install failed (attempt $attempt/$attempts)" >&2
    if [ "$attempt" -lt "$attempts" ]; then sleep "$delay"; fi
  done
fi

if command -v iptables >/dev/null 2>&1; then
  iptables -t nat -C POSTROUTING -o "$iface" -j MASQUERADE 2>/dev/null ||
    iptables -t nat -A POSTROUTING -o "$iface" -j MASQUERADE
  # Forwarding is the instance's job: nothing in FORWARD may reject it.
  iptables -P FORWARD ACCEPT
  iptables -F FORWARD
elif command -v nft >/dev/null 2>&1; then
  nft add table ip nat
  nft 'add chain ip nat postrouting { type nat hook postrouting priority 100 ; }'
  nft list chain ip nat postrouting | grep -q "oifname \"$iface\" masquerade" ||
    nft add rule ip nat postrouting oifname "$iface" masquerade
else
  echo "nat-setup: neither iptables nor nft, and dnf could not install iptables-nft" >&2
  exit 1
fi
echo "nat-setup: forwarding and masquerading through $iface"
