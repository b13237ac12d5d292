#include "dataplane/agent/telemetry_data.hpp"

#include <cinttypes>
#include <cstdio>

#include <rte_ethdev.h>
#include <rte_telemetry.h>

#include "dataplane/agent/agent.hpp"
#include "dataplane/channel/state.hpp"
#include "dataplane/reload/reloader.hpp"
#include "dataplane/shared.hpp"
#include "dataplane/tables/builder.hpp"

namespace sluice::dp {

namespace {

// One scalar into a telemetry dict; false for what has no scalar form.
bool add_scalar(rte_tel_data* d, const std::string& k, const TelJson& v) {
    if (v.is_number_unsigned()) {
        rte_tel_data_add_dict_u64(d, k.c_str(), v.get<uint64_t>());
        return true;
    }
    if (v.is_number_integer()) {
        int64_t x = v.get<int64_t>();
        if (x >= 0) rte_tel_data_add_dict_u64(d, k.c_str(), uint64_t(x));
        else rte_tel_data_add_dict_int(d, k.c_str(), int(x));
        return true;
    }
    if (v.is_boolean()) {
        rte_tel_data_add_dict_u64(d, k.c_str(), v.get<bool>() ? 1 : 0);
        return true;
    }
    if (v.is_string()) {
        rte_tel_data_add_dict_string(d, k.c_str(), v.get_ref<const std::string&>().c_str());
        return true;
    }
    if (v.is_number_float()) {
        rte_tel_data_add_dict_u64(d, k.c_str(), uint64_t(v.get<double>() < 0 ? 0 : v.get<double>()));
        return true;
    }
    return false;
}

// Who owns the tables: the reloader knows; without one, the channel's
// state tells (synced: the control process).
const char* owner_name(const ControlView& v, const ConfigReloader* rl) {
    return rl ? to_string(rl->owner()) : (v.synced ? "control" : "file");
}

}  // namespace

int to_tel(const TelJson& j, rte_tel_data* d) {
    rte_tel_data_start_dict(d);
    if (!j.is_object()) return 0;
    for (auto it = j.begin(); it != j.end(); ++it) {
        const TelJson& v = it.value();
        if (add_scalar(d, it.key(), v)) continue;
        if (!v.is_object()) continue;
        rte_tel_data* c = rte_tel_data_alloc();
        if (!c) return -1;
        rte_tel_data_start_dict(c);
        for (auto in = v.begin(); in != v.end(); ++in) add_scalar(c, in.key(), in.value());
        if (rte_tel_data_add_dict_container(d, it.key().c_str(), c, 0) != 0) rte_tel_data_free(c);
    }
    return 0;
}

uint64_t sum_drop(const Shared& sh, size_t r) {
    uint64_t t = 0;
    for (const auto& c : sh.cores) t += read(c->drops[r]);
    return t;
}

TelJson gather_drops(const Shared& sh) {
    TelJson j = TelJson::object();
    for (size_t r = 1; r < kDropReasonCount; ++r) j[std::string(kDropReasonNames[r])] = sum_drop(sh, r);
    return j;
}

TelJson gather_port(const Shared& sh, const Port& port) {
    const drivers::PortInfo& p = port.info;
    rte_eth_stats st{};
    // An RDMA peer's port has no ethdev: its device counters are in /sluice/rdma.
    if (!(sh.rdma && sh.rdma->get(p.port_id))) rte_eth_stats_get(p.port_id, &st);
    uint64_t sw_rx = 0, sw_tx = 0;
    for (const auto& core : sh.cores) {
        sw_rx += read(core->rx[p.port_id]);
        sw_tx += read(core->tx[p.port_id]);
    }
    TelJson c = TelJson::object();
    c["port_id"] = uint64_t(p.port_id);
    c["driver"] = p.driver;
    c["rx_packets"] = sw_rx;
    c["tx_packets"] = sw_tx;
    c["nic_rx_packets"] = uint64_t(st.ipackets);
    c["nic_tx_packets"] = uint64_t(st.opackets);
    c["rx_missed"] = uint64_t(st.imissed);
    c["rx_errors"] = uint64_t(st.ierrors);
    c["tx_errors"] = uint64_t(st.oerrors);
    c["rx_nombuf"] = uint64_t(st.rx_nombuf);
    c["rx_queues"] = uint64_t(p.rx_queues);
    c["rss"] = uint64_t(p.rss);
    c["rx_ip_cksum_offload"] = uint64_t(p.rx_ip_cksum);
    c["tx_fast_free"] = uint64_t(p.tx_fast_free);
    for (uint16_t q = 0; q < p.rx_queues && q < kMaxQueuesPerPort; ++q)
        c["rxq" + std::to_string(q)] = read(sh.queues[p.port_id][q].rx);
    return c;
}

TelJson gather_ports(const Shared& sh) {
    TelJson j = TelJson::object();
    for (const Port& port : sh.ports.port)
        if (port.open) j[port.spec.name] = gather_port(sh, port);
    return j;
}

// Per core. A worker: rx = forwarded + punted + dropped. The agent:
// punted_in = handled + dropped + pending, and apart from those the packets
// it built (originated, originated_dropped, originated_pending);
// docs/architecture.md, "Counters". Exact when the data plane is quiet.
TelJson gather_workers(const Shared& sh) {
    TelJson j = TelJson::object();
    for (size_t i = 0; i < sh.cores.size(); ++i) {
        const CoreCounters& k = *sh.cores[i];
        const bool agent = i + 1 == sh.cores.size();
        TelJson c = TelJson::object();
        c["rx"] = read_sum(k.rx);
        c["forwarded"] = read(k.forwarded);
        c["punted"] = read(k.punted);
        c["dropped"] = read_sum(k.drops);
        c["polls"] = read(k.polls);
        c["idle_polls"] = read(k.idle_polls);
        c["sleeps"] = read(k.sleeps);
        if (agent) {
            const AgentCounters& a = k.agent;
            c["punted_in"] = read(a.punted_in);
            c["handled"] = read(a.handled);
            c["pending"] = read(a.pending);
            c["originated"] = read(a.originated);
            c["originated_dropped"] = read_sum(a.originated_drops);
            c["originated_pending"] = read(a.originated_pending);
            c["neighbor_slot_refused"] = read(a.neighbor_slot_refused);
        }
        for (size_t r = 1; r < kDropReasonCount; ++r)
            if (uint64_t v = read(k.drops[r])) c["drop_" + std::string(kDropReasonNames[r])] = v;
        if (agent)
            for (size_t r = 1; r < kDropReasonCount; ++r)
                if (uint64_t v = read(k.agent.originated_drops[r]))
                    c["originated_drop_" + std::string(kDropReasonNames[r])] = v;
        j[agent ? std::string("agent") : "worker" + std::to_string(i)] = std::move(c);
    }
    return j;
}

TelJson gather_icmp(const Agent& a) {
    TelJson j = TelJson::object();
    const IcmpCounters& ic = a.icmp();
    for (int t = 0; t < 256; ++t) {
        if (uint64_t v = read(ic.v4_sent[t])) j["v4_type" + std::to_string(t)] = v;
        if (uint64_t v = read(ic.v6_sent[t])) j["v6_type" + std::to_string(t)] = v;
    }
    j["rate_limited"] = read(ic.rate_limited);
    return j;
}

// Read under an RCU read guard: the calling thread is a transient reader.
TelJson gather_config(const Shared& sh, const ConfigReloader& rl, const TableBuilder& tb) {
    TelJson j = TelJson::object();
    j["version"] = rl.version();
    j["source"] = rl.source();
    {
        RcuDomain::ReadGuard guard(*sh.rcu);
        const Root* r = sh.tables->get();
        j["generation"] = r->generation;
        j["fib4_entries"] = uint64_t(r->routes4);
        j["fib6_entries"] = uint64_t(r->routes6);
        j["fib6_helpers"] = uint64_t(r->helpers6);
        j["nexthops"] = uint64_t(r->nexthops->nh.size());
        j["ecmp_groups"] = uint64_t(r->nexthops->groups.size());
        j["fib4_capacity"] = uint64_t(r->fib4->capacity().entries);
        j["fib6_capacity"] = uint64_t(r->fib6->capacity().entries);
    }
    BuilderStats st = tb.stats();
    j["batches"] = st.batches;
    j["batches_rejected"] = st.rejected;
    j["fib_rebuilds"] = st.rebuilds;
    j["fib_bytes"] = st.fib_bytes;
    return j;
}

TelJson gather_control(const ControlState& st, const ConfigReloader* rl) {
    ControlView v = st.view();
    TelJson j = TelJson::object();
    j["connected"] = v.connected;
    j["peer_pid"] = uint64_t(v.peer_pid < 0 ? 0 : v.peer_pid);
    j["peer_uid"] = uint64_t(v.peer_uid);
    j["generation"] = v.generation;
    j["owner"] = owner_name(v, rl);
    j["synced"] = v.synced;
    // Whole seconds; -1 (never) has no unsigned form: the telemetry shows
    // it as a signed number.
    j["seconds_since_request"] = v.since_request_s < 0 ? int64_t(-1) : int64_t(v.since_request_s);
    j["forwarding_on_last_state"] = v.forwarding_on_last_state;
    j["connections"] = uint64_t(v.connections);
    return j;
}

std::string control_line(const ControlState& st, const ConfigReloader* rl) {
    ControlView v = st.view();
    const char* owner = owner_name(v, rl);
    char line[256];
    if (v.connected) {
        std::snprintf(line, sizeof line,
                      "control: connected (pid %" PRId64 ", uid %u), generation %" PRIu64
                      ", tables owned by %s, last request %.0f s ago\n",
                      v.peer_pid, v.peer_uid, v.generation, owner, v.since_request_s < 0 ? 0.0 : v.since_request_s);
    } else if (v.forwarding_on_last_state) {
        std::snprintf(line, sizeof line,
                      "control: disconnected (was pid %" PRId64 "); forwarding on its last state, generation %" PRIu64
                      "\n",
                      v.peer_pid, v.generation);
    } else {
        std::snprintf(line, sizeof line, "control: no control session; tables owned by %s\n", owner);
    }
    return line;
}

}  // namespace sluice::dp
