#include "dataplane/rdma/telemetry_rdma.hpp"

#include <cinttypes>
#include <cstdio>

#include "dataplane/rdma/rdma_ports.hpp"
#include "drivers/rdma/link/link_thread.hpp"
#include "drivers/rdma/transport/peer.hpp"

namespace sluice::dp {

namespace rd = drivers::rdma;

namespace {

uint64_t rd_(const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); }

}  // namespace

TelJson gather_rdma(const RdmaRuntime& rt) {
    TelJson out = TelJson::object();
    size_t link = 0;
    for (const auto& rp : rt.ports) {
        TelJson j = TelJson::object();
        const rd::Peer* p = rp->peer;
        j["state"] = p ? rd::to_string(p->state()) : "no_device";
        if (p && rt.link) {
            rd::LinkStatus ls = rt.link->status(link++);
            j["phase"] = ls.phase;
            j["connects"] = ls.connects;
            j["failed_exchanges"] = ls.failed_exchanges;
            j["last_error"] = ls.last_error;
            if (ls.have_remote) {
                j["remote_name"] = ls.remote.name;
                j["remote_qpn"] = uint64_t(ls.remote.qpn);
            }
        }
        j["device"] = rp->device;
        j["port_id"] = uint64_t(rp->port_id);
        j["owner_worker"] = uint64_t(rp->owner);
        if (p) {
            const rd::PeerCounters& c = p->counters();
            j["credits"] = uint64_t(p->credits());
            j["in_flight"] = uint64_t(p->in_flight());
            j["tx_packets"] = rd_(c.tx_packets);
            j["tx_bytes"] = rd_(c.tx_bytes);
            j["rx_packets"] = rd_(c.rx_packets);
            j["rx_bytes"] = rd_(c.rx_bytes);
            j["credit_stalls"] = rd_(c.credit_stalls);
            j["tx_refused"] = rd_(c.tx_refused);
            j["qp_resets"] = rd_(c.qp_resets);
            j["lost_in_flight"] = rd_(c.lost_in_flight);
            j["completion_errors"] = rd_(c.completion_errors);
            j["credit_updates_sent"] = rd_(c.credit_updates_sent);
            j["credit_updates_received"] = rd_(c.credit_updates_received);
            j["doorbells"] = rd_(c.doorbells);
            j["inline_sends"] = rd_(c.inline_sends);
            j["signalled"] = rd_(c.signalled);
            j["rx_refill_failed"] = rd_(c.rx_refill_failed);
            j["rx_dropped"] = rd_(c.rx_dropped);
        }
        j["handoff_sent"] = rd_(rp->handoff_sent);
        j["handoff_dropped"] = rd_(rp->handoff_dropped);
        out[rp->name] = std::move(j);
    }
    return out;
}

std::string rdma_lines(const RdmaRuntime& rt) {
    std::string out;
    char line[256];
    for (const auto& rp : rt.ports) {
        const rd::Peer* p = rp->peer;
        if (!p) {
            std::snprintf(line, sizeof line, "rdma %-8s no device (%s)\n", rp->name.c_str(), rp->device.c_str());
            out += line;
            continue;
        }
        const rd::PeerCounters& c = p->counters();
        std::snprintf(line, sizeof line,
                      "rdma %-8s %-10s tx %" PRIu64 " rx %" PRIu64 " credit_stalls %" PRIu64 " qp_resets %" PRIu64
                      " lost_in_flight %" PRIu64 "\n",
                      rp->name.c_str(), rd::to_string(p->state()), rd_(c.tx_packets), rd_(c.rx_packets),
                      rd_(c.credit_stalls), rd_(c.qp_resets), rd_(c.lost_in_flight));
        out += line;
    }
    return out;
}

}  // namespace sluice::dp
