#!/usr/bin/env bash
# On a machine with an RDMA device: perftest's ib_send_bw and sluice's
# transport (bench_rdma_transport, the same Peer code the data plane runs)
# on the same device, 64-byte SEND messages, and the ratio of their message
# rates (target: sluice within 10% of ib_send_bw). Both run over the device's
# loopback (server and client on this host), one core each side.
#
# Usage: tests/perf/rdma_hw_bench.sh DEVICE [GID_INDEX] [BUILD_DIR]
#   DEVICE     an RDMA device (ibv_devices), e.g. mlx5_0
#   GID_INDEX  RoCE only: the GID index for ib_send_bw's -x (sluice chooses
#              its own: a RoCEv2 entry; docs/rdma.md)
#   BUILD_DIR  a release build (default build-perf; made if missing)
# Exits 2 when there is no such device (this CI machine has none).
set -euo pipefail
cd "$(dirname "$0")/../.."
dev=${1:?usage: $0 DEVICE [GID_INDEX] [BUILD_DIR]}
gid=${2:-}
build=${3:-build-perf}
size=64
iters=5000000

command -v ibv_devices >/dev/null || apt-get install -y -q --no-install-recommends ibverbs-utils perftest >/dev/null
command -v ib_send_bw >/dev/null || apt-get install -y -q --no-install-recommends perftest >/dev/null
if ! ibv_devices 2>/dev/null | awk 'NR > 2 {print $1}' | grep -qx "$dev"; then
  echo "rdma_hw_bench: no RDMA device $dev here (ibv_devices lists: $(ibv_devices 2>/dev/null | awk 'NR > 2 {print $1}' | tr '\n' ' '))" >&2
  exit 2
fi
if [[ ! -f $build/build.ninja ]]; then
  meson setup "$build" -Dbuildtype=release -Db_ndebug=true >/dev/null
fi
ninja -C "$build" tests/unit/rdma/transport/bench_rdma_transport >/dev/null

xopt=()
[[ -n $gid ]] && xopt=(-x "$gid")
port=$((18000 + RANDOM % 1000))
taskset -c 0 ib_send_bw -d "$dev" -s $size -n $iters -p $port -F "${xopt[@]}" >/tmp/ib_send_bw.server 2>&1 &
srv=$!
# The server is ready when it listens for the exchange (perftest's own TCP).
for _ in $(seq 100); do
  ss -Hltn "sport = :$port" | grep -q . && break
  sleep 0.1
done
taskset -c 1 ib_send_bw -d "$dev" -s $size -n $iters -p $port -F "${xopt[@]}" 127.0.0.1 >/tmp/ib_send_bw.client 2>&1
wait $srv || true
# The result line: #bytes #iterations BW peak BW average MsgRate[Mpps]
theirs=$(awk -v s=$size '$1 == s && NF >= 5 {print $5}' /tmp/ib_send_bw.client | tail -n 1)
ours=$(taskset -c 0 "$build/tests/unit/rdma/transport/bench_rdma_transport" --device "$dev" --size $size \
         --seconds 5 --json | tail -n 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["mpps"])')
echo "ib_send_bw  $size B: ${theirs:-?} Mpps"
echo "sluice      $size B: ${ours:-?} Mpps (bench_rdma_transport, Peer::tx_burst/rx_burst)"
if [[ -n $theirs && -n $ours ]]; then
  python3 -c "r = $ours / $theirs; print(f'ratio {r:.3f} ({\"within\" if r >= 0.9 else \"outside\"} the 10% target)')"
fi
