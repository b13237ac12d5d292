#!/usr/bin/env bash
# Build a benchmark copy of DPDK's l3fwd example (from the dpdk-doc package)
# for tests/perf/bench.py.
#
# Usage: tests/perf/l3fwd_build.sh OUTDIR MAXROUTES
#   OUTDIR     where the copy goes: OUTDIR/l3fwd (sources, binary in
#              OUTDIR/l3fwd/build/l3fwd) and OUTDIR/common (headers the
#              example includes as ../common, so it must sit beside l3fwd)
#   MAXROUTES  size of the route tables (LPM rules, FIB routes), e.g. 1048576
#
# The installed examples are never modified; every change below is made to
# the copy and is marked "benchmark build copy:" in the patched sources.
#
# Route files (read at start-up, one route per line, '#' comments allowed):
#   L3FWD_ROUTES4=FILE   lines "a.b.c.d/len port"   (e.g. "100.64.0.0/30 1")
#   L3FWD_ROUTES6=FILE   lines "x::/len port"       (e.g. "2001:db8::/64 1")
# A family without a file keeps l3fwd's compiled-in default table.
#
# Build variants (tests/perf/builds_bench.py), all optional:
#   L3FWD_EXTRA_CFLAGS=...   added after pkg-config's flags (so -march=... there
#                            overrides DPDK's -march=corei7), e.g. -flto
#   L3FWD_EXTRA_LDFLAGS=...  added to the link (extra objects, -Wl,... flags)
#   L3FWD_LINK=static        link DPDK statically (the Makefile's "static"
#                            target: pkg-config --static, drivers whole-archive);
#                            default shared
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 OUTDIR MAXROUTES" >&2
    exit 2
fi
OUTDIR=$1
MAXROUTES=$2
case "$MAXROUTES" in
    ''|*[!0-9]*) echo "MAXROUTES must be a positive number" >&2; exit 2 ;;
esac
[ "$MAXROUTES" -ge 16 ] || MAXROUTES=16

SRC=/usr/share/dpdk/examples
if [ ! -f "$SRC/l3fwd/main.c" ] || [ ! -d "$SRC/common" ]; then
    echo "$SRC/l3fwd or $SRC/common missing: apt-get install dpdk-doc" >&2
    exit 1
fi
pkg-config --exists libdpdk || { echo "pkg-config cannot find libdpdk (apt-get install dpdk-dev)" >&2; exit 1; }

LINK=${L3FWD_LINK:-shared}
case "$LINK" in shared|static) ;; *) echo "L3FWD_LINK must be shared or static" >&2; exit 2 ;; esac

mkdir -p "$OUTDIR"
rm -rf "$OUTDIR/l3fwd" "$OUTDIR/common"
cp -r "$SRC/l3fwd" "$SRC/common" "$OUTDIR/"
chmod -R u+w "$OUTDIR/l3fwd" "$OUTDIR/common"

python3 - "$OUTDIR/l3fwd" "$MAXROUTES" <<'PY'
import re, sys
d, maxroutes = sys.argv[1], int(sys.argv[2])

def patch(name, old, new, count=1):
    path = f"{d}/{name}"
    text = open(path).read()
    n = text.count(old)
    if n != count:
        sys.exit(f"l3fwd_build: {name}: expected {count} match(es) of {old!r}, found {n} "
                 "(DPDK version other than 22.11?)")
    open(path, "w").write(text.replace(old, new))

# --- (a) RX checksum offload -------------------------------------------------
# benchmark build copy: l3fwd 22.11 asks every port for
# RTE_ETH_RX_OFFLOAD_CHECKSUM in the static port_conf.rxmode.offloads, which
# is then used for rte_eth_dev_configure and for every rxq_conf.offloads.
# Software ports (net_null) do not offer it and rte_eth_dev_configure fails.
# We ask for no RX offload at all; the forwarding path does not depend on it
# (l3fwd's RFC 1812 checks are done in software on the packet type), and all
# contenders then do the same work per packet.
patch("main.c",
      "\t\t.offloads = RTE_ETH_RX_OFFLOAD_CHECKSUM,\n",
      "\t\t/* benchmark build copy: no RX checksum offload (net_null has none) */\n"
      "\t\t.offloads = 0,\n")
# benchmark build copy: and in case anything is added later, keep only the RX
# offloads the device reports in dev_info.rx_offload_capa.
patch("main.c",
      "\t\tlocal_port_conf.rx_adv_conf.rss_conf.rss_hf &=\n\t\t\tdev_info.flow_type_rss_offloads;\n",
      "\t\tlocal_port_conf.rx_adv_conf.rss_conf.rss_hf &=\n\t\t\tdev_info.flow_type_rss_offloads;\n"
      "\t\t/* benchmark build copy: mask RX offloads with the device's capabilities */\n"
      "\t\tlocal_port_conf.rxmode.offloads &= dev_info.rx_offload_capa;\n")
patch("main.c",
      "\t\t\trxq_conf.offloads = port_conf.rxmode.offloads;\n",
      "\t\t\trxq_conf.offloads = port_conf.rxmode.offloads &\n"
      "\t\t\t\tdev_info.rx_offload_capa; /* benchmark build copy: masked */\n")

# --- (b) route tables from files named by L3FWD_ROUTES4 / L3FWD_ROUTES6 -----
# l3fwd 22.11 LPM and FIB modes both fill their tables (setup_lpm in
# l3fwd_lpm.c, setup_fib in l3fwd_fib.c) by iterating route_base_v4[0..
# route_num_v4) and route_base_v6[0..route_num_v6) (lpm_route_parse.c).
# Those arrays come either from --rule_ipv4/--rule_ipv6 files (lines that
# start with 'R', both files required) or from the compiled-in
# ipv4_l3fwd_route_array / ipv6_l3fwd_route_array (main.c, 16 routes each).
#
# benchmark build copy: read_config_files_lpm() takes each family's file from
# the environment (L3FWD_ROUTES4 / L3FWD_ROUTES6), falling back to the
# --rule_ipv4/--rule_ipv6 option, then to the compiled-in array; each family
# independently.
patch("lpm_route_parse.c",
      "void\nread_config_files_lpm(void)\n{\n"
      "\tif (parm_config.rule_ipv4_name != NULL &&\n"
      "\t\t\tparm_config.rule_ipv6_name != NULL) {",
      "void\nread_config_files_lpm(void)\n{\n"
      "\t/* benchmark build copy: route files from the environment, per family */\n"
      "\tconst char *f4 = getenv(\"L3FWD_ROUTES4\");\n"
      "\tconst char *f6 = getenv(\"L3FWD_ROUTES6\");\n"
      "\tif (f4 == NULL || *f4 == '\\0')\n\t\tf4 = parm_config.rule_ipv4_name;\n"
      "\tif (f6 == NULL || *f6 == '\\0')\n\t\tf6 = parm_config.rule_ipv6_name;\n"
      "\tif (f4 != NULL) {\n"
      "\t\troute_num_v4 = lpm_add_rules(f4, &route_base_v4, &lpm_parse_v4_rule);\n"
      "\t\tif (route_num_v4 < 0) {\n\t\t\tlpm_free_routes();\n"
      "\t\t\trte_exit(EXIT_FAILURE, \"Failed to read IPv4 routes from %s\\n\", f4);\n\t\t}\n"
      "\t} else if (lpm_add_default_v4_rules() < 0) {\n"
      "\t\trte_exit(EXIT_FAILURE, \"Failed to add default IPv4 rules\\n\");\n\t}\n"
      "\tif (f6 != NULL) {\n"
      "\t\troute_num_v6 = lpm_add_rules(f6, &route_base_v6, &lpm_parse_v6_rule);\n"
      "\t\tif (route_num_v6 < 0) {\n\t\t\tlpm_free_routes();\n"
      "\t\t\trte_exit(EXIT_FAILURE, \"Failed to read IPv6 routes from %s\\n\", f6);\n\t\t}\n"
      "\t} else if (lpm_add_default_v6_rules() < 0) {\n"
      "\t\trte_exit(EXIT_FAILURE, \"Failed to add default IPv6 rules\\n\");\n\t}\n"
      "\tRTE_LOG(INFO, L3FWD, \"benchmark build copy: %d IPv4 routes (%s), %d IPv6 routes (%s)\\n\",\n"
      "\t\troute_num_v4, f4 ? f4 : \"built-in\", route_num_v6, f6 ? f6 : \"built-in\");\n"
      "\treturn;\n"
      "\tif (parm_config.rule_ipv4_name != NULL &&\n"
      "\t\t\tparm_config.rule_ipv6_name != NULL) {")
# benchmark build copy: the file format is "a.b.c.d/len port" per line; the
# leading 'R' of l3fwd's own rule files is accepted but not required. The
# first pass counts candidate lines (not comments/blank) instead of 'R' lines.
patch("lpm_route_parse.c",
      "\twhile ((fgets(buff, LINE_MAX, fh) != NULL)) {\n"
      "\t\tif (buff[0] == ROUTE_LEAD_CHAR)\n\t\t\troute_num++;\n\t}\n",
      "\twhile ((fgets(buff, LINE_MAX, fh) != NULL)) {\n"
      "\t\t/* benchmark build copy: count every route line, 'R' optional */\n"
      "\t\tif (!is_bypass_line(buff))\n\t\t\troute_num++;\n\t}\n")
patch("lpm_route_parse.c",
      "\t\tchar s = buff[0];\n\n\t\t/* Route entry */\n"
      "\t\tif (s == ROUTE_LEAD_CHAR)\n\t\t\tnext = &route_rules[route_cnt];\n",
      "\t\tchar s = buff[0];\n\t\tint skip = (s == ROUTE_LEAD_CHAR); /* benchmark build copy */\n\n"
      "\t\t/* Route entry */\n"
      "\t\tif (1) /* benchmark build copy: 'R' optional */\n"
      "\t\t\tnext = &route_rules[route_cnt];\n")
patch("lpm_route_parse.c",
      "\t\tif (parser(buff + 1, next) != 0) {",
      "\t\tif (parser(buff + skip, next) != 0) { /* benchmark build copy */")

# benchmark build copy: table sizes raised to MAXROUTES (l3fwd's are 1024
# LPM rules and 65536 FIB routes). tbl8 groups are capped at 65536 (64 MiB
# per table): routes up to /24 (IPv4) need none, and /64 IPv6 routes that
# share their first 48 bits need about N/256 + 32.
tbl8 = max(256, min(maxroutes, 1 << 16))
patch("l3fwd_lpm.c",
      "#define IPV4_L3FWD_LPM_MAX_RULES         1024\n"
      "#define IPV4_L3FWD_LPM_NUMBER_TBL8S (1 << 8)\n"
      "#define IPV6_L3FWD_LPM_MAX_RULES         1024\n"
      "#define IPV6_L3FWD_LPM_NUMBER_TBL8S (1 << 16)\n",
      "/* benchmark build copy: tables sized for MAXROUTES routes */\n"
      f"#define IPV4_L3FWD_LPM_MAX_RULES         {maxroutes}\n"
      f"#define IPV4_L3FWD_LPM_NUMBER_TBL8S ({tbl8})\n"
      f"#define IPV6_L3FWD_LPM_MAX_RULES         {maxroutes}\n"
      f"#define IPV6_L3FWD_LPM_NUMBER_TBL8S ({max(tbl8, 1 << 16)})\n")
patch("l3fwd_fib.c", "\tconfig_ipv4.max_routes = (1 << 16);\n",
      f"\tconfig_ipv4.max_routes = {maxroutes}; /* benchmark build copy */\n")
patch("l3fwd_fib.c", "\tconfig.max_routes = (1 << 16) - 1;\n",
      f"\tconfig.max_routes = {maxroutes}; /* benchmark build copy */\n")
# benchmark build copy: the IPv6 FIB (RTE_FIB6_TRIE) ran out of tbl8 groups
# after 6553 /64 routes with l3fwd's 1 << 15: measured about 5 tbl8 groups
# per /64 route (one per byte level 3..7). Give it 5 per route, capped at
# 1 << 19 groups (512 MiB with 4-byte next hops; 1 << 20 = 1 GiB failed to
# allocate under --no-huge -m 2048), i.e. about 104000 IPv6 routes at most:
# the 10^6-route IPv6 FIB profile cannot be built (it would need ~5 GiB).
fib6_tbl8 = max(1 << 15, min(5 * maxroutes + 256, 1 << 19))
patch("l3fwd_fib.c", "\tconfig.trie.num_tbl8 = (1 << 15);\n",
      f"\tconfig.trie.num_tbl8 = {fib6_tbl8}; /* benchmark build copy */\n")

# benchmark build copy: l3fwd prints one line per route added; with 10^6
# routes that is ~60 MB of log. Print the first 16 only.
for name, tag in (("l3fwd_lpm.c", "LPM"), ("l3fwd_fib.c", "FIB")):
    path = f"{d}/{name}"
    text = open(path).read()
    old = f'printf("{tag}: '
    n = text.count(old)
    if n < 2:
        sys.exit(f"l3fwd_build: {name}: per-route printf not found")
    text = text.replace(old, f'if (i < 16) printf("{tag}: ')
    open(path, "w").write(text)
PY

# benchmark build copy: the build variants' flags (empty by default) go
# after the example's own CFLAGS, so a -march there wins over pkg-config's.
grep -q '^CFLAGS += -I../common$' "$OUTDIR/l3fwd/Makefile" || {
    echo "l3fwd_build: Makefile: 'CFLAGS += -I../common' not found (DPDK version other than 22.11?)" >&2; exit 1; }
sed -i 's|^CFLAGS += -I../common$|CFLAGS += -I../common\n# benchmark build copy: build variant flags\nCFLAGS += $(L3FWD_EXTRA_CFLAGS)\nLDFLAGS += $(L3FWD_EXTRA_LDFLAGS)|' \
    "$OUTDIR/l3fwd/Makefile"
export L3FWD_EXTRA_CFLAGS="${L3FWD_EXTRA_CFLAGS:-}" L3FWD_EXTRA_LDFLAGS="${L3FWD_EXTRA_LDFLAGS:-}"

# benchmark build copy: built with the example's own Makefile (pkg-config
# libdpdk, -O3, shared DPDK libraries unless L3FWD_LINK=static) so it is the
# stock l3fwd otherwise.
make -C "$OUTDIR/l3fwd" -j2 "$LINK" >"$OUTDIR/l3fwd-build.log" 2>&1 || {
    tail -n 40 "$OUTDIR/l3fwd-build.log" >&2
    echo "l3fwd build failed, log: $OUTDIR/l3fwd-build.log" >&2
    exit 1
}
echo "$MAXROUTES" >"$OUTDIR/l3fwd/build/maxroutes"
echo "$OUTDIR/l3fwd/build/l3fwd"
