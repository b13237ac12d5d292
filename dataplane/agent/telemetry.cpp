#include "dataplane/agent/telemetry.hpp"

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include <rte_ethdev.h>
#include <rte_telemetry.h>

#include "api/port.hpp"
#include "dataplane/agent/agent.hpp"
#include "dataplane/agent/callback_gate.hpp"
#include "dataplane/agent/telemetry_lb.hpp"
#include "dataplane/reload/reloader.hpp"
#include "dataplane/tables/builder.hpp"

namespace sluice::dp {

namespace {

std::atomic<Shared*> g_shared{nullptr};
std::atomic<Agent*> g_agent{nullptr};
std::atomic<const ConfigReloader*> g_reloader{nullptr};
std::atomic<const TableBuilder*> g_builder{nullptr};
// Every command runs inside the gate (gated<> below), so shutdown can wait
// for the ones in flight before Shared and the agent are destroyed.
CallbackGate g_gate;

uint64_t sum_drop(const Shared& sh, size_t r) {
    uint64_t t = 0;
    for (const auto& c : sh.cores) t += read(c->drops[r]);
    return t;
}

int cmd_drops(const char*, const char*, rte_tel_data* d) {
    Shared* sh = g_shared.load();
    if (!sh) return -1;
    rte_tel_data_start_dict(d);
    for (size_t r = 1; r < kDropReasonCount; ++r)
        rte_tel_data_add_dict_u64(d, std::string(kDropReasonNames[r]).c_str(), sum_drop(*sh, r));
    return 0;
}

int cmd_ports(const char*, const char*, rte_tel_data* d) {
    Shared* sh = g_shared.load();
    if (!sh) return -1;
    rte_tel_data_start_dict(d);
    for (const Port& port : sh->ports.port) {
        if (!port.open) continue;
        const drivers::PortInfo& p = port.info;
        rte_tel_data* c = rte_tel_data_alloc();
        if (!c) return -1;
        rte_tel_data_start_dict(c);
        rte_eth_stats st{};
        rte_eth_stats_get(p.port_id, &st);
        uint64_t sw_rx = 0, sw_tx = 0;
        for (const auto& core : sh->cores) {
            sw_rx += read(core->rx[p.port_id]);
            sw_tx += read(core->tx[p.port_id]);
        }
        rte_tel_data_add_dict_u64(c, "port_id", p.port_id);
        rte_tel_data_add_dict_string(c, "driver", p.driver.c_str());
        rte_tel_data_add_dict_u64(c, "rx_packets", sw_rx);
        rte_tel_data_add_dict_u64(c, "tx_packets", sw_tx);
        rte_tel_data_add_dict_u64(c, "nic_rx_packets", st.ipackets);
        rte_tel_data_add_dict_u64(c, "nic_tx_packets", st.opackets);
        rte_tel_data_add_dict_u64(c, "rx_missed", st.imissed);
        rte_tel_data_add_dict_u64(c, "rx_errors", st.ierrors);
        rte_tel_data_add_dict_u64(c, "tx_errors", st.oerrors);
        rte_tel_data_add_dict_u64(c, "rx_nombuf", st.rx_nombuf);
        rte_tel_data_add_dict_u64(c, "rx_queues", p.rx_queues);
        rte_tel_data_add_dict_u64(c, "rss", p.rss);
        rte_tel_data_add_dict_u64(c, "rx_ip_cksum_offload", p.rx_ip_cksum);
        rte_tel_data_add_dict_u64(c, "tx_fast_free", p.tx_fast_free);
        for (uint16_t q = 0; q < p.rx_queues && q < kMaxQueuesPerPort; ++q)
            rte_tel_data_add_dict_u64(c, ("rxq" + std::to_string(q)).c_str(), read(sh->queues[p.port_id][q].rx));
        rte_tel_data_add_dict_container(d, port.spec.name.c_str(), c, 0);
    }
    return 0;
}

uint64_t sum(const Counter (&cs)[kDropReasonCount]) {
    uint64_t t = 0;
    for (const auto& x : cs) t += read(x);
    return t;
}

uint64_t sum_rx(const CoreCounters& k) {
    uint64_t t = 0;
    for (const auto& x : k.rx) t += read(x);
    return t;
}

// Per core. A worker: rx = forwarded + punted + dropped. The agent:
// punted_in = handled + dropped + pending, and apart from those the packets
// it built (originated, originated_dropped, originated_pending);
// docs/architecture.md, "Counters". Exact when the data plane is quiet.
int cmd_workers(const char*, const char*, rte_tel_data* d) {
    Shared* sh = g_shared.load();
    if (!sh) return -1;
    rte_tel_data_start_dict(d);
    for (size_t i = 0; i < sh->cores.size(); ++i) {
        const CoreCounters& k = *sh->cores[i];
        const bool agent = i + 1 == sh->cores.size();
        rte_tel_data* c = rte_tel_data_alloc();
        if (!c) return -1;
        rte_tel_data_start_dict(c);
        rte_tel_data_add_dict_u64(c, "rx", sum_rx(k));
        rte_tel_data_add_dict_u64(c, "forwarded", read(k.forwarded));
        rte_tel_data_add_dict_u64(c, "punted", read(k.punted));
        rte_tel_data_add_dict_u64(c, "dropped", sum(k.drops));
        rte_tel_data_add_dict_u64(c, "polls", read(k.polls));
        rte_tel_data_add_dict_u64(c, "idle_polls", read(k.idle_polls));
        rte_tel_data_add_dict_u64(c, "sleeps", read(k.sleeps));
        if (agent) {
            const AgentCounters& a = k.agent;
            rte_tel_data_add_dict_u64(c, "punted_in", read(a.punted_in));
            rte_tel_data_add_dict_u64(c, "handled", read(a.handled));
            rte_tel_data_add_dict_u64(c, "pending", read(a.pending));
            rte_tel_data_add_dict_u64(c, "originated", read(a.originated));
            rte_tel_data_add_dict_u64(c, "originated_dropped", sum(a.originated_drops));
            rte_tel_data_add_dict_u64(c, "originated_pending", read(a.originated_pending));
            rte_tel_data_add_dict_u64(c, "neighbor_slot_refused", read(a.neighbor_slot_refused));
        }
        for (size_t r = 1; r < kDropReasonCount; ++r)
            if (uint64_t v = read(k.drops[r]))
                rte_tel_data_add_dict_u64(c, ("drop_" + std::string(kDropReasonNames[r])).c_str(), v);
        if (agent)
            for (size_t r = 1; r < kDropReasonCount; ++r)
                if (uint64_t v = read(k.agent.originated_drops[r]))
                    rte_tel_data_add_dict_u64(c, ("originated_drop_" + std::string(kDropReasonNames[r])).c_str(), v);
        std::string name = agent ? "agent" : "worker" + std::to_string(i);
        rte_tel_data_add_dict_container(d, name.c_str(), c, 0);
    }
    return 0;
}

// Telemetry keys allow only alphanumerics, '_' and '/', and arrays cannot
// hold dicts in DPDK 22.11: key each entry "port/address" with the address's
// '.' and ':' (and the port name's '-') turned into '_' (the entry itself
// carries the real text). Summary keys never contain '/'.
std::string tel_key(std::string port, std::string addr) {
    for (char& ch : port)
        if (ch == '-') ch = '_';
    for (char& ch : addr)
        if (ch == '.' || ch == ':') ch = '_';
    return port + "/" + addr;
}

// /sluice/neighbors[,<page>]: counts for the whole table and one page of
// entries, never the whole table (up to 2^20 entries). DPDK 22.11 writes a
// reply into one 16 KiB buffer (MAX_OUTPUT_LEN, lib/telemetry/telemetry.c)
// and silently leaves out what does not fit, and a dict holds at most
// RTE_TEL_MAX_DICT_ENTRIES: the page size is set so that the longest possible
// reply (below, every field at its longest) fits both.
constexpr uint32_t kNeighborPageRows = 64;
constexpr size_t kTelemetryOutputBytes = 16 * 1024;
constexpr std::string_view kLongestPort = "ppppppppppppppp";
constexpr std::string_view kLongestEntryJson =
    R"(,"ppppppppppppppp/ffff_ffff_ffff_ffff_ffff_ffff_ffff_ffff":{"port":"ppppppppppppppp",)"
    R"("address":"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff","mac":"ff:ff:ff:ff:ff:ff",)"
    R"("state":"incomplete","static":1,"pending":4294967295})";
constexpr std::string_view kLongestSummaryJson =
    R"({"/sluice/neighbors":{"capacity":4294967295,"total":4294967295,"page":4294967295,)"
    R"("pages":4294967295,"page_size":64,"v4_incomplete":4294967295,"v4_reachable":4294967295,)"
    R"("v4_stale":4294967295,"v4_probe":4294967295,"v4_failed":4294967295,"v4_static":4294967295,)"
    R"("v6_incomplete":4294967295,"v6_reachable":4294967295,"v6_stale":4294967295,)"
    R"("v6_probe":4294967295,"v6_failed":4294967295,"v6_static":4294967295}})";
constexpr uint32_t kNeighborSummaryKeys = 5 + 2 * uint32_t(nbr::kStateCount);
static_assert(kLongestPort.size() == net::kMaxPortNameLen, "longest port name in the budget");
static_assert(kLongestSummaryJson.size() + kNeighborPageRows * kLongestEntryJson.size() <= kTelemetryOutputBytes,
              "a page of neighbors must fit DPDK's telemetry output buffer");
static_assert(kNeighborSummaryKeys + kNeighborPageRows <= RTE_TEL_MAX_DICT_ENTRIES);

// The page number: none or empty is page 0; anything but a decimal number fails.
bool parse_page(const char* params, uint32_t* page) {
    *page = 0;
    if (!params || !*params) return true;
    uint64_t v = 0;
    for (const char* p = params; *p; ++p) {
        if (*p < '0' || *p > '9' || v > UINT32_MAX / 10) return false;
        v = v * 10 + uint64_t(*p - '0');
    }
    if (v > UINT32_MAX) return false;
    *page = uint32_t(v);
    return true;
}

int cmd_neighbors(const char*, const char* params, rte_tel_data* d) {
    Agent* a = g_agent.load();
    if (!a) return -1;
    uint32_t page = 0;
    if (!parse_page(params, &page)) return -1;
    const NeighborPage p = a->neighbors_page(page, kNeighborPageRows);
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "capacity", p.summary.capacity);
    rte_tel_data_add_dict_u64(d, "total", p.summary.total);
    rte_tel_data_add_dict_u64(d, "page", p.page);
    rte_tel_data_add_dict_u64(d, "pages", p.pages);
    rte_tel_data_add_dict_u64(d, "page_size", kNeighborPageRows);
    for (int v6 = 0; v6 < 2; ++v6)
        for (size_t s = 0; s < nbr::kStateCount; ++s)
            rte_tel_data_add_dict_u64(d, (std::string(v6 ? "v6_" : "v4_") + nbr::to_string(nbr::State(s))).c_str(),
                                      p.summary.by_state[size_t(v6)][s]);
    for (const auto& n : p.entries) {
        rte_tel_data* c = rte_tel_data_alloc();
        if (!c) return -1;
        rte_tel_data_start_dict(c);
        rte_tel_data_add_dict_string(c, "port", n.port.c_str());
        rte_tel_data_add_dict_string(c, "address", n.address.c_str());
        rte_tel_data_add_dict_string(c, "mac", n.mac.c_str());
        rte_tel_data_add_dict_string(c, "state", n.state.c_str());
        rte_tel_data_add_dict_u64(c, "static", n.is_static);
        rte_tel_data_add_dict_u64(c, "pending", n.pending);
        if (rte_tel_data_add_dict_container(d, tel_key(n.port, n.address).c_str(), c, 0) != 0)
            rte_tel_data_free(c);
    }
    return 0;
}

// The config file's version and source, and what the published tables
// hold (read under an RCU read guard: this thread is a transient reader).
int cmd_config(const char*, const char*, rte_tel_data* d) {
    const ConfigReloader* rl = g_reloader.load();
    const TableBuilder* tb = g_builder.load();
    Shared* sh = g_shared.load();
    if (!rl || !tb || !sh) return -1;
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "version", rl->version());
    rte_tel_data_add_dict_string(d, "source", rl->source().c_str());
    {
        RcuDomain::ReadGuard guard(*sh->rcu);
        const Root* r = sh->tables->get();
        rte_tel_data_add_dict_u64(d, "generation", r->generation);
        rte_tel_data_add_dict_u64(d, "fib4_entries", r->routes4);
        rte_tel_data_add_dict_u64(d, "fib6_entries", r->routes6);
        rte_tel_data_add_dict_u64(d, "fib6_helpers", r->helpers6);
        rte_tel_data_add_dict_u64(d, "nexthops", r->nexthops->nh.size());
        rte_tel_data_add_dict_u64(d, "ecmp_groups", r->nexthops->groups.size());
        rte_tel_data_add_dict_u64(d, "fib4_capacity", r->fib4->capacity().entries);
        rte_tel_data_add_dict_u64(d, "fib6_capacity", r->fib6->capacity().entries);
    }
    BuilderStats st = tb->stats();
    rte_tel_data_add_dict_u64(d, "batches", st.batches);
    rte_tel_data_add_dict_u64(d, "batches_rejected", st.rejected);
    rte_tel_data_add_dict_u64(d, "fib_rebuilds", st.rebuilds);
    rte_tel_data_add_dict_u64(d, "fib_bytes", st.fib_bytes);
    return 0;
}

int cmd_icmp(const char*, const char*, rte_tel_data* d) {
    Agent* a = g_agent.load();
    if (!a) return -1;
    rte_tel_data_start_dict(d);
    const IcmpCounters& ic = a->icmp();
    for (int t = 0; t < 256; ++t) {
        if (uint64_t v = read(ic.v4_sent[t])) rte_tel_data_add_dict_u64(d, ("v4_type" + std::to_string(t)).c_str(), v);
        if (uint64_t v = read(ic.v6_sent[t])) rte_tel_data_add_dict_u64(d, ("v6_type" + std::to_string(t)).c_str(), v);
    }
    rte_tel_data_add_dict_u64(d, "rate_limited", read(ic.rate_limited));
    return 0;
}

template <int (*Body)(Shared&, const char*, rte_tel_data*)>
int with_shared(const char*, const char* params, rte_tel_data* d) {
    Shared* sh = g_shared.load();
    if (!sh) return -1;
    return Body(*sh, params, d);
}

// Runs a command body inside the gate; a refused call answers with an error
// (the client sees the command fail) and reads nothing.
template <int (*Body)(const char*, const char*, rte_tel_data*)>
int gated(const char* cmd, const char* params, rte_tel_data* d) {
    CallbackGate::Pass pass = g_gate.enter();
    if (!pass) return -1;
    return Body(cmd, params, d);
}

}  // namespace

void telemetry_register(Shared* sh, Agent* agent, const ConfigReloader* reloader, const TableBuilder* builder) {
    g_shared.store(sh);
    g_agent.store(agent);
    g_reloader.store(reloader);
    g_builder.store(builder);
    g_gate.open();
    rte_telemetry_register_cmd("/sluice/drops", gated<cmd_drops>, "Dropped packets by reason, all cores summed.");
    rte_telemetry_register_cmd("/sluice/ports", gated<cmd_ports>, "Per-port packet counts (software and NIC).");
    rte_telemetry_register_cmd("/sluice/workers", gated<cmd_workers>, "Per-core counters (workers and agent).");
    rte_telemetry_register_cmd("/sluice/neighbors", gated<cmd_neighbors>,
                               "ARP/ND table: counts + 64 entries per page (param: page)");
    rte_telemetry_register_cmd("/sluice/config", gated<cmd_config>, "Config version and file; what the tables hold.");
    rte_telemetry_register_cmd("/sluice/icmp", gated<cmd_icmp>, "ICMP messages sent by type.");
    rte_telemetry_register_cmd("/sluice/lb/vips", gated<with_shared<lb_cmd_vips>>,
                               "Load balancer VIPs and their counters (param: page).");
    rte_telemetry_register_cmd("/sluice/lb/backends", gated<with_shared<lb_cmd_backends>>,
                               "A VIP's backends and their counters (params: vip name[,page]).");
    rte_telemetry_register_cmd("/sluice/lb/which", gated<with_shared<lb_cmd_which>>,
                               "Which backend a 5-tuple gets (params: tcp|udp,src,sport,dst,dport).");
}

void telemetry_unregister() {
    // After close() no command body is running or will run: only then is it
    // safe to forget (and for main to destroy) what they read.
    g_gate.close();
    g_agent.store(nullptr);
    g_shared.store(nullptr);
    g_reloader.store(nullptr);
    g_builder.store(nullptr);
}

std::string render_stats(const Shared& sh, uint64_t config_version) {
    std::string out;
    char line[256];
    std::snprintf(line, sizeof line, "config version %" PRIu64 "\n%-8s %14s %14s\n", config_version, "port",
                  "rx", "tx");
    out += line;
    for (const Port& p : sh.ports.port) {
        if (!p.open) continue;
        uint16_t id = p.info.port_id;
        uint64_t rx = 0, tx = 0;
        for (const auto& c : sh.cores) {
            rx += read(c->rx[id]);
            tx += read(c->tx[id]);
        }
        std::snprintf(line, sizeof line, "%-8s %14" PRIu64 " %14" PRIu64 "\n", p.spec.name.c_str(), rx, tx);
        out += line;
    }
    // The identities of docs/architecture.md ("Counters"), one row per core.
    std::snprintf(line, sizeof line, "%-8s %14s %14s %14s %14s\n", "core", "rx", "forwarded", "punted",
                  "dropped");
    out += line;
    for (size_t i = 0; i + 1 < sh.cores.size(); ++i) {
        const CoreCounters& k = *sh.cores[i];
        std::snprintf(line, sizeof line, "%-8s %14" PRIu64 " %14" PRIu64 " %14" PRIu64 " %14" PRIu64 "\n",
                      ("worker" + std::to_string(i)).c_str(), sum_rx(k), read(k.forwarded), read(k.punted),
                      sum(k.drops));
        out += line;
    }
    if (!sh.cores.empty()) {
        const CoreCounters& k = *sh.cores.back();
        const AgentCounters& a = k.agent;
        std::snprintf(line, sizeof line,
                      "agent    punted_in %" PRIu64 "  handled %" PRIu64 "  dropped %" PRIu64 "  pending %" PRIu64
                      "\n         originated %" PRIu64 "  originated_dropped %" PRIu64 "  originated_pending %" PRIu64
                      "\n",
                      read(a.punted_in), read(a.handled), sum(k.drops), read(a.pending), read(a.originated),
                      sum(a.originated_drops), read(a.originated_pending));
        out += line;
    }
    out += "drops (received packets, workers and agent):\n";
    bool any = false;
    for (size_t r = 1; r < kDropReasonCount; ++r) {
        if (uint64_t v = sum_drop(sh, r)) {
            std::snprintf(line, sizeof line, "  %-26s %12" PRIu64 "\n", std::string(kDropReasonNames[r]).c_str(), v);
            out += line;
            any = true;
        }
    }
    if (!any) out += "  (none)\n";
    if (!sh.cores.empty()) {
        const AgentCounters& a = sh.cores.back()->agent;
        any = false;
        for (size_t r = 1; r < kDropReasonCount; ++r) {
            if (uint64_t v = read(a.originated_drops[r])) {
                if (!any) out += "originated drops (packets the agent built):\n";
                std::snprintf(line, sizeof line, "  %-26s %12" PRIu64 "\n", std::string(kDropReasonNames[r]).c_str(),
                              v);
                out += line;
                any = true;
            }
        }
    }
    return out;
}

}  // namespace sluice::dp
