#!/usr/bin/env bash
# Installs every Debian package sluice needs to build, test, demo and
# benchmark. Idempotent: when all are installed it does nothing (no apt).
# Usage: tests/lab/install-deps.sh        (as root, Debian 12)
set -euo pipefail

PACKAGES=(
  # build
  build-essential g++ meson ninja-build pkg-config git
  libdpdk-dev dpdk dpdk-dev dpdk-doc libibverbs-dev
  libtbb-dev libyaml-cpp-dev nlohmann-json3-dev libabsl-dev
  # control process and CLI: argument parsing, line editing, metrics endpoint
  libcli11-dev libedit-dev libcpp-httplib-dev
  # unit tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev valgrind python3-matplotlib
  # functional tests, demo
  python3 python3-pytest python3-pytest-timeout python3-scapy python3-yaml
  tshark tcpdump iproute2 iputils-ping traceroute curl procps psmisc kmod coreutils
  python3-pexpect prometheus util-linux
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing ${missing[*]}; run as root" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer it up front.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt_opts=(-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=300)
apt-get "${apt_opts[@]}" update -q
apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${PACKAGES[@]}"
echo "install-deps: done"
