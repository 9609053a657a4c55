#!/usr/bin/env bash
# Install the Debian 12 packages containers_vreg needs to build, test and demo.
# A no-op when everything is present. Needs root (or prints the command to run).
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
packages=(
  make gcc
  "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" "postgresql-contrib"
  libsodium-dev
  "postgresql-$PG_MAJOR-plproxy"
  clang libclang-rt-14-dev
  gnuplot-nox
  util-linux procps
  # end-to-end pulls (test/scripts/e2e.sh, test/e2e/): upstream registry,
  # OCI client, htpasswd, the reference service's driver
  docker-registry skopeo umoci apache2-utils python3-psycopg curl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "containers_vreg: missing packages: ${missing[*]}" >&2
  echo "run as root: apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "containers_vreg: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# postgresql-common would create and start a 'main' cluster; we only want the binaries.
mkdir -p /etc/postgresql-common
if ! grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf; then
  echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf
fi
# docker-registry's package would start a system registry on port 5000: the
# tests run their own on free loopback ports, so no service is started here.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get install -y -qq "${missing[@]}" >/dev/null
