// The out-of-band exchange: what one side of an RC queue pair tells the
// other before either can move to RTR (rdma-core's rc_pingpong sends the same
// facts as text; ours is a versioned binary message, checked field by field).
// Carried over TCP (oob_socket.hpp). Spec: docs/rdma.md, "Exchange".
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice::drivers::rdma {

inline constexpr uint16_t kOobVersion = 1;

enum class LinkLayer : uint8_t { infiniband = 1, ethernet = 2 };

struct EndpointInfo {
    LinkLayer link_layer = LinkLayer::ethernet;
    uint8_t active_mtu = 0;        // enum ibv_mtu of our port (1..5)
    uint16_t lid = 0;              // InfiniBand: our port's LID (0 on Ethernet)
    std::array<uint8_t, 16> gid{}; // our GID at gid_index (RoCE: required; IB: used when routed)
    uint8_t gid_index = 0;
    uint32_t qpn = 0;              // 24 bits
    uint32_t psn = 0;              // 24 bits: the first PSN we send with
    uint32_t recv_credits = 0;     // receive buffers we hold for the peer = its initial send window
    uint32_t max_frame = 0;        // bytes of the largest frame we accept
    uint64_t instance = 0;         // random per queue pair: a new value means the peer rebuilt it
    std::array<uint8_t, 6> mac{};  // our link MAC (frames to us carry it)
    std::string name;              // our name of the link, <= 15 bytes, for log lines
    friend bool operator==(const EndpointInfo&, const EndpointInfo&) = default;
};

// Wire layout, version 1 (all integers big-endian; offsets in bytes):
//    0  magic "SLRD"            4   version u16 (= kOobVersion)
//    6  total length u16 (the whole message, CRC included)
//    8  link_layer u8           9   active_mtu u8
//   10  lid u16                12   gid_index u8
//   13  gid[16]                29   qpn u32
//   33  psn u32                37   recv_credits u32
//   41  max_frame u32          45   instance u64
//   53  mac[6]                 59   name length u8, 60 name[15] (zero padded)
//   75  CRC-32C (Castagnoli) u32 over bytes [0, length - 4)
//
// Forward compatibility: a later sender may append fields after offset 75
// without bumping the version. A reader accepts any length >= kOobV1Size,
// reads the fields it knows and ignores the extra bytes before the CRC
// (which still covers them). The version changes only when a v1 field
// changes meaning or place; a reader rejects any version but its own.
inline constexpr size_t kOobHeaderSize = 8;
inline constexpr size_t kOobV1Size = 79;
// Largest message oob_recv accepts: room for appended fields, yet a bound
// so a garbage length cannot make the reader wait for 64 KiB.
inline constexpr size_t kOobMaxSize = 4096;
// Accepted range of max_frame: a frame arrives in one receive buffer (an
// mbuf segment); 64 is the smallest Ethernet frame, 16 KiB the largest
// data room a sane mempool gives one segment (jumbo 9216 fits).
inline constexpr uint32_t kOobMinFrame = 64;
inline constexpr uint32_t kOobMaxFrame = 16384;
// recv_credits: at least one buffer; at most 65536 (a shared receive queue
// of ibv_device_attr.max_srq_wr is 32K..64K on ConnectX parts).
inline constexpr uint32_t kOobMaxCredits = 65536;
inline constexpr size_t kOobMaxName = 15;

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, RFC 3720 B.4):
// crc32c("123456789") == 0xE3069283. `crc` continues an earlier result.
uint32_t crc32c(const uint8_t* p, size_t n, uint32_t crc = 0);

// Checks every field as decode() does (the sender calls it before sending:
// encode() itself never fails and truncates a long name). One line in *err.
bool check_endpoint(const EndpointInfo& info, std::string* err);

// Bytes on the wire (fixed layout, network byte order, ends in a CRC-32C).
std::vector<uint8_t> encode(const EndpointInfo& info);
// The size of a complete message whose first bytes are `p[0..n)`, or 0 when
// fewer than the header's bytes are there yet. For framing on a stream: it
// returns the header's length field as is (check it against kOobV1Size and
// kOobMaxSize before waiting for that many bytes).
size_t message_size(const uint8_t* p, size_t n);
// Decodes one whole message; nullopt and *err (one line naming the field and
// what was expected) on anything malformed.
std::optional<EndpointInfo> decode(const uint8_t* p, size_t n, std::string* err);

}  // namespace sluice::drivers::rdma
