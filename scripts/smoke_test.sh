#!/usr/bin/env bash
# Smoke test of a deployed stage: GET the backend's health endpoint through the stage's ALB
# until it answers HTTP 200, a bounded number of times, each request with a timeout.
#
#   smoke_test.sh --alb openmarket-dev-alb [--path /api/health] [--host shop.example.com] [--https]
#   smoke_test.sh --url http://127.0.0.1:8080/api/health
#   smoke_test.sh --url https://shop.example.com/api/health \
#                 --redirect-from http://shop.example.com/api/health
#
# --alb    looks the load balancer's DNS name up with the AWS CLI (inside the same bounded
#          loop: right after a first deploy the AWS Load Balancer Controller may still be
#          creating it). The ALB is made by the controller from the Ingress, so it is not a
#          CloudFormation output.
# --host   the stage's domain: sent as Host header (and TLS SNI), connecting to the ALB itself,
#          because an Ingress with a host rule answers other hosts with 404.
# --https  use port 443 (stages with a certificate redirect plain HTTP with a 301).
# --redirect-from  a plain-HTTP URL that must answer 301 or 308 with a Location on https://
#          and the same host (the ALB's HTTP->HTTPS redirect); checked, without following
#          it, once the health check has passed, within the same attempts.
#
# Environment (all optional): SMOKE_ATTEMPTS (default 30), SMOKE_INTERVAL seconds between
# attempts (10), SMOKE_TIMEOUT seconds per request (5), SMOKE_PORT the ALB listener port
# (80, or 443 with --https), AWS the AWS CLI command (aws).
# Worst case it runs about ATTEMPTS x (2 x TIMEOUT + INTERVAL) seconds. Exit 0 on a 200, 1 when
# every attempt failed, 2 on a usage error.
set -euo pipefail

attempts="${SMOKE_ATTEMPTS:-30}"
interval="${SMOKE_INTERVAL:-10}"
timeout_s="${SMOKE_TIMEOUT:-5}"
aws_cli="${AWS:-aws}"

usage() {
  echo "usage: $0 (--alb NAME [--path PATH] [--host NAME] [--https] | --url URL)" \
    "[--redirect-from URL]" >&2
  exit 2
}

alb="" url="" path="/api/health" host="" scheme="http" redirect_from=""
while [ $# -gt 0 ]; do
  case "$1" in
    --alb) alb="${2:?}"; shift 2 ;;
    --url) url="${2:?}"; shift 2 ;;
    --path) path="${2:?}"; shift 2 ;;
    --host) host="${2:?}"; shift 2 ;;
    --https) scheme="https"; shift ;;
    --redirect-from) redirect_from="${2:?}"; shift 2 ;;
    -h | --help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
if [ -n "$alb" ] && [ -n "$url" ] || [ -z "$alb$url" ]; then usage; fi
for value in "$attempts" "$interval" "$timeout_s"; do
  [[ "$value" =~ ^[0-9]+$ ]] || { echo "SMOKE_ATTEMPTS/INTERVAL/TIMEOUT must be integers" >&2; exit 2; }
done
[ "$attempts" -ge 1 ] && [ "$timeout_s" -ge 1 ] || { echo "need ATTEMPTS >= 1, TIMEOUT >= 1" >&2; exit 2; }
case "$path" in /*) ;; *) echo "--path must start with /" >&2; exit 2 ;; esac
case "$redirect_from" in "" | http://*) ;; *) echo "--redirect-from must be an http:// URL" >&2; exit 2 ;; esac
# The redirect must stay on this host: https://<host> then a port, a path or nothing.
redirect_host="${redirect_from#http://}"
redirect_host="${redirect_host%%/*}"
redirect_host="${redirect_host%%:*}"

port=80
[ "$scheme" = https ] && port=443
port="${SMOKE_PORT:-$port}"
[[ "$port" =~ ^[0-9]+$ ]] || { echo "SMOKE_PORT must be an integer" >&2; exit 2; }
# The URL names the port only when it is not the scheme's own (a Host header of
# "shop.example.com", not "shop.example.com:80").
port_suffix=":$port"
if [ "$scheme:$port" = http:80 ] || [ "$scheme:$port" = https:443 ]; then port_suffix=""; fi
target="${url:-$alb}"

resolve_alb() {
  # Not found yet -> retry; any other error (no permission, no credentials) -> stop now,
  # with the CLI's own message, instead of retrying for minutes.
  local dns err
  err="$(mktemp)"
  if dns="$(timeout "$timeout_s" "$aws_cli" elbv2 describe-load-balancers --names "$alb" \
      --query 'LoadBalancers[0].DNSName' --output text 2>"$err")"; then
    rm -f "$err"
    [ -n "$dns" ] && [ "$dns" != None ] || return 1
    printf '%s' "$dns"
    return 0
  fi
  if grep -q "LoadBalancerNotFound" "$err"; then
    rm -f "$err"
    return 1
  fi
  cat "$err" >&2
  rm -f "$err"
  return 3
}

status() {
  # The HTTP status of one request, or 000 when there was no answer in time.
  local code curl_args=(--silent --output /dev/null --write-out '%{http_code}'
    --max-time "$timeout_s" --connect-timeout "$timeout_s")
  if [ -n "$host" ]; then
    curl_args+=(--connect-to "$host:$port:$dns:$port")
  fi
  code="$(curl "${curl_args[@]}" "$url")" || true
  printf '%s' "${code:-000}"
}

redirect_ok() {
  # 301/308 to https://<same host>... (not followed); prints what was seen otherwise.
  local seen code location
  seen="$(curl --silent --output /dev/null --write-out '%{http_code} %{redirect_url}' \
    --max-time "$timeout_s" --connect-timeout "$timeout_s" "$redirect_from")" || true
  code="${seen%% *}" location="${seen#* }"
  case "$code" in 301 | 308) ;; *) printf '%s' "${code:-000}"; return 1 ;; esac
  case "$location" in
    "https://$redirect_host" | "https://$redirect_host"/* | "https://$redirect_host":*) return 0 ;;
  esac
  printf '%s to %s' "$code" "${location:-nowhere}"
  return 1
}

dns=""
for ((attempt = 1; attempt <= attempts; attempt++)); do
  if [ -n "$alb" ] && [ -z "$dns" ]; then
    found=0
    dns="$(resolve_alb)" || found=$?
    if [ "$found" = 0 ]; then
      url="$scheme://${host:-$dns}$port_suffix$path"
      echo "ALB $alb is $dns; checking $url"
    elif [ "$found" = 3 ]; then
      echo "smoke test FAILED: cannot look up $alb (see the AWS CLI error above)" >&2
      exit 1
    else
      dns=""
      echo "attempt $attempt/$attempts: load balancer $alb not found yet"
    fi
  fi
  if [ -n "$url" ]; then
    code="$(status)"
    if [ "$code" = 200 ] && [ -z "$redirect_from" ]; then
      echo "smoke test passed: $url answered 200 (attempt $attempt/$attempts)"
      exit 0
    elif [ "$code" = 200 ]; then
      if redirect="$(redirect_ok)"; then
        echo "smoke test passed: $url answered 200 and $redirect_from redirects to HTTPS" \
          "(attempt $attempt/$attempts)"
        exit 0
      fi
      echo "attempt $attempt/$attempts: $url answered 200, but $redirect_from answered" \
        "${redirect/#000/nothing in ${timeout_s}s} (want 301/308 to https://$redirect_host)"
    else
      echo "attempt $attempt/$attempts: $url answered ${code/#000/nothing in ${timeout_s}s}"
    fi
  fi
  if [ "$attempt" -lt "$attempts" ]; then sleep "$interval"; fi
done
echo "smoke test FAILED: $target did not answer 200 after $attempts attempts" >&2
exit 1
