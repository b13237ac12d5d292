// Every packet the data plane does not forward is counted under exactly one
// of these reasons. One list, one counter each (as VPP's error nodes do);
// names are stable: telemetry, the live view and tests use them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sluice::dp {

#define SLUICE_DROP_REASONS(X)                                                              \
    X(none, "not dropped")                                                                  \
    X(l2_truncated, "frame shorter than an Ethernet header")                                \
    X(multi_segment, "frame spread over chained mbufs (only single-segment frames are parsed)") \
    X(l2_not_for_us, "destination MAC is neither ours nor broadcast/multicast")             \
    X(l2_unknown_ethertype, "ethertype not IPv4, IPv6 or ARP (VLAN tags included)")          \
    X(ipv4_truncated, "frame shorter than a minimal IPv4 header")                           \
    X(ipv4_bad_version, "IP version field is not 4")                                        \
    X(ipv4_bad_ihl, "IPv4 header length below 20 bytes or beyond total length")            \
    X(ipv4_bad_total_length, "IPv4 total length beyond the frame")                          \
    X(ipv4_bad_checksum, "IPv4 header checksum wrong")                                      \
    X(ipv4_bad_options, "IPv4 options malformed")                                           \
    X(ipv4_source_route, "IPv4 LSRR/SSRR option present (RFC 7126: dropped by default)")    \
    X(ipv4_bad_source, "IPv4 source is multicast, broadcast, loopback or 0/8 (RFC 1812 5.3.7)") \
    X(ipv4_bad_destination, "IPv4 destination is 0/8, loopback or class E (RFC 1812 5.3.7)") \
    X(ipv4_ttl_exceeded, "IPv4 TTL expired in transit (ICMP time exceeded sent)")           \
    X(ipv4_no_route, "no IPv4 route (ICMP unreachable sent)")                               \
    X(ipv4_frag_needed, "IPv4 packet above egress MTU (ICMP fragmentation needed sent or DF clear)") \
    X(ipv6_truncated, "frame shorter than an IPv6 header")                                  \
    X(ipv6_bad_version, "IP version field is not 6")                                        \
    X(ipv6_bad_payload_length, "IPv6 payload length beyond the frame")                      \
    X(ipv6_bad_source, "IPv6 source is multicast, loopback or unspecified")                \
    X(ipv6_bad_destination, "IPv6 destination is unspecified, loopback or not routable")    \
    X(ipv6_hop_limit_exceeded, "IPv6 hop limit expired in transit (ICMPv6 time exceeded sent)") \
    X(ipv6_no_route, "no IPv6 route (ICMPv6 unreachable sent)")                             \
    X(ipv6_too_big, "IPv6 packet above egress MTU (ICMPv6 packet too big sent)")            \
    X(ipv6_multicast, "IPv6 multicast not handled by this router")                          \
    X(local_unsupported, "addressed to the router, protocol not served")                    \
    X(arp_invalid, "ARP packet malformed or not for IPv4 over Ethernet")                    \
    X(arp_not_for_us, "ARP request for an address that is not ours")                        \
    X(nd_invalid, "neighbor discovery message failed RFC 4861 validation")                  \
    X(nd_not_for_us, "neighbor solicitation for an address that is not ours")               \
    X(icmp_invalid, "ICMP to the router malformed or with bad checksum")                    \
    X(neighbor_queue_full, "next hop unresolved and its pending queue is full")             \
    X(neighbor_failed, "next hop did not answer ARP/ND (RFC 4861 FAILED)")                  \
    X(neighbor_table_full, "no free neighbor entry")                                        \
    X(punt_ring_full, "slow-path ring to the agent full")                                   \
    X(tx_full, "TX queue full")                                                             \
    X(no_mbuf, "mbuf pool empty when building a reply")                                     \
    X(port_down, "egress port stopped or unknown")                                          \
    X(lb_no_vip_port, "to a VIP address, but no VIP serves its protocol and port")           \
    X(lb_l4_truncated, "to a VIP, L4 header shorter than TCP's 20 or UDP's 8 bytes")          \
    X(lb_fragment, "non-first fragment to a VIP address with no single VIP for its protocol") \
    X(lb_no_backend, "VIP has no backend up (all down, draining or weight 0)")                \
    X(lb_backend_down, "tracked flow's backend down and the VIP's on_backend_down is drop")   \
    X(lb_backend_unreachable, "no route to the chosen backend (or L2 DSR backend not on-link)") \
    X(lb_too_big, "too big after encapsulation, IPv4 without DF (ICMP sent when DF or IPv6)") \
    X(lb_icmp_unsupported, "ICMP to a VIP that is neither echo nor a too-big error about a VIP flow") \
    X(lb_no_headroom, "no mbuf headroom for the encapsulation headers")                       \
    X(rdma_peer_down, "to an RDMA peer whose queue pair is not up (connecting, failed, or no device)") \
    X(rdma_no_credit, "to an RDMA peer with no send credit or send-queue slot left (the receiver is behind)") \
    X(rdma_handoff_full, "to an RDMA peer owned by another worker, whose hand-off ring is full") \
    X(shutdown, "in flight at shutdown")

enum class DropReason : uint8_t {
#define SLUICE_X(name, text) name,
    SLUICE_DROP_REASONS(SLUICE_X)
#undef SLUICE_X
};

inline constexpr size_t kDropReasonCount = 0
#define SLUICE_X(name, text) +1
    SLUICE_DROP_REASONS(SLUICE_X)
#undef SLUICE_X
    ;

inline constexpr std::string_view kDropReasonNames[kDropReasonCount] = {
#define SLUICE_X(name, text) #name,
    SLUICE_DROP_REASONS(SLUICE_X)
#undef SLUICE_X
};

inline constexpr std::string_view kDropReasonText[kDropReasonCount] = {
#define SLUICE_X(name, text) text,
    SLUICE_DROP_REASONS(SLUICE_X)
#undef SLUICE_X
};

constexpr std::string_view name_of(DropReason r) { return kDropReasonNames[size_t(r)]; }
constexpr std::string_view text_of(DropReason r) { return kDropReasonText[size_t(r)]; }

}  // namespace sluice::dp
