// The config file as a producer of update requests: a validated Config is
// compared with the running state held by the table builder, and only the
// differences become a Batch. Fields that cannot change while running are
// reported by name instead.
#pragma once

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
    std::vector<net::PortSpec> ports;  // in config order

    static FixedAtStart of(const config::Config& c);
};

// One line per restart-only field that differs: "FILE:LINE: field: ...".
std::vector<std::string> restart_only_changes(const config::Config& next, const FixedAtStart& fixed);

// The requests that turn the running state into `next` (already
// validated). Runs on the builder thread (it reads the builder's state).
api::Batch diff_config(const config::Config& next, TableBuilder& running);

}  // namespace sluice::dp
