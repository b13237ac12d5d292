// The `rdma:` section (docs/config.md, "rdma"): its limits, the MACs a peer
// gets when the file names none, and the two steps parse_config() runs for
// it: validation (validate_rdma.cpp) and, once everything validated, the
// normalisation that turns a peer into a port for routes and static
// neighbors (parse_rdma.cpp). The link code reads the same helpers, so the
// MAC it puts on the wire is the one documented.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "config/model.hpp"
#include "config/rules.hpp"

namespace sluice::config {

// `device: standin`: the software stand-in (drivers/rdma/standin), which
// runs the transport without hardware.
inline constexpr std::string_view kStandinDevice = "standin";

// FNV-1a, 64 bits (offset basis 0xcbf29ce484222325, prime 0x100000001b3),
// over the bytes of a peer's name: the one hash both MACs below come from.
uint64_t rdma_name_hash(std::string_view name);

// Our MAC on the link when `mac:` is absent: 02 (locally administered,
// unicast) then the low 40 bits of rdma_name_hash(name), most significant
// byte first ("r0": 02:07:b5:7b:e9:1f). Deterministic: a restart keeps it.
MacAddr derived_link_mac(std::string_view name);

// p.mac, or derived_link_mac(p.name) when p.mac is all-zero.
MacAddr link_mac(const RdmaPeerConfig& p);

// The MAC of the static neighbor entries added for the peer's addresses:
// 02:00:5e:00 then the hash folded to 16 bits, f = (h ^ h >> 16 ^ h >> 32 ^
// h >> 48) & 0xffff with h = rdma_name_hash(name), most significant byte
// first ("r0": 02:00:5e:00:d0:bf). The receiver never looks at it (a frame that
// arrives over an RDMA link is for the node at its end); it only has to be
// a unicast MAC so the neighbor table holds a complete entry.
MacAddr peer_neighbor_mac(std::string_view name);

// The config-file names of the fields that differ between a and b (the
// SourceMark aside), for a reload's refusal: every rdma field is fixed for
// the process's life (the queue pair, its memory and its worker are set up
// once).
std::vector<std::string_view> changed_rdma_fields(const RdmaPeerConfig& a, const RdmaPeerConfig& b);

namespace rules {

inline constexpr size_t kMaxRdmaDeviceName = 63;  // IBV_SYSFS_NAME_MAX - 1
inline constexpr Range kDevicePort{1, 255, false, "a whole number 1..255"};
inline constexpr Range kGidIndex{0, 255, false, "\"auto\" or a whole number 0..255"};
inline constexpr Range kRdmaMtu{68, 9000, false, "a whole number 68..9000"};
inline constexpr Range kRdmaQueue{64, 8192, true, "a power of two 64..8192"};
inline constexpr Range kInlineMax{0, 256, false, "a whole number 0..256"};
inline constexpr uint32_t kMaxRdmaWorker = 63;
inline constexpr Range kRdmaWorker{0, kMaxRdmaWorker, false, "\"auto\" or a worker index 0..63"};
// `listen` and `connect` (parse_host_port in config/control.hpp).
inline constexpr std::string_view kHostPortExpect =
    "\"IP:port\" like 198.18.0.1:18515 or [2001:db8::1]:18515 (port 1..65535)";
// signal_every's upper bound is send_queue / 2 (validate_rdma.cpp says it):
// a signalled send at least every half queue frees slots before it fills.
inline constexpr Range kSignalEveryAny{1, kU32, false, "a whole number >= 1"};

// `rdma.peers` (validate_rdma.cpp), appended to errs; run by validate()
// after the ports. Peers and ports share one name space and their subnets
// must not overlap.
void validate_rdma(const Config& cfg, std::vector<ConfigError>& errs);

// The index of the peer named `name`, or -1.
int find_rdma_peer(const Config& cfg, std::string_view name);

// Run by parse_config() on a Config that validated (parse_rdma.cpp):
//  - a next hop with `port: <peer>` and no `via` gets `via` = the peer's
//    peer_address of the route prefix's family (validation refused a
//    family the peer lacks);
//  - a stand-in peer without link_layer gets "ethernet";
//  - each peer address becomes a static neighbor {peer_address,
//    peer_neighbor_mac(name), name}, unless `neighbors:` has one for that
//    address and port (that one is kept).
// Gateways inside a peer's subnet got `port` during validation, as a
// port's do (validate_filling_ports). Nothing here can fail.
void normalise_rdma(Config& cfg);

}  // namespace rules

}  // namespace sluice::config
