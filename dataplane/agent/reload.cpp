// Config reload (SIGHUP): parse and validate off the worker path, build a
// complete new snapshot, publish it with one pointer swap, retire the old
// one through RCU. A bad file changes nothing.
#include <cstdio>

#include "config/load.hpp"
#include "dataplane/agent/agent.hpp"

namespace sluice::dp {

namespace {

// Devices, queues and MACs are fixed at start-up (changing them means
// reconfiguring the NIC under the workers); addresses, routes and neighbors
// may change.
std::vector<std::string> port_changes(const config::Config& a, const config::Config& b) {
    std::vector<std::string> out;
    if (a.ports.size() != b.ports.size()) {
        out.push_back("ports: the number of ports changed from " + std::to_string(a.ports.size()) + " to " +
                      std::to_string(b.ports.size()) + "; ports cannot be added or removed without a restart");
        return out;
    }
    for (size_t i = 0; i < a.ports.size(); ++i) {
        const auto& x = a.ports[i];
        const auto& y = b.ports[i];
        std::string where = b.source + ":" + std::to_string(y.mark.line) + ": ports[" + std::to_string(i) + "]";
        if (x.name != y.name || x.device != y.device || x.rx_queues != y.rx_queues || x.rx_desc != y.rx_desc ||
            x.tx_desc != y.tx_desc || x.mac != y.mac || x.promiscuous != y.promiscuous || x.mtu != y.mtu)
            out.push_back(where + ": name, device, queues, descriptors, mac, mtu and promiscuous cannot change at "
                                  "runtime (restart to change them); only addresses, routes and neighbors reload");
    }
    return out;
}

}  // namespace

bool Agent::reload() {
    const std::string& path = sh_.config_path;
    auto res = config::load_config_file(path);
    std::vector<std::string> errors;
    if (!res.ok()) {
        for (const auto& e : res.errors()) errors.push_back(e.to_string());
    } else {
        errors = port_changes(*cfg_, res.config());
    }
    std::string build_error;
    if (errors.empty()) {
        auto next = std::make_shared<const config::Config>(std::move(res.config()));
        if (!build_and_publish(next, &build_error)) errors.push_back(path + ": " + build_error);
    }
    if (!errors.empty()) {
        std::printf("reload: rejected %s: the running config (version %lu) stays\n", path.c_str(),
                    (unsigned long)version_.load());
        for (const auto& e : errors) std::printf("  %s\n", e.c_str());
        std::fflush(stdout);
        return false;
    }
    {
        std::lock_guard<std::mutex> g(view_mu_);
        source_ = path;
    }
    std::printf("reload: applied config version %lu from %s\n", (unsigned long)version_.load(), path.c_str());
    std::fflush(stdout);
    return true;
}

bool Agent::build_and_publish(std::shared_ptr<const config::Config> cfg, std::string* error) {
    SnapshotEnv env;
    env.port_id = [this](const std::string& name) -> int {
        for (const auto& p : sh_.ports)
            if (p.open && p.name == name) return p.port_id;
        return -1;
    };
    env.port_mac = [this](uint16_t id) { return sh_.ports[id].mac; };
    env.gateway_slot = [this](uint16_t port, const config::IpAddr& gw) { return gateway_slot(port, gw); };

    uint64_t version = version_.load() + 1;
    new_gateways_.clear();
    auto built = build_snapshot(cfg, env, version);
    if (!built.snapshot) {
        *error = built.error;
        return false;
    }
    // Gateways referenced by the new snapshot are kept alive by the
    // neighbor GC; the rest become ordinary dynamic entries.
    for (auto& m : meta_) m.gateway = false;
    for (const auto& nh : built.snapshot->nexthops)
        if (nh.neighbor != kNoNeighbor) meta_[nh.neighbor].gateway = true;
    cfg_ = cfg;
    apply_static_neighbors(*cfg);
    sh_.snapshot->publish(std::move(built.snapshot));
    version_.store(version);
    for (uint32_t slot : new_gateways_)
        if (sh_.neighbors->in_use(slot)) apply(slot, fsm_.on_resolve(meta_[slot].fsm, now_ns()));
    new_gateways_.clear();
    return true;
}

}  // namespace sluice::dp
