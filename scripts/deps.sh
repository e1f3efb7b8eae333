#!/usr/bin/env bash
# deps.sh: installs the Debian packages Marquee needs to build, test and serve, when run as
# root; otherwise prints the exact command to run. Safe to run again (skips what is present).
set -euo pipefail
PKGS=(build-essential pkg-config libopenblas-dev liblapacke-dev libmicrohttpd-dev libcjson-dev
      liblmdb-dev libhiredis-dev redis-server python3-numpy python3-scipy python3-statsmodels
      wrk curl help2man bash-completion prometheus libxgboost-dev python3-xgboost
      chromium)   # the web console's browser test (tests/console)
# node and npm for that test: Debian's packages unless a node with npm is already installed
# (NodeSource's nodejs bundles npm and conflicts with Debian's npm package).
command -v npm > /dev/null 2>&1 && command -v node > /dev/null 2>&1 || PKGS+=(nodejs npm)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2 || true
  $cmd >&2
else
  echo "Marquee needs these Debian packages. Run as root:" >&2
  echo "  sudo apt-get update && sudo $cmd" >&2
  exit 1
fi
