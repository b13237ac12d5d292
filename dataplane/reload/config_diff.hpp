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

    static FixedAtStart of(const config::Config& c);
};

// One line per restart-only field that differs: "FILE:LINE: field: ...".
std::vector<std::string> restart_only_changes(const config::Config& next, const FixedAtStart& fixed);

// The requests that turn the running state into `next` (already
// validated). Runs on the builder thread (it reads the builder's state).
api::Batch diff_config(const config::Config& next, TableBuilder& running);

// The VIP part of diff_config (a seam for tests): a VIP of the file that is
// new or differs from the running one with its key becomes a set, a
// running VIP the file no longer has a del. Backends are compared as a set
// (by address and port) and encap_source prefixes by family, so reordering
// either list is no change.
void diff_vips(const std::vector<config::VipConfig>& next, const std::map<api::VipKey, api::Vip>& running,
               api::Batch& out);

}  // namespace sluice::dp
