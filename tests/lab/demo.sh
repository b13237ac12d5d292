#!/usr/bin/env bash
# Installs dependencies, builds, and runs the live lab demo: sluice-dp on
# software NICs (net_tap) routing between three kernel hosts in network
# namespaces, with ping, traceroute and HTTP through it and its counters on
# screen. Cleans up after itself.
# Usage: ./tests/lab/demo.sh [--duration SECONDS]     (as root)
set -euo pipefail
cd "$(dirname "$0")/../.."

./tests/lab/install-deps.sh
./tests/lab/hugepages.sh || true   # not required: the demo runs --no-huge
./tests/lab/build.sh build
exec /usr/bin/python3 tests/lab/demo.py "$@"
