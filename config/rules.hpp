// Internal to the config library: limits and value ranges shared by the
// parser (for its type errors) and validate() (for its range errors), so
// both say the same "expected ..." text; and how both record an error.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

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

// An error in `file` at m (line 0: no position known).
inline ConfigError error_at(std::string file, const SourceMark& m, std::string field, std::string message) {
    ConfigError e;
    e.file = std::move(file);
    e.line = m.line;
    e.column = m.column;
    e.field = std::move(field);
    e.message = std::move(message);
    return e;
}

// What the checks of one section of a Config (validate_lb.cpp,
// validate_control.cpp) share: the Config, where their errors go, the file
// those name ("<config>" for a Config built in code), range checks.
class SectionValidator {
protected:
    SectionValidator(const Config& c, std::vector<ConfigError>& errs)
        : cfg_(c), errs_(errs), file_(c.source.empty() ? "<config>" : c.source) {}

    void err(const SourceMark& m, std::string field, std::string msg) {
        errs_.push_back(error_at(file_, m, std::move(field), std::move(msg)));
    }

    // False (and an error) when v is outside r.
    bool range(const Range& r, uint64_t v, const std::string& field, const SourceMark& m = {}) {
        if (r.ok(v)) return true;
        err(m, field, std::string("expected ") + r.text + ", got " + std::to_string(v));
        return false;
    }

    const Config& cfg_;
    std::vector<ConfigError>& errs_;
    std::string file_;
};

}  // namespace sluice::config::rules
