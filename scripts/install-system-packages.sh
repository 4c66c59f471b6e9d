#!/usr/bin/env bash
# Installs the Debian packages the tests need, when their commands are missing.
# As root it runs apt-get; otherwise it names the packages and stops.
set -euo pipefail

# command -> Debian package
declare -A NEEDED=(
  [mariadbd]=mariadb-server
  [redis-server]=redis-server
  [promtool]=prometheus
  [amtool]=prometheus-alertmanager
  [curl]=curl
)

missing=()
for cmd in "${!NEEDED[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
    missing+=("${NEEDED[$cmd]}")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need these Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "Installing test dependencies: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Services are started by the tests themselves on loopback; don't let apt start them.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
