#!/usr/bin/env bash
# Installs the Debian packages the test-suite starts as real third-party servers:
# proxies (tinyproxy, microsocks) and the collect backends (redis-server, PostgreSQL).
# Idempotent: does nothing when they are already installed.
set -euo pipefail
need=()
command -v tinyproxy >/dev/null 2>&1 || need+=(tinyproxy)
command -v microsocks >/dev/null 2>&1 || need+=(microsocks)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# the tests run initdb/pg_ctl from here, not a system cluster
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${need[@]}" >/dev/null
