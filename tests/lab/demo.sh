#!/usr/bin/env bash
# Installs dependencies, builds, and runs the live lab demo: sluice-dp on
# software NICs (net_tap) routing between four kernel hosts in network
# namespaces, with ping, traceroute and HTTP through it, and balancing a VIP
# over three HTTP backends whose health sluice-control checks (one drained
# with sluicectl half way, one failing its health check later), its counters
# on screen. Ends with "demo: OK" only if everything behaved. Cleans up
# after itself.
# Usage: ./tests/lab/demo.sh [--duration SECONDS]     (as root)
set -euo pipefail
cd "$(dirname "$0")/../.."

./tests/lab/install-deps.sh
# No hugepages.sh: the lab runs --no-huge, and a reservation would outlive the
# demo (and, run in a chroot such as fresh-root.sh, land on the host).
# Only the binaries: the unit tests and benchmarks are not needed to run the lab
# (tests/run_all.sh builds the rest into the same build/).
./tests/lab/build.sh build dataplane/sluice-dp control/daemon/sluice-control control/cli/sluicectl
# Debian's python3, looked up only now that install-deps.sh has installed it
# (and its pytest/scapy/yaml): a minimal Debian 12 has none beforehand.
exec /usr/bin/python3 tests/lab/demo.py "$@"
