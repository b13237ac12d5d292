// The config file as a producer of update requests: a validated Config is
// compared with the running state held by the table builder, and only the
// differences become a Batch. Fields that cannot change while running are
// reported by name instead.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "api/port.hpp"
#include "api/update.hpp"
#include "config/model.hpp"

namespace sluice::dp {

class TableBuilder;

// What was fixed when the process started (restart-only fields).
struct FixedAtStart {
    uint32_t mbufs = 0;
    uint16_t mbuf_cache = 0;
    uint32_t neighbor_capacity = 0;
    uint32_t lb_flow_table_size = 0;   // sizes each worker's flow table
    std::vector<net::PortSpec> ports;  // in config order
    // The control channel's socket is opened once (docs/control.md).
    std::string control_socket;
    std::string control_group;
    uint32_t control_max_message = 0;
    // Every field of every RDMA peer (config/rdma.hpp, changed_rdma_fields).
    std::vector<config::RdmaPeerConfig> rdma_peers;

    static FixedAtStart of(const config::Config& c);
};

// One line per restart-only field that differs: "FILE:LINE: field: ...".
std::vector<std::string> restart_only_changes(const config::Config& next, const FixedAtStart& fixed);

// Which parts of a config a reload applies. Once a control process has
// synced (docs/control-protocol.md, "owner"), routes, static neighbors and
// VIPs are its to set, and the file gives only settings and addresses.
enum class DiffScope : uint8_t {
    everything,              // settings, addresses, routes, static neighbors, VIPs
    settings_and_addresses,  // workers, neighbor, icmp, lb settings and interface addresses only
};

// The requests that turn the running state into `next` (already
// validated). Runs on the builder thread (it reads the builder's state).
api::Batch diff_config(const config::Config& next, TableBuilder& running,
                       DiffScope scope = DiffScope::everything);

// The parts of diff_config, each appending to `out`; each makes the
// running state of its kind equal to `next`: the control channel's
// sync_commit (dataplane/channel/) diffs its desired routes, neighbors and
// VIPs with the same functions as the file.
//
// Settings (workers, neighbor, icmp, lb) and per-port address lists.
void diff_settings_and_addresses(const config::Config& next, const TableBuilder& running, api::Batch& out);
// Routes: one lookup each against the running table (next-hop sets compare
// as sets: reordered next hops are no change), then a del for every running
// route `next` does not have. Every next hop with a gateway must name its
// port (config validation fills it in: rules::validate_filling_ports).
void diff_routes(const std::vector<config::Route>& next, TableBuilder& running, api::Batch& out);
// Static neighbors by (port, address): new or other MAC is a set, running
// ones `next` does not have are cleared. Neighbors on unknown ports are
// skipped (validation refuses them first).
void diff_neighbors(const std::vector<config::StaticNeighbor>& next, const TableBuilder& running, api::Batch& out);
// VIPs against the builder's running VIPs (the overload below).
void diff_vips(const std::vector<config::VipConfig>& next, const TableBuilder& running, api::Batch& out);

// The VIP part of diff_config (a seam for tests): a VIP of the file that is
// new or differs from the running one with its key becomes a set, a
// running VIP the file no longer has a del. Backends are compared as a set
// (by address and port) and encap_source prefixes by family, so reordering
// either list is no change.
void diff_vips(const std::vector<config::VipConfig>& next, const std::map<api::VipKey, api::Vip>& running,
               api::Batch& out);

}  // namespace sluice::dp
