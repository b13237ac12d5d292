#include "tests/unit/dataplane/frames.hpp"

#include <cstring>

#include <rte_mbuf.h>

#include "config/load.hpp"
#include "dataplane/pkt/checksum.hpp"

namespace sluice::test {

namespace {

void put16(std::vector<uint8_t>& v, size_t off, uint16_t x) {
    v[off] = uint8_t(x >> 8);
    v[off + 1] = uint8_t(x);
}

void eth(std::vector<uint8_t>& f, const Mac& dst, const Mac& src, uint16_t type) {
    std::memcpy(f.data(), dst.data(), 6);
    std::memcpy(f.data() + 6, src.data(), 6);
    put16(f, 12, type);
}

}  // namespace

std::vector<uint8_t> ipv4_udp(const Ip4Spec& s) {
    size_t ip_len = 20 + 8 + s.payload;
    std::vector<uint8_t> f(14 + ip_len, 0);
    eth(f, s.dst_mac, kHostA, 0x0800);
    uint8_t* ip = f.data() + 14;
    ip[0] = 0x45;
    put16(f, 16, uint16_t(ip_len));
    if (s.df) ip[6] = 0x40;
    ip[8] = s.ttl;
    ip[9] = s.proto;
    auto src = config::parse_ip(s.src), dst = config::parse_ip(s.dst);
    std::memcpy(ip + 12, src->bytes.data(), 4);
    std::memcpy(ip + 16, dst->bytes.data(), 4);
    uint16_t c = pkt::ipv4_header_checksum(ip, 20);
    ip[10] = uint8_t(c >> 8);
    ip[11] = uint8_t(c);
    put16(f, 34, s.sport);
    put16(f, 36, s.dport);
    put16(f, 38, uint16_t(8 + s.payload));
    return f;
}

std::vector<uint8_t> ipv6_udp(const Ip6Spec& s) {
    std::vector<uint8_t> f(14 + 40 + 8 + s.payload, 0);
    eth(f, s.dst_mac, kHostA, 0x86DD);
    uint8_t* ip = f.data() + 14;
    ip[0] = 0x60;
    put16(f, 18, uint16_t(8 + s.payload));
    ip[6] = 17;
    ip[7] = s.hop_limit;
    auto src = config::parse_ip(s.src), dst = config::parse_ip(s.dst);
    std::memcpy(ip + 8, src->bytes.data(), 16);
    std::memcpy(ip + 24, dst->bytes.data(), 16);
    put16(f, 54, s.sport);
    put16(f, 56, s.dport);
    put16(f, 58, uint16_t(8 + s.payload));
    return f;
}

std::vector<uint8_t> arp_request(const std::string& sender, const std::string& target) {
    std::vector<uint8_t> f(60, 0);
    eth(f, Mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, kHostA, 0x0806);
    put16(f, 14, 1);
    put16(f, 16, 0x0800);
    f[18] = 6;
    f[19] = 4;
    put16(f, 20, 1);
    std::memcpy(f.data() + 22, kHostA.data(), 6);
    std::memcpy(f.data() + 28, config::parse_ip(sender)->bytes.data(), 4);
    std::memcpy(f.data() + 38, config::parse_ip(target)->bytes.data(), 4);
    return f;
}

rte_mbuf* make_mbuf(rte_mempool* pool, const std::vector<uint8_t>& frame, uint16_t port) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (!m) return nullptr;
    char* d = rte_pktmbuf_append(m, uint16_t(frame.size()));
    std::memcpy(d, frame.data(), frame.size());
    m->port = port;
    return m;
}

config::Config lab_config() {
    config::Config c;
    c.source = "<unit>";
    config::PortConfig p0, p1;
    p0.name = "p0";
    p0.device = "net_null0";
    p0.addresses = {*config::parse_prefix("198.18.1.1/24"), *config::parse_prefix("2001:db8:1::1/64")};
    p1.name = "p1";
    p1.device = "net_null1";
    p1.addresses = {*config::parse_prefix("198.18.2.1/24"), *config::parse_prefix("2001:db8:2::1/64")};
    c.ports = {p0, p1};
    auto via = [](const char* gw) { return config::NextHop{config::parse_ip(gw), "p1"}; };
    config::Route r1;
    r1.prefix = *config::parse_prefix("198.19.0.0/16");
    r1.nexthops = {via("198.18.2.2")};
    config::Route r2;
    r2.prefix = *config::parse_prefix("198.19.128.0/17");
    r2.nexthops = {via("198.18.2.3"), via("198.18.2.2")};
    config::Route r3;
    r3.prefix = *config::parse_prefix("2001:db8:100::/48");
    r3.nexthops = {via("2001:db8:2::2")};
    c.routes = {r1, r2, r3};
    return c;
}

}  // namespace sluice::test
