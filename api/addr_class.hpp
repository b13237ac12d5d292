// What kind of address a value is, for every part that must refuse a
// non-unicast gateway, interface address or neighbor (the config validator
// and the data plane's table builder say the same thing).
#pragma once

#include <string>

#include "api/net.hpp"

namespace sluice::net {

// Empty when a may be a host address on a link; else what it is instead
// ("is a multicast address (224.0.0.0/4)", ...).
std::string non_unicast_reason(const IpAddr& a);

// For IPv4 subnets of /30 and shorter: "network" or "broadcast" when a is
// that address of p (p must contain a), else empty.
std::string v4_edge(const Prefix& p, const IpAddr& a);

// Empty for a unicast, non-zero MAC; else "expected a unicast MAC address ...".
std::string mac_problem(const MacAddr& m);

}  // namespace sluice::net
