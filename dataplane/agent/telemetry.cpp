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
#include "dataplane/agent/telemetry_data.hpp"
#include "dataplane/rdma/telemetry_rdma.hpp"
#include "dataplane/agent/telemetry_lb.hpp"
#include "dataplane/channel/state.hpp"
#include "dataplane/reload/reloader.hpp"
#include "dataplane/tables/builder.hpp"

namespace sluice::dp {

namespace {

std::atomic<Shared*> g_shared{nullptr};
std::atomic<Agent*> g_agent{nullptr};
std::atomic<const ConfigReloader*> g_reloader{nullptr};
std::atomic<const TableBuilder*> g_builder{nullptr};
std::atomic<const ControlState*> g_control{nullptr};
// Every command runs inside the gate (gated<> below), so shutdown can wait
// for the ones in flight before Shared and the agent are destroyed.
CallbackGate g_gate;

int cmd_drops(const char*, const char*, rte_tel_data* d) {
    Shared* sh = g_shared.load();
    if (!sh) return -1;
    return to_tel(gather_drops(*sh), d);
}

int cmd_ports(const char*, const char*, rte_tel_data* d) {
    Shared* sh = g_shared.load();
    if (!sh) return -1;
    return to_tel(gather_ports(*sh), d);
}

int cmd_workers(const char*, const char*, rte_tel_data* d) {
    Shared* sh = g_shared.load();
    if (!sh) return -1;
    return to_tel(gather_workers(*sh), d);
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

int cmd_config(const char*, const char*, rte_tel_data* d) {
    const ConfigReloader* rl = g_reloader.load();
    const TableBuilder* tb = g_builder.load();
    Shared* sh = g_shared.load();
    if (!rl || !tb || !sh) return -1;
    return to_tel(gather_config(*sh, *rl, *tb), d);
}

int cmd_icmp(const char*, const char*, rte_tel_data* d) {
    Agent* a = g_agent.load();
    if (!a) return -1;
    return to_tel(gather_icmp(*a), d);
}

// RDMA peers: state, link phase, counters (dataplane/rdma/).
int cmd_rdma(const char*, const char*, rte_tel_data* d) {
    Shared* sh = g_shared.load();
    if (!sh) return -1;
    if (!sh->rdma) return to_tel(TelJson::object(), d);
    return to_tel(gather_rdma(*sh->rdma), d);
}

// The control channel: connected, peer, generation, owner, ... (no control
// state: the channel is not running; nothing to say).
int cmd_control(const char*, const char*, rte_tel_data* d) {
    const ControlState* st = g_control.load();
    if (!st) return -1;
    return to_tel(gather_control(*st, g_reloader.load()), d);
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
    // A command must not throw into DPDK's telemetry thread (the gathering
    // builds JSON: bad_alloc, a type error from a bug): it fails instead.
    try {
        return Body(cmd, params, d);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sluice-dp: telemetry %s failed: %s\n", cmd, e.what());
        return -1;
    }
}

}  // namespace

void telemetry_register(Shared* sh, Agent* agent, const ConfigReloader* reloader, const TableBuilder* builder,
                        const ControlState* control) {
    g_control.store(control);
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
    rte_telemetry_register_cmd("/sluice/rdma", gated<cmd_rdma>,
                               "RDMA peers: state, link phase, credits, packets, stalls, resets, losses.");
    rte_telemetry_register_cmd("/sluice/control", gated<cmd_control>,
                               "Control channel: session, peer, generation, owner of the tables.");
}

void telemetry_unregister() {
    // After close() no command body is running or will run: only then is it
    // safe to forget (and for main to destroy) what they read.
    g_gate.close();
    g_agent.store(nullptr);
    g_shared.store(nullptr);
    g_reloader.store(nullptr);
    g_builder.store(nullptr);
    g_control.store(nullptr);
}

std::string render_stats(const Shared& sh, uint64_t config_version, const ControlState* control,
                         const ConfigReloader* reloader) {
    std::string out;
    char line[256];
    std::snprintf(line, sizeof line, "config version %" PRIu64 "\n", config_version);
    out += line;
    if (control) out += control_line(*control, reloader);
    std::snprintf(line, sizeof line, "%-8s %14s %14s\n", "port", "rx", "tx");
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
    if (sh.rdma) out += rdma_lines(*sh.rdma);
    // The identities of docs/architecture.md ("Counters"), one row per core.
    std::snprintf(line, sizeof line, "%-8s %14s %14s %14s %14s\n", "core", "rx", "forwarded", "punted",
                  "dropped");
    out += line;
    for (size_t i = 0; i + 1 < sh.cores.size(); ++i) {
        const CoreCounters& k = *sh.cores[i];
        std::snprintf(line, sizeof line, "%-8s %14" PRIu64 " %14" PRIu64 " %14" PRIu64 " %14" PRIu64 "\n",
                      ("worker" + std::to_string(i)).c_str(), read_sum(k.rx), read(k.forwarded), read(k.punted),
                      read_sum(k.drops));
        out += line;
    }
    if (!sh.cores.empty()) {
        const CoreCounters& k = *sh.cores.back();
        const AgentCounters& a = k.agent;
        std::snprintf(line, sizeof line,
                      "agent    punted_in %" PRIu64 "  handled %" PRIu64 "  dropped %" PRIu64 "  pending %" PRIu64
                      "\n         originated %" PRIu64 "  originated_dropped %" PRIu64 "  originated_pending %" PRIu64
                      "\n",
                      read(a.punted_in), read(a.handled), read_sum(k.drops), read(a.pending), read(a.originated),
                      read_sum(a.originated_drops), read(a.originated_pending));
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
