// Internal to the config library: limits and value ranges shared by the
// parser (for its type errors) and validate() (for its range errors), so
// both say the same "expected ..." text.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include "config/load.hpp"
#include "config/model.hpp"

namespace sluice::config::rules {

inline constexpr size_t kMaxPorts = 32;              // dataplane/counters.hpp kMaxPorts
inline constexpr size_t kMaxAddressesPerPort = 64;
inline constexpr size_t kMaxEcmp = 64;
inline constexpr size_t kMaxNameLen = net::kMaxPortNameLen;

struct Range {
    uint64_t min;
    uint64_t max;
    bool pow2;
    const char* text;  // used as "expected <text>, got ..."
    bool ok(uint64_t v) const { return v >= min && v <= max && (!pow2 || (v & (v - 1)) == 0); }
};

inline constexpr uint64_t kU32 = std::numeric_limits<uint32_t>::max();

inline constexpr Range kMbufs{1023, kU32, false, "a whole number >= 1023"};
inline constexpr Range kMbufCache{0, 512, false, "a whole number 0..512"};
inline constexpr Range kBurst{1, 256, false, "a whole number 1..256"};
inline constexpr Range kAnyU32{0, kU32, false, "a whole number 0..4294967295"};
inline constexpr Range kPositiveU32{1, kU32, false, "a whole number >= 1"};
inline constexpr Range kNeighborCapacity{16, 1048576, false, "a whole number 16..1048576"};
inline constexpr Range kMaxPending{0, api::kMaxPendingPerNeighbor, false, "a whole number 0..1024"};
static_assert(api::kMaxPendingPerNeighbor == 1024, "kMaxPending's text");
inline constexpr uint64_t kMaxPendingSlots = api::kMaxPendingSlots;
inline constexpr Range kRxQueues{1, 64, false, "a whole number 1..64"};
inline constexpr Range kDesc{64, 16384, true, "a power of two 64..16384"};
inline constexpr Range kMtu{68, 9600, false, "a whole number 68..9600"};
inline constexpr uint16_t kMinIpv6Mtu = 1280;  // RFC 8200 section 5

// The load balancer (api/lb.hpp).
inline constexpr size_t kMaxVips = 4096;              // dataplane/lb/flow_table.hpp kMaxVips
inline constexpr size_t kMaxBackends = 4096;          // dataplane/lb/maglev.hpp kMaxBackendsPerVip
inline constexpr size_t kMaxVipNameLen = 32;
inline constexpr Range kFlowTableSize{1024, 67108864, false, "a whole number 1024..67108864"};
inline constexpr Range kTimeoutS{1, 86400, false, "a whole number of seconds 1..86400"};
inline constexpr Range kNewFlowBurst{1, 100000000, false, "a whole number 1..100000000"};
inline constexpr Range kVipPort{0, 65535, false, "a whole number 0..65535 (0: all ports)"};
inline constexpr Range kPort{1, 65535, false, "a whole number 1..65535"};
inline constexpr Range kWeight{0, api::kMaxBackendWeight, false, "a whole number 0..10000"};
static_assert(api::kMaxBackendWeight == 10000, "kWeight's text");
inline constexpr Range kTableSize{3, api::kMaxMaglevSize, false, "a prime number 3..1000003"};
static_assert(api::kMaxMaglevSize == 1000003, "kTableSize's text");

// Trial division: table sizes are at most 1000003 (a thousand divisions).
bool is_prime(uint32_t n);

// A port address that makes a connected subnet: valid length, unicast,
// not link-local.
bool usable_interface_address(const Prefix& a);

// The name of the port whose connected subnet (of a's family) contains a,
// or empty. Link-local IPv6 addresses never match: they need an explicit port.
std::string connected_port_for(const Config& cfg, const IpAddr& a);

// validate(cfg), which also sets NextHop.port of every gateway written
// without a port to the port whose connected subnet holds it (what
// connected_port_for() returns for a valid config) as it checks that
// gateway, sparing a second pass over a large table. When errors come back
// some ports may be filled and others not: use cfg only if there are none.
std::vector<ConfigError> validate_filling_ports(Config& cfg);

// The `lb:` settings and the `vips:` list (validate_lb.cpp), appended to
// errs; run by validate() after the ports, routes and neighbors.
void validate_lb(const Config& cfg, std::vector<ConfigError>& errs);

}  // namespace sluice::config::rules
