// A port as the hardware sees it: the one description shared by the config
// file, the port driver and the data plane's port registry.
//
// Every field here is fixed for the life of the process (changing any of
// them means reconfiguring the NIC under the workers), so a reload compares
// the whole struct with the defaulted operator==: a field added here is
// restart-only automatically, never silently reloadable. What may change at
// run time (addresses) lives outside, in the config's PortConfig and the
// data plane's interface table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/net.hpp"

namespace sluice::net {

inline constexpr size_t kMaxPortNameLen = 15;  // [a-z0-9_-]{1,15}: fits an interface name

struct PortSpec {
    std::string name;              // our name, referenced by routes and neighbors
    std::string device;            // DPDK device: "0000:01:00.0", "net_tap0,iface=dp0", ...
    uint16_t rx_queues = 1;
    uint16_t rx_desc = 1024;
    uint16_t tx_desc = 1024;
    uint16_t mtu = 1500;           // L3 MTU
    std::optional<MacAddr> mac;    // override the device's MAC
    bool promiscuous = false;

    friend bool operator==(const PortSpec&, const PortSpec&) = default;
};

// The config-file names of the fields that differ between a and b, for a
// reload's error message. When operator== says they differ but no listed
// field does (a field added without a name here), returns {"(unnamed field)"}
// so the reload still fails.
std::vector<std::string_view> changed_fields(const PortSpec& a, const PortSpec& b);

}  // namespace sluice::net
