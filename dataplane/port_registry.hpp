// The ports this process opened: one entry per DPDK port id, holding the
// port as configured (net::PortSpec, fixed for the process's life) and what
// the device reported when it was started (drivers::PortInfo). Written once
// at start-up, then only read (by any thread).
#pragma once

#include <array>
#include <string_view>

#include "api/port.hpp"
#include "dataplane/counters.hpp"
#include "drivers/ports/port.hpp"

namespace sluice::dp {

struct Port {
    bool open = false;
    net::PortSpec spec;
    drivers::PortInfo info;  // info.port_id is the index
};

struct PortRegistry {
    std::array<Port, kMaxPorts> port{};

    // DPDK port id of an open port by its configured name, or -1.
    int find(std::string_view name) const {
        for (uint16_t i = 0; i < kMaxPorts; ++i)
            if (port[i].open && port[i].spec.name == name) return i;
        return -1;
    }
    const Port* get(uint16_t id) const { return id < kMaxPorts && port[id].open ? &port[id] : nullptr; }
    // The configured name, or the id as text for a port we do not know.
    std::string name(uint16_t id) const { return get(id) ? port[id].spec.name : std::to_string(id); }
};

}  // namespace sluice::dp
