#include "dataplane/agent/telemetry.hpp"

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include <rte_ethdev.h>
#include <rte_telemetry.h>

#include "dataplane/agent/agent.hpp"

namespace sluice::dp {

namespace {

std::atomic<Shared*> g_shared{nullptr};
std::atomic<Agent*> g_agent{nullptr};

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
    for (const auto& p : sh->ports) {
        if (!p.open) continue;
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
        for (uint16_t q = 0; q < p.rx_queues && q < kMaxQueuesPerPort; ++q)
            rte_tel_data_add_dict_u64(c, ("rxq" + std::to_string(q)).c_str(), read(sh->queues[p.port_id][q].rx));
        rte_tel_data_add_dict_container(d, p.name.c_str(), c, 0);
    }
    return 0;
}

int cmd_workers(const char*, const char*, rte_tel_data* d) {
    Shared* sh = g_shared.load();
    if (!sh) return -1;
    rte_tel_data_start_dict(d);
    for (size_t i = 0; i < sh->cores.size(); ++i) {
        const CoreCounters& k = *sh->cores[i];
        rte_tel_data* c = rte_tel_data_alloc();
        if (!c) return -1;
        rte_tel_data_start_dict(c);
        uint64_t drops = 0, rx = 0;
        for (const auto& x : k.drops) drops += read(x);
        for (const auto& x : k.rx) rx += read(x);
        rte_tel_data_add_dict_u64(c, "rx", rx);
        rte_tel_data_add_dict_u64(c, "forwarded", read(k.forwarded));
        rte_tel_data_add_dict_u64(c, "punted", read(k.punted));
        rte_tel_data_add_dict_u64(c, "dropped", drops);
        rte_tel_data_add_dict_u64(c, "polls", read(k.polls));
        rte_tel_data_add_dict_u64(c, "idle_polls", read(k.idle_polls));
        rte_tel_data_add_dict_u64(c, "sleeps", read(k.sleeps));
        for (size_t r = 1; r < kDropReasonCount; ++r)
            if (uint64_t v = read(k.drops[r]))
                rte_tel_data_add_dict_u64(c, ("drop_" + std::string(kDropReasonNames[r])).c_str(), v);
        std::string name = i + 1 == sh->cores.size() ? "agent" : "worker" + std::to_string(i);
        rte_tel_data_add_dict_container(d, name.c_str(), c, 0);
    }
    return 0;
}

// Telemetry keys allow only alphanumerics, '_' and '/', and arrays cannot
// hold dicts in DPDK 22.11: key each entry "port/address" with the address's
// '.' and ':' turned into '_' (the entry itself carries the real text).
std::string tel_key(const std::string& port, std::string addr) {
    for (char& ch : addr)
        if (ch == '.' || ch == ':') ch = '_';
    return port + "/" + addr;
}

int cmd_neighbors(const char*, const char*, rte_tel_data* d) {
    Agent* a = g_agent.load();
    if (!a) return -1;
    rte_tel_data_start_dict(d);
    for (const auto& n : a->neighbors_view()) {
        rte_tel_data* c = rte_tel_data_alloc();
        if (!c) return -1;
        rte_tel_data_start_dict(c);
        rte_tel_data_add_dict_string(c, "port", n.port.c_str());
        rte_tel_data_add_dict_string(c, "address", n.address.c_str());
        rte_tel_data_add_dict_string(c, "mac", n.mac.c_str());
        rte_tel_data_add_dict_string(c, "state", n.state.c_str());
        rte_tel_data_add_dict_u64(c, "static", n.is_static);
        rte_tel_data_add_dict_u64(c, "pending", n.pending);
        rte_tel_data_add_dict_container(d, tel_key(n.port, n.address).c_str(), c, 0);
    }
    return 0;
}

int cmd_config(const char*, const char*, rte_tel_data* d) {
    Agent* a = g_agent.load();
    if (!a) return -1;
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "version", a->version());
    rte_tel_data_add_dict_string(d, "source", a->config_source().c_str());
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

}  // namespace

void telemetry_register(Shared* sh, Agent* agent) {
    g_shared.store(sh);
    g_agent.store(agent);
    rte_telemetry_register_cmd("/sluice/drops", cmd_drops, "Dropped packets by reason, all cores summed.");
    rte_telemetry_register_cmd("/sluice/ports", cmd_ports, "Per-port packet counts (software and NIC).");
    rte_telemetry_register_cmd("/sluice/workers", cmd_workers, "Per-core counters (workers and agent).");
    rte_telemetry_register_cmd("/sluice/neighbors", cmd_neighbors, "ARP/ND neighbor table.");
    rte_telemetry_register_cmd("/sluice/config", cmd_config, "Running config version and file.");
    rte_telemetry_register_cmd("/sluice/icmp", cmd_icmp, "ICMP messages sent by type.");
}

void telemetry_unregister() {
    g_agent.store(nullptr);
    g_shared.store(nullptr);
}

std::string render_stats(const Shared& sh, Agent& agent) {
    std::string out;
    char line[256];
    std::snprintf(line, sizeof line, "config version %" PRIu64 "\n%-8s %14s %14s\n", agent.version(), "port",
                  "rx", "tx");
    out += line;
    for (const auto& p : sh.ports) {
        if (!p.open) continue;
        uint64_t rx = 0, tx = 0;
        for (const auto& c : sh.cores) {
            rx += read(c->rx[p.port_id]);
            tx += read(c->tx[p.port_id]);
        }
        std::snprintf(line, sizeof line, "%-8s %14" PRIu64 " %14" PRIu64 "\n", p.name.c_str(), rx, tx);
        out += line;
    }
    uint64_t fwd = 0, punted = 0;
    for (const auto& c : sh.cores) {
        fwd += read(c->forwarded);
        punted += read(c->punted);
    }
    std::snprintf(line, sizeof line, "forwarded %" PRIu64 "  punted %" PRIu64 "\ndrops:\n", fwd, punted);
    out += line;
    bool any = false;
    for (size_t r = 1; r < kDropReasonCount; ++r) {
        if (uint64_t v = sum_drop(sh, r)) {
            std::snprintf(line, sizeof line, "  %-26s %12" PRIu64 "\n", std::string(kDropReasonNames[r]).c_str(), v);
            out += line;
            any = true;
        }
    }
    if (!any) out += "  (none)\n";
    return out;
}

}  // namespace sluice::dp
