// The worker's per-frame classification (pkt::classify: the inline fast
// path, else classify_slow) against the slow classification alone, on more
// than 10^6 generated frames: systematic sweeps (every truncation length of
// valid IPv4, IPv6 and ARP frames; every value of the first header byte;
// every length field around its bounds; every checksum verdict; every first
// octet of both IPv4 addresses; special IPv6 addresses; IPv4 options;
// ethertypes; destination MACs; port states; chained mbufs), then seeded
// random mutations of valid frames. Whatever the fast path vouches for must
// be what the slow path decides, so the worker's verdict is the slow path's
// on every frame.
//
// Every frame is copied to the end of a readable region followed by a
// PROT_NONE page, so a read past the frame's length faults in any build: the
// length must be checked before the bytes (external mbufs end where the
// frame does). Deterministic: std::mt19937_64 with a fixed seed, raw draws.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "dataplane/pkt/arp.hpp"
#include "dataplane/pkt/classify.hpp"
#include "tests/unit/pkt/helpers.hpp"

namespace sluice::pkt::test {
namespace {

using dp::DropReason;

constexpr MacBytes kOurMac{0x02, 0x00, 0x00, 0x00, 0x00, 0x10};
constexpr MacBytes kPeerMac{0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
constexpr uint64_t kOurPort = 0x100000000002ull;  // mac48(kOurMac), checked below
constexpr uint64_t kRandomFrames = 1'000'000;
constexpr uint64_t kSeed = 0x51ce5eed2026ull;

// ol_flags values: none, the NIC's three IPv4 checksum verdicts, and
// unrelated RX flags around them (RSS hash, VLAN stripped, L4 checksum bad).
constexpr uint64_t kOtherRxFlags = (1u << 0) | (1u << 1) | (1u << 3) | (1u << 6);
constexpr std::array<uint64_t, 7> kOlFlags = {
    0,
    kRxIpCksumGood,
    kRxIpCksumBad,
    kRxIpCksumGood | kRxIpCksumBad,  // RTE_MBUF_F_RX_IP_CKSUM_NONE
    kOtherRxFlags,
    kOtherRxFlags | kRxIpCksumGood,
    kOtherRxFlags | kRxIpCksumBad,
};

// A readable region whose last byte is followed by an inaccessible page.
class GuardedBuffer {
public:
    static constexpr size_t kCap = 8192;
    GuardedBuffer() {
        page_ = size_t(sysconf(_SC_PAGESIZE));
        body_ = (kCap + page_ - 1) / page_ * page_;
        void* p = mmap(nullptr, body_ + page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
        base_ = static_cast<uint8_t*>(p);
        if (mprotect(base_ + body_, page_, PROT_NONE) != 0) throw std::runtime_error("mprotect failed");
    }
    ~GuardedBuffer() { munmap(base_, body_ + page_); }
    GuardedBuffer(const GuardedBuffer&) = delete;
    GuardedBuffer& operator=(const GuardedBuffer&) = delete;

    // The frame's copy, ending at the guard page.
    const uint8_t* place(const uint8_t* p, size_t n) {
        uint8_t* d = base_ + body_ - n;
        if (n) std::memcpy(d, p, n);
        return d;
    }

private:
    size_t page_ = 0, body_ = 0;
    uint8_t* base_ = nullptr;
};

const char* action_name(Action a) {
    switch (a) {
    case Action::gather_v4:
        return "gather_v4";
    case Action::gather_v6:
        return "gather_v6";
    case Action::punt_local:
        return "punt_local";
    case Action::drop:
        return "drop";
    }
    return "?";
}

std::string describe(const Verdict& v) {
    std::string s = action_name(v.action);
    if (v.action == Action::drop) s += " " + std::string(dp::name_of(v.why));
    return s;
}

// Runs every frame through both classifications and keeps the tallies.
class Differential {
public:
    uint64_t frames = 0, fast_v4 = 0, fast_v6 = 0, slow_only_v4 = 0, slow_only_v6 = 0, punts = 0;
    std::array<uint64_t, dp::kDropReasonCount> drops{};
    std::vector<std::string> failures;
    uint64_t mismatches = 0;

    void run(const Bytes& f, const char* what, uint64_t ol_flags = 0, uint64_t port = kOurPort) {
        run(f.data(), f.size(), uint32_t(f.size()), ol_flags, port, what);
    }

    void run(const uint8_t* bytes, size_t len, uint32_t pkt_len, uint64_t ol_flags, uint64_t port, const char* what) {
        ++frames;
        RxFrame f{buf_.place(bytes, len), uint32_t(len), pkt_len, ol_flags};
        FastPath fast = fast_path(f, port);
        Verdict slow = classify_slow(f, port);
        Verdict worker = classify(f, port);
        Verdict vouched = fast == FastPath::v4   ? Verdict{Action::gather_v4}
                          : fast == FastPath::v6 ? Verdict{Action::gather_v6}
                                                 : slow;
        if (worker != slow || vouched != slow) [[unlikely]] {
            if (++mismatches <= 20) {
                char head[160];
                std::snprintf(head, sizeof head, "%s (len %zu, pkt_len %u, ol_flags %#llx, port %#llx): ", what, len,
                              pkt_len, static_cast<unsigned long long>(ol_flags),
                              static_cast<unsigned long long>(port));
                failures.push_back(std::string(head) + "fast " +
                                   (fast == FastPath::slow ? "declined" : describe(vouched)) + ", worker " +
                                   describe(worker) + ", slow " + describe(slow) + "\n  " +
                                   to_hex(bytes, len < 80 ? len : 80));
            }
        }
        fast_v4 += fast == FastPath::v4;
        fast_v6 += fast == FastPath::v6;
        slow_only_v4 += fast == FastPath::slow && slow.action == Action::gather_v4;
        slow_only_v6 += fast == FastPath::slow && slow.action == Action::gather_v6;
        punts += slow.action == Action::punt_local;
        if (slow.action == Action::drop) ++drops[size_t(slow.why)];
    }

private:
    GuardedBuffer buf_;
};

// ---- frames ----------------------------------------------------------------------

Bytes eth(uint16_t ethertype, const Bytes& l3, const MacBytes& dst = kOurMac, size_t min_len = kEthMinFrameLen) {
    Bytes f(kEthHdrLen, 0);
    write_eth_header(f.data(), dst, kPeerMac, ethertype);
    append(f, l3);
    while (f.size() < min_len) f.push_back(0);  // Ethernet padding
    return f;
}

constexpr size_t kIp = kEthHdrLen;  // L3 offset in a frame

// Recomputes the IPv4 header checksum of a frame when the header the IHL
// claims lies within it.
void fix4(uint8_t* frame, size_t len) {
    if (len < kIp + 12) return;
    size_t hl = size_t(frame[kIp] & 0x0f) * 4;
    if (kIp + (hl > 12 ? hl : 12) <= len) ipv4_set_header_checksum(frame + kIp);
}
void fix4(Bytes& f) { fix4(f.data(), f.size()); }

struct Base {
    const char* name;
    Bytes frame;
    bool v4 = false, v6 = false;
};

Bytes opts4(Bytes options) { return eth(kEtherTypeIpv4, make_ipv4({.options = std::move(options), .l4 = ports_l4(1, 2)})); }

std::vector<Base> bases() {
    std::vector<Base> v;
    auto add4 = [&](const char* n, Bytes f) { v.push_back({n, std::move(f), true, false}); };
    auto add6 = [&](const char* n, Bytes f) { v.push_back({n, std::move(f), false, true}); };
    add4("IPv4 UDP, 60-byte frame", eth(kEtherTypeIpv4, make_ipv4({.src = "198.18.1.2", .dst = "198.18.2.2",
                                                                   .l4 = ports_l4(1000, 2000, 18)})));
    add4("IPv4 header only, unpadded 34 bytes", eth(kEtherTypeIpv4, make_ipv4({}), kOurMac, 0));
    add4("IPv4 UDP without payload, padded", eth(kEtherTypeIpv4, make_ipv4({.l4 = ports_l4(1, 2, 0)})));
    add4("IPv4 1500 bytes", eth(kEtherTypeIpv4, make_ipv4({.l4 = ports_l4(1, 2, 1472)})));
    add4("IPv4 ICMP echo", eth(kEtherTypeIpv4, make_ipv4({.proto = 1, .l4 = icmp4_msg(8, 0, 1, Bytes(20, 7))})));
    add4("IPv4 NOP NOP NOP EOL", opts4(hex("01 01 01 00")));
    add4("IPv4 record route", opts4(hex("07 07 04 00 00 00 00 00")));
    add4("IPv4 router alert", opts4(hex("94 04 00 00")));
    add4("IPv4 timestamp", opts4(hex("44 08 05 00 00 00 00 00")));
    add4("IPv4 40 bytes of NOPs (IHL 15)", opts4(Bytes(40, 1)));
    add4("IPv4 LSRR", opts4(hex("83 07 04 c6 12 00 01 00")));
    add4("IPv4 SSRR", opts4(hex("89 07 04 c6 12 00 01 00")));
    add4("IPv4 LSRR after EOL (not parsed)", opts4(hex("00 83 07 04 c6 12 00 01")));
    add4("IPv4 option length 0", opts4(hex("44 00 00 00")));
    add4("IPv4 option length 1", opts4(hex("44 01 00 00")));
    add4("IPv4 option past the header", opts4(hex("44 08 05 00")));
    add4("IPv4 option type without length", opts4(hex("01 01 01 44")));
    add4("IPv4 malformed option after LSRR", opts4(hex("83 03 04 01 01 44 00 00")));
    add4("IPv4 to limited broadcast", eth(kEtherTypeIpv4, make_ipv4({.dst = "255.255.255.255", .l4 = ports_l4(1, 2)}),
                                          kBroadcastMac));
    add4("IPv4 to multicast", eth(kEtherTypeIpv4, make_ipv4({.dst = "224.0.0.5", .l4 = ports_l4(1, 2)}),
                                  MacBytes{0x01, 0x00, 0x5e, 0x00, 0x00, 0x05}));
    add6("IPv6 UDP, 80-byte frame", eth(kEtherTypeIpv6, make_ipv6({.payload = ports_l4(1000, 2000, 18)})));
    add6("IPv6 header only, padded", eth(kEtherTypeIpv6, make_ipv6({})));
    add6("IPv6 header only, unpadded 54 bytes", eth(kEtherTypeIpv6, make_ipv6({}), kOurMac, 0));
    add6("IPv6 2-byte payload, padded", eth(kEtherTypeIpv6, make_ipv6({.payload = Bytes(2, 9)})));
    add6("IPv6 1500 bytes", eth(kEtherTypeIpv6, make_ipv6({.payload = ports_l4(1, 2, 1452)})));
    add6("IPv6 hop-by-hop + UDP",
         eth(kEtherTypeIpv6, make_ipv6({.next_header = 0, .payload = cat({ext_header(17), ports_l4(1, 2)})})));
    Bytes ns = make_ipv6({.src = "fe80::1", .dst = "ff02::1:ff00:2", .next_header = 58, .hop_limit = 255,
                          .payload = cat({icmp6_msg(135, 0, 0, Bytes(16, 0x20)), hex("01 01 02 00 00 00 00 01")})});
    fix_icmp6_checksum(ns);
    add6("IPv6 neighbor solicitation", eth(kEtherTypeIpv6, ns, MacBytes{0x33, 0x33, 0xff, 0x00, 0x00, 0x02}));
    Bytes dad = make_ipv6({.src = "::", .dst = "ff02::1:ff00:2", .next_header = 58, .hop_limit = 255,
                           .payload = icmp6_msg(135, 0, 0, Bytes(16, 0x20))});
    fix_icmp6_checksum(dad);
    add6("IPv6 DAD probe from ::", eth(kEtherTypeIpv6, dad, MacBytes{0x33, 0x33, 0xff, 0x00, 0x00, 0x02}));
    add6("IPv6 to link-local", eth(kEtherTypeIpv6, make_ipv6({.src = "fe80::2", .dst = "fe80::1",
                                                              .payload = ports_l4(1, 2)})));
    uint8_t arp[60];
    ArpPacket a{.op = kArpOpRequest, .sha = kPeerMac, .spa = 0xc6120102u, .tha = {}, .tpa = 0xc6120101u};
    size_t n = build_arp_frame(arp, sizeof arp, kBroadcastMac, kPeerMac, a);
    v.push_back({"ARP request", Bytes(arp, arp + n)});
    return v;
}

// Destination MACs: ours, ours with one bit off in the first and the last
// byte, ours with the group bit, another unicast, zero, broadcast, IPv4 and
// IPv6 multicast.
std::vector<MacBytes> dst_macs() {
    MacBytes last = kOurMac, first = kOurMac, group = kOurMac;
    last[5] ^= 1;
    first[0] ^= 0x04;
    group[0] |= 1;
    return {kOurMac, last, first, group, kPeerMac, MacBytes{}, kBroadcastMac, MacBytes{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01},
            MacBytes{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}, MacBytes{0x33, 0x33, 0xff, 0x00, 0x00, 0x02}};
}

// Port states: ours, not in the snapshot, and a port with another MAC.
constexpr std::array<uint64_t, 3> kPorts = {kOurPort, kNoPortMac, 0x990000000002ull};

const char* const kV6Special[] = {
    "::", "::1", "::2", "::ffff:0:0", "::ffff:198.18.0.1", "::198.18.0.1", "64:ff9b::c612:1", "100::1", "ff::1",
    "2001:db8::1", "2001:db8:2::2", "2002:c612:1::1", "3fff::1", "8000::1", "fc00::1", "fd12:3456::1", "fe00::1",
    "fe80::", "fe80::1", "febf:ffff::1", "fec0::1", "feff::1", "ff00::", "ff01::1", "ff02::1", "ff02::2",
    "ff02::1:ff00:2", "ff03::1", "ff05::1:3", "ff0e::1", "ff0f::1", "ff12::1", "ff32::8000:1",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
};

const char* const kV4Special[] = {
    "0.0.0.0", "0.1.2.3", "127.0.0.1", "127.255.255.255", "128.0.0.1", "169.254.1.1", "198.18.1.255", "223.255.255.255",
    "224.0.0.1", "239.255.255.255", "240.0.0.1", "255.255.255.254", "255.255.255.255", "100.64.0.1", "1.0.0.0",
};

constexpr std::array<uint16_t, 20> kEtherTypes = {0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8, 0x9100, 0x0000, 0xFFFF,
                                                   0x0008, 0xDD86, 0x0801, 0x07FF, 0x86DC, 0x86DE, 0x0600, 0x05DC,
                                                   0x8847, 0x88CC, 0x0608, 0x8035};

// ---- the sweeps ------------------------------------------------------------------

// Every length from 0 to the whole frame, under every NIC verdict, and as
// the first segment of a longer chained mbuf.
void sweep_truncations(Differential& d, const std::vector<Base>& bs) {
    for (const Base& b : bs)
        for (size_t len = 0; len <= b.frame.size(); ++len) {
            for (uint64_t fl : kOlFlags) d.run(b.frame.data(), len, uint32_t(len), fl, kOurPort, b.name);
            d.run(b.frame.data(), len, uint32_t(b.frame.size()) + 1, 0, kOurPort, b.name);
        }
}

// Every value of the first IP byte (version and IHL), with the checksum
// repaired and as it was, under both ethertypes.
void sweep_first_byte(Differential& d, const std::vector<Base>& bs) {
    for (const Base& b : bs) {
        if (!b.v4 && !b.v6) continue;
        for (unsigned x = 0; x < 256; ++x)
            for (uint16_t et : {kEtherTypeIpv4, kEtherTypeIpv6})
                for (bool fix : {false, true}) {
                    Bytes f = b.frame;
                    f[kIp] = uint8_t(x);
                    store_be16(f.data() + kEthTypeOff, et);
                    if (fix) fix4(f);
                    for (uint64_t fl : {uint64_t(0), kRxIpCksumGood, kRxIpCksumBad}) d.run(f, "first byte", fl);
                }
    }
}

// IPv4 total length and IPv6 payload length: every value up to past the
// frame, and the top of the range.
void sweep_lengths(Differential& d, const std::vector<Base>& bs) {
    for (const Base& b : bs) {
        if (!b.v4 && !b.v6) continue;
        size_t room = b.frame.size() - kIp;
        std::vector<uint32_t> values;
        for (uint32_t x = 0; x <= room + 2 && x < 0x10000; ++x) values.push_back(x);
        for (uint32_t x : {0x7fffu, 0x8000u, 0xfffeu, 0xffffu}) values.push_back(x);
        for (uint32_t x : values) {
            Bytes f = b.frame;
            store_be16(f.data() + kIp + (b.v4 ? 2 : 4), uint16_t(x));
            if (b.v4) fix4(f);
            d.run(f, b.v4 ? "total length" : "payload length");
            d.run(f, b.v4 ? "total length" : "payload length", kRxIpCksumGood);
        }
    }
}

// The IPv4 header checksum right, off by one, zero, all ones and inverted,
// under every NIC verdict; TTL and hop limit 0, 1, 2, 255.
void sweep_checksum_and_ttl(Differential& d, const std::vector<Base>& bs) {
    for (const Base& b : bs) {
        if (!b.v4 && !b.v6) continue;
        for (uint8_t ttl : {0, 1, 2, 255}) {
            Bytes f = b.frame;
            f[kIp + (b.v4 ? 8 : 7)] = ttl;
            if (b.v4) fix4(f);
            for (uint64_t fl : kOlFlags) d.run(f, "TTL / hop limit", fl);
            if (!b.v4) continue;
            uint16_t good = load_be16(f.data() + kIp + 10);
            for (uint16_t c : {uint16_t(good + 1), uint16_t(good - 1), uint16_t(0), uint16_t(0xffff), uint16_t(~good)}) {
                Bytes g = f;
                store_be16(g.data() + kIp + 10, c);
                for (uint64_t fl : kOlFlags) d.run(g, "checksum", fl);
            }
        }
    }
}

// Every first octet of source and destination (with the rest ordinary and
// all ones, to reach 255.255.255.255), and the special addresses.
void sweep_ipv4_addresses(Differential& d) {
    Bytes base = eth(kEtherTypeIpv4, make_ipv4({.l4 = ports_l4(1, 2)}));
    for (unsigned s = 0; s < 256; ++s)
        for (unsigned t = 0; t < 256; ++t)
            for (uint8_t rest : {uint8_t(18), uint8_t(255)}) {
                Bytes f = base;
                uint8_t* ip = f.data() + kIp;
                ip[12] = uint8_t(s);
                ip[16] = uint8_t(t);
                ip[13] = ip[14] = ip[15] = ip[17] = ip[18] = ip[19] = rest;
                fix4(f);
                d.run(f, "IPv4 first octets", rest == 18 ? 0 : kRxIpCksumGood);
            }
    for (const char* s : kV4Special)
        for (const char* t : kV4Special) {
            Bytes f = eth(kEtherTypeIpv4, make_ipv4({.src = s, .dst = t, .l4 = ports_l4(1, 2)}));
            d.run(f, "IPv4 special addresses");
            d.run(f, "IPv4 special addresses", kRxIpCksumGood);
        }
}

// Every first byte of source and destination (the other fifteen as in
// 2001:db8::1, or zero up to a last byte of 0 or 1, which reaches ::, ::1
// and the rest of ::/8), every multicast flags/scope byte, and the special
// addresses against each other, as UDP and as a neighbor solicitation.
void sweep_ipv6_addresses(Differential& d) {
    Bytes base = eth(kEtherTypeIpv6, make_ipv6({.payload = ports_l4(1, 2)}));
    for (unsigned s = 0; s < 256; ++s)
        for (unsigned t = 0; t < 256; ++t)
            for (int rest = 0; rest < 3; ++rest) {
                Bytes f = base;
                if (rest > 0) {
                    std::memset(f.data() + kIp + 8, 0, 32);
                    f[kIp + 23] = f[kIp + 39] = uint8_t(rest - 1);
                }
                f[kIp + 8] = uint8_t(s);
                f[kIp + 24] = uint8_t(t);
                d.run(f, "IPv6 first bytes");
            }
    for (const char* src : {"::", "::1", "fe80::1", "2001:db8::1", "ff02::1"})
        for (unsigned scope = 0; scope < 256; ++scope)
            for (bool zero_rest : {false, true}) {
                Bytes f = eth(kEtherTypeIpv6, make_ipv6({.src = src, .dst = "ff02::1:ff00:2", .next_header = 58,
                                                         .payload = icmp6_msg(135, 0, 0, Bytes(16, 0x20))}));
                f[kIp + 25] = uint8_t(scope);
                if (zero_rest) std::memset(f.data() + kIp + 26, 0, 14);
                d.run(f, "IPv6 multicast flags and scope");
            }
    for (const char* s : kV6Special)
        for (const char* t : kV6Special)
            for (uint8_t nh : {uint8_t(17), uint8_t(58)}) {
                Bytes f = eth(kEtherTypeIpv6, make_ipv6({.src = s, .dst = t, .next_header = nh,
                                                         .payload = nh == 58 ? icmp6_msg(135, 0, 0, Bytes(16, 0x20))
                                                                             : ports_l4(1, 2)}));
                d.run(f, "IPv6 special addresses");
            }
}

// Ethertypes under each payload; destination MACs, source MACs (the two
// bytes the 8-byte MAC load reads past the destination) and port states.
void sweep_l2(Differential& d, const std::vector<Base>& bs) {
    for (const Base& b : bs)
        for (uint16_t et : kEtherTypes) {
            Bytes f = b.frame;
            store_be16(f.data() + kEthTypeOff, et);
            d.run(f, "ethertype");
        }
    const MacBytes src_variants[] = {kPeerMac, kOurMac, MacBytes{}, kBroadcastMac};
    for (const Base& b : bs)
        for (const MacBytes& dst : dst_macs())
            for (const MacBytes& src : src_variants)
                for (uint64_t port : kPorts) {
                    Bytes f = b.frame;
                    std::memcpy(f.data(), dst.data(), 6);
                    std::memcpy(f.data() + 6, src.data(), 6);
                    d.run(f, "MACs and port", 0, port);
                    d.run(f, "MACs and port", kRxIpCksumGood, port);
                }
}

// Chained mbufs: the first segment whole or cut, the chain longer or
// (a broken mbuf) shorter than it.
void sweep_segments(Differential& d, const std::vector<Base>& bs) {
    for (const Base& b : bs) {
        uint32_t n = uint32_t(b.frame.size());
        for (uint32_t first : {n, n / 2, uint32_t(kEthHdrLen), uint32_t(0)})
            for (uint32_t pkt_len : {first + 1, first + 64, 2 * n + 100, first ? first - 1 : 1, uint32_t(0)})
                for (uint64_t fl : {uint64_t(0), kRxIpCksumGood})
                    d.run(b.frame.data(), first, pkt_len, fl, kOurPort, "chained mbuf");
    }
}

// Random mutations of the valid frames: bytes set to random or boundary
// values, header fields to their bounds, bits flipped, cuts and padding;
// half of the IPv4 frames get their checksum repaired afterwards so the
// later checks are reached too.
void random_frames(Differential& d, const std::vector<Base>& bs, uint64_t count) {
    std::mt19937_64 rng(kSeed);
    auto pick = [&](uint64_t n) { return rng() % n; };
    static constexpr uint8_t kBoundary[] = {0, 1, 2, 0x0f, 0x10, 0x40, 0x45, 0x46, 0x4f, 0x60, 0x7f,
                                            0x80, 0xe0, 0xef, 0xf0, 0xfe, 0xff};
    // Offsets worth aiming at: MAC bytes, ethertype, and the IPv4/IPv6
    // fields the classification reads.
    static constexpr uint8_t kHot[] = {0,  5,  6,  7,  12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                       23, 24, 25, 26, 27, 28, 30, 31, 32, 33, 34, 38, 39, 40, 41, 46};
    std::array<uint8_t, 1600> f;
    for (uint64_t i = 0; i < count; ++i) {
        const Base& b = bs[pick(bs.size())];
        size_t len = b.frame.size();
        std::memcpy(f.data(), b.frame.data(), len);
        for (uint64_t k = 1 + pick(4); k > 0 && len > 0; --k) {
            switch (pick(7)) {
            case 0:
                f[pick(len)] = uint8_t(rng());
                break;
            case 1:
                f[pick(len)] = kBoundary[pick(sizeof kBoundary)];
                break;
            case 2: {
                size_t off = kHot[pick(sizeof kHot)];
                if (off < len) f[off] = pick(2) ? kBoundary[pick(sizeof kBoundary)] : uint8_t(rng());
                break;
            }
            case 3: {
                size_t off = pick(len);
                f[off] = uint8_t(f[off] ^ (1u << pick(8)));
                break;
            }
            case 4:  // a 16-bit length field to near the frame's end
                if (len >= kIp + 6) {
                    size_t off = kIp + (f[kEthTypeOff] == 0x86 ? 4 : 2);
                    int64_t near = int64_t(len - kIp) - (f[kEthTypeOff] == 0x86 ? 40 : 0) + int64_t(pick(7)) - 3;
                    store_be16(f.data() + off, uint16_t(near < 0 ? 0 : near));
                }
                break;
            case 5:
                len = pick(len + 1);
                break;
            default:
                if (len + 8 <= f.size()) {
                    std::memset(f.data() + len, 0, 8);
                    len += pick(9);
                }
                break;
            }
        }
        if (pick(2)) fix4(f.data(), len);
        uint64_t fl = kOlFlags[pick(kOlFlags.size())];
        uint64_t r = pick(100);
        uint64_t port = r < 90 ? kOurPort : kPorts[1 + r % 2];
        uint32_t pkt_len = pick(50) ? uint32_t(len) : uint32_t(len + 1 + pick(100));
        d.run(f.data(), len, pkt_len, fl, port, "random mutation");
    }
}

TEST(Classify, OurPortKeyIsTheMacAsOneWord) {
    EXPECT_EQ(mac48(kOurMac), kOurPort);
    Bytes f = eth(kEtherTypeIpv4, make_ipv4({}));
    EXPECT_EQ(mac48(f.data()), kOurPort) << "the source MAC bytes the 8-byte load reads are masked off";
}

TEST(Classify, WorkerDecidesAsTheSlowPathOnGeneratedFrames) {
    const std::vector<Base> bs = bases();
    Differential d;
    sweep_truncations(d, bs);
    sweep_first_byte(d, bs);
    sweep_lengths(d, bs);
    sweep_checksum_and_ttl(d, bs);
    sweep_ipv4_addresses(d);
    sweep_ipv6_addresses(d);
    sweep_l2(d, bs);
    sweep_segments(d, bs);
    uint64_t systematic = d.frames;
    random_frames(d, bs, kRandomFrames);

    std::printf("%llu frames (%llu systematic): fast path IPv4 %llu, IPv6 %llu; slow path only IPv4 %llu, IPv6 %llu; "
                "punted %llu\n",
                static_cast<unsigned long long>(d.frames), static_cast<unsigned long long>(systematic),
                static_cast<unsigned long long>(d.fast_v4), static_cast<unsigned long long>(d.fast_v6),
                static_cast<unsigned long long>(d.slow_only_v4), static_cast<unsigned long long>(d.slow_only_v6),
                static_cast<unsigned long long>(d.punts));
    std::string all;
    for (const std::string& s : d.failures) all += s + "\n";
    EXPECT_EQ(d.mismatches, 0u) << "frames where the worker would not decide as the slow path:\n" << all;

    // The comparison means something only if both halves were exercised.
    EXPECT_GE(d.frames, 1'000'000u) << systematic << " systematic frames";
    EXPECT_GE(d.fast_v4, 50'000u) << "IPv4 frames the fast path vouched for";
    EXPECT_GE(d.fast_v6, 50'000u) << "IPv6 frames the fast path vouched for";
    EXPECT_GT(d.slow_only_v4, 1'000u) << "valid IPv4 frames only the slow path accepted (options, NIC verdicts)";
    EXPECT_GT(d.slow_only_v6, 1'000u) << "valid IPv6 frames only the slow path accepted (::/8 addresses)";
    EXPECT_GT(d.punts, 1'000u);
    for (DropReason r : {DropReason::multi_segment, DropReason::l2_truncated, DropReason::port_down,
                         DropReason::l2_not_for_us, DropReason::l2_unknown_ethertype, DropReason::ipv4_truncated,
                         DropReason::ipv4_bad_version, DropReason::ipv4_bad_ihl, DropReason::ipv4_bad_total_length,
                         DropReason::ipv4_bad_checksum, DropReason::ipv4_bad_options, DropReason::ipv4_source_route,
                         DropReason::ipv4_bad_source, DropReason::ipv4_bad_destination, DropReason::local_unsupported,
                         DropReason::ipv6_truncated, DropReason::ipv6_bad_version, DropReason::ipv6_bad_payload_length,
                         DropReason::ipv6_bad_source, DropReason::ipv6_bad_destination, DropReason::ipv6_multicast})
        EXPECT_GT(d.drops[size_t(r)], 100u) << "frames dropped as " << dp::name_of(r);
}

// ---- single cases: what the sweeps above only count --------------------------

Verdict classify_bytes(const Bytes& f, uint64_t ol_flags = 0, uint64_t port = kOurPort) {
    return classify(RxFrame{f.data(), uint32_t(f.size()), uint32_t(f.size()), ol_flags}, port);
}

TEST(Classify, FastPathVouchesForTheCommonPackets) {
    Bytes v4 = eth(kEtherTypeIpv4, make_ipv4({.l4 = ports_l4(1, 2)}));
    Bytes v6 = eth(kEtherTypeIpv6, make_ipv6({.payload = ports_l4(1, 2)}));
    auto fast = [](const Bytes& f, uint64_t fl = 0) {
        return fast_path(RxFrame{f.data(), uint32_t(f.size()), uint32_t(f.size()), fl}, kOurPort);
    };
    EXPECT_EQ(fast(v4), FastPath::v4);
    EXPECT_EQ(fast(v4, kRxIpCksumGood), FastPath::v4);
    EXPECT_EQ(fast(v6), FastPath::v6);
    // Bytes the header compare ignores or masks: the source MAC, the IPv4
    // TOS, the IPv6 traffic class (the first byte's low nibble) and flow label.
    Bytes v4_tos = v4, v6_tc = v6;
    v4_tos[kIp + 1] = 0xff;
    fix_ipv4_checksum(v4_tos.data() + kIp);
    v6_tc[kIp] |= 0x0f;
    v6_tc[kIp + 1] = 0xff;
    for (Bytes* f : {&v4_tos, &v6_tc})
        for (size_t i = 6; i < 12; ++i) (*f)[i] = uint8_t(0xa0 + i);
    EXPECT_EQ(fast(v4_tos), FastPath::v4);
    EXPECT_EQ(fast(v6_tc), FastPath::v6);
    Bytes bad = v4;
    bad[kIp + 10] ^= 0xff;
    EXPECT_EQ(fast(bad, kRxIpCksumGood), FastPath::v4) << "the NIC's verdict replaces the software check";
    EXPECT_EQ(fast(v4, kRxIpCksumBad), FastPath::slow);
    EXPECT_EQ(classify_bytes(v4, kRxIpCksumBad), drop_as(DropReason::ipv4_bad_checksum));
    EXPECT_EQ(classify_bytes(bad, kRxIpCksumGood | kRxIpCksumBad), drop_as(DropReason::ipv4_bad_checksum))
        << "RTE_MBUF_F_RX_IP_CKSUM_NONE: the stored checksum is wrong, the software check decides";
}

TEST(Classify, ChainedMbufsAreDroppedUnderTheirOwnReason) {
    Bytes v4 = eth(kEtherTypeIpv4, make_ipv4({.l4 = ports_l4(1, 2, 1000)}));
    uint32_t first = 600;  // the IPv4 header is whole in the first segment
    RxFrame f{v4.data(), first, uint32_t(v4.size()), 0};
    EXPECT_EQ(fast_path(f, kOurPort), FastPath::slow);
    EXPECT_EQ(classify(f, kOurPort), drop_as(DropReason::multi_segment)) << "not ipv4_bad_total_length";
    f.len = uint32_t(v4.size());
    f.pkt_len = f.len + 100;
    EXPECT_EQ(classify(f, kOurPort), drop_as(DropReason::multi_segment));
    f.pkt_len = f.len;
    EXPECT_EQ(classify(f, kOurPort), Verdict{Action::gather_v4});
}

TEST(Classify, LengthIsCheckedBeforeAnyByteIsRead) {
    // The guard page faults on the first byte past the frame: every cut of a
    // valid frame, down to nothing, is classified without reading beyond it.
    GuardedBuffer buf;
    Bytes v4 = eth(kEtherTypeIpv4, make_ipv4({.l4 = ports_l4(1, 2)}));
    for (uint32_t len = 0; len < kMinV4Frame; ++len) {
        RxFrame f{buf.place(v4.data(), len), len, len, 0};
        EXPECT_EQ(fast_path(f, kOurPort), FastPath::slow) << len;
        Verdict want = len < kEthHdrLen ? drop_as(DropReason::l2_truncated) : drop_as(DropReason::ipv4_truncated);
        EXPECT_EQ(classify(f, kOurPort), want) << len;
    }
}

TEST(Classify, SlowPathDecisions) {
    struct Case {
        const char* what;
        Bytes frame;
        Verdict want;
        uint64_t port = kOurPort;
    };
    Case cases[] = {
        {"ARP is the agent's", bases().back().frame, {Action::punt_local}},
        {"IPv4 with options is forwarded", opts4(hex("94 04 00 00")), {Action::gather_v4}},
        {"IPv4 to multicast ends here",
         eth(kEtherTypeIpv4, make_ipv4({.dst = "224.0.0.5"}), MacBytes{0x01, 0x00, 0x5e, 0, 0, 5}),
         drop_as(DropReason::local_unsupported)},
        {"IPv4 to 255.255.255.255 ends here", eth(kEtherTypeIpv4, make_ipv4({.dst = "255.255.255.255"}), kBroadcastMac),
         drop_as(DropReason::local_unsupported)},
        {"IPv6 DAD from :: is the agent's",
         eth(kEtherTypeIpv6, make_ipv6({.src = "::", .dst = "ff02::1:ff00:2"}), kBroadcastMac), {Action::punt_local}},
        {"IPv6 from :: to a site-scope group", eth(kEtherTypeIpv6, make_ipv6({.src = "::", .dst = "ff05::2"})),
         drop_as(DropReason::ipv6_bad_source)},
        {"IPv6 to fe80::/10 is the agent's", eth(kEtherTypeIpv6, make_ipv6({.dst = "febf::1"})), {Action::punt_local}},
        {"IPv6 to fec0:: is routed like any unicast", eth(kEtherTypeIpv6, make_ipv6({.dst = "fec0::1"})),
         {Action::gather_v6}},
        {"IPv6 to IPv4-mapped ::ffff:0:0/96 is not special here",
         eth(kEtherTypeIpv6, make_ipv6({.dst = "::ffff:198.18.0.1"})), {Action::gather_v6}},
        {"IPv6 to ff0e:: is not routed", eth(kEtherTypeIpv6, make_ipv6({.dst = "ff0e::1"})),
         drop_as(DropReason::ipv6_multicast)},
        {"IPv6 to ff12:: (link scope, transient) is the agent's", eth(kEtherTypeIpv6, make_ipv6({.dst = "ff12::1"})),
         {Action::punt_local}},
        {"a port not in the snapshot", eth(kEtherTypeIpv4, make_ipv4({})), drop_as(DropReason::port_down), kNoPortMac},
        {"broadcast to a port not in the snapshot", eth(kEtherTypeIpv4, make_ipv4({}), kBroadcastMac),
         drop_as(DropReason::port_down), kNoPortMac},
        {"unicast to another MAC", eth(kEtherTypeIpv4, make_ipv4({}), kPeerMac), drop_as(DropReason::l2_not_for_us)},
        {"VLAN tagged", eth(kEtherTypeVlan, make_ipv4({})), drop_as(DropReason::l2_unknown_ethertype)},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(classify_bytes(c.frame, 0, c.port), c.want)
            << c.what << ": got " << describe(classify_bytes(c.frame, 0, c.port));
    }
}

}  // namespace
}  // namespace sluice::pkt::test
