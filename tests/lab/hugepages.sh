#!/usr/bin/env bash
# Reserves 512 2 MB hugepages and mounts hugetlbfs on /dev/hugepages, when the
# machine allows it. Never fails: the tests and the demo also run --no-huge.
# Usage: tests/lab/hugepages.sh [PAGES]
set -uo pipefail

pages=${1:-512}
sysfs=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages

if [[ ! -w $sysfs ]]; then
  echo "hugepages: $sysfs not writable here; use --no-huge"
  exit 0
fi
cur=$(cat "$sysfs" 2>/dev/null || echo 0)
if (( cur < pages )); then
  echo "$pages" > "$sysfs" 2>/dev/null || true
fi
got=$(cat "$sysfs" 2>/dev/null || echo 0)
echo "hugepages: $got of $pages 2M pages reserved"

if ! mountpoint -q /dev/hugepages 2>/dev/null; then
  mkdir -p /dev/hugepages 2>/dev/null || true
  if mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages 2>/dev/null; then
    echo "hugepages: mounted hugetlbfs on /dev/hugepages"
  else
    echo "hugepages: could not mount hugetlbfs on /dev/hugepages; use --no-huge"
  fi
fi
exit 0
