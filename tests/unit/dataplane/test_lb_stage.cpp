// The load balancer stage (lb/stage.cpp) inside forward_burst, over real
// rte_fib copies, a real neighbor table and mbufs from a pool: hand-built
// packets to VIPs in every mode, checked byte for byte (headers written,
// checksums recomputed from scratch here, inner bytes untouched), the NAT
// return path, flow tracking across reloads and backend states, the
// new-flow guard, malformed and unusual VIP traffic, ICMP, and the
// /sluice/lb/which answer. Every burst's packets are accounted for:
// transmitted + punted + dropped == sent. docs/lb.md is the specification.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "config/load.hpp"
#include "dataplane/lb/lb_worker.hpp"
#include "dataplane/lb/maglev.hpp"
#include "dataplane/lb/stage.hpp"
#include "dataplane/worker/forward.hpp"
#include "dataplane/worker/punt.hpp"
#include "tests/unit/dataplane/frames.hpp"
#include "tests/unit/dataplane/tables_env.hpp"

namespace sluice::test {
namespace {

using api::BackendState;
using api::LbMode;
using api::LbProto;
using dp::DropReason;
using dp::Punt;

constexpr uint32_t kNone = UINT32_MAX;

net::IpAddr addr(const std::string& s) {
    auto a = config::parse_ip(s);
    EXPECT_TRUE(a) << s;
    return a ? *a : net::IpAddr{};
}
uint16_t be16(uint16_t h) { return uint16_t((h >> 8) | (h << 8)); }
uint16_t get16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
void put16(uint8_t* p, uint16_t v) {
    p[0] = uint8_t(v >> 8);
    p[1] = uint8_t(v);
}
uint32_t get32(const uint8_t* p) {
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

// RFC 1071, byte by byte: independent of dataplane/pkt/checksum.hpp.
uint32_t sum_add(uint32_t acc, const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; i += 2) acc += (uint32_t(p[i]) << 8) | (i + 1 < n ? p[i + 1] : 0);
    return acc;
}
uint16_t sum_fold(uint32_t acc) {
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return uint16_t(~acc);
}
// The TCP/UDP/ICMPv6 checksum over the pseudo-header (RFC 768, 793, 8200
// 8.1): 0 when the stored one is right.
uint16_t pseudo_sum(bool v6, const uint8_t* src, const uint8_t* dst, uint8_t proto, const uint8_t* l4, size_t n) {
    uint32_t a = 0;
    a = sum_add(a, src, v6 ? 16 : 4);
    a = sum_add(a, dst, v6 ? 16 : 4);
    a += proto;
    a += uint32_t(n >> 16) + uint32_t(n & 0xffff);
    a = sum_add(a, l4, n);
    return sum_fold(a);
}
bool ipv4_header_ok(const uint8_t* ip) { return sum_fold(sum_add(0, ip, size_t(ip[0] & 0x0f) * 4)) == 0; }
// The L4 checksum of an unfragmented IPv4 or IPv6 (no extension header) packet.
bool l4_checksum_ok(const uint8_t* ip) {
    bool v6 = (ip[0] >> 4) == 6;
    if (v6) return pseudo_sum(true, ip + 8, ip + 24, ip[6], ip + 40, get16(ip + 4)) == 0;
    size_t hl = size_t(ip[0] & 0x0f) * 4;
    if (ip[9] == 1) return sum_fold(sum_add(0, ip + hl, get16(ip + 2) - hl)) == 0;
    return pseudo_sum(false, ip + 12, ip + 16, ip[9], ip + hl, get16(ip + 2) - hl) == 0;
}

// A hand-built packet to (or from) a VIP.
struct P {
    bool v6 = false;
    std::string src = "198.18.1.2", dst;
    uint8_t proto = 6;
    uint16_t sport = 40000, dport = 80;
    uint8_t tcp_flags = 0x02;     // SYN
    uint16_t payload = 20;        // bytes after the TCP/UDP header
    bool raw = false;             // l4 holds the whole L4 part as it is (ICMP: checksum filled in)
    std::vector<uint8_t> l4;
    uint8_t ttl = 64, tos = 0;
    bool df = false;
    int frag = -1;                // fragment offset in 8-byte units; -1: not a fragment
    bool mf = false;
    size_t pad_to = 0;            // Ethernet padding up to this frame length
    uint16_t port = 0;            // received on
};

std::vector<uint8_t> build(const P& p) {
    std::vector<uint8_t> l4;
    const bool nonfirst = p.frag > 0;
    if (p.raw) {
        l4 = p.l4;
    } else if (nonfirst) {
        l4.resize(p.payload);
        for (size_t i = 0; i < l4.size(); ++i) l4[i] = uint8_t(0xa0 + i);
    } else {
        size_t h = p.proto == 6 ? 20 : 8;
        l4.assign(h + p.payload, 0);
        put16(&l4[0], p.sport);
        put16(&l4[2], p.dport);
        for (size_t i = h; i < l4.size(); ++i) l4[i] = uint8_t(i * 7 + 1);
        if (p.proto == 6) {
            put16(&l4[4], 0x1234);
            put16(&l4[6], 0x5678);
            l4[12] = 0x50;
            l4[13] = p.tcp_flags;
            put16(&l4[14], 0xffff);
        } else {
            put16(&l4[4], uint16_t(l4.size()));
        }
    }
    net::IpAddr s = addr(p.src), d = addr(p.dst);
    // Checksums: TCP/UDP over the pseudo-header (as if unfragmented), ICMP.
    if (!nonfirst && (!p.raw || p.proto == 1 || p.proto == 58)) {
        size_t at = p.proto == 6 ? 16 : p.proto == 17 ? 6 : 2;
        if (l4.size() >= at + 2) {
            l4[at] = l4[at + 1] = 0;
            uint16_t c = p.proto == 1 ? sum_fold(sum_add(0, l4.data(), l4.size()))
                                      : pseudo_sum(p.v6, s.bytes.data(), d.bytes.data(), p.proto, l4.data(), l4.size());
            if (c == 0 && p.proto == 17) c = 0xffff;
            put16(&l4[at], c);
        }
    }
    std::vector<uint8_t> ip;
    if (!p.v6) {
        ip.assign(20, 0);
        ip[0] = 0x45;
        ip[1] = p.tos;
        put16(&ip[2], uint16_t(20 + l4.size()));
        put16(&ip[4], 0x4242);
        uint16_t ff = uint16_t((p.df ? 0x4000 : 0) | (p.mf ? 0x2000 : 0) | (p.frag > 0 ? p.frag : 0));
        put16(&ip[6], ff);
        ip[8] = p.ttl;
        ip[9] = p.proto;
        std::memcpy(&ip[12], s.bytes.data(), 4);
        std::memcpy(&ip[16], d.bytes.data(), 4);
        put16(&ip[10], sum_fold(sum_add(0, ip.data(), 20)));
    } else {
        const bool fh = p.frag >= 0;
        ip.assign(40 + (fh ? 8 : 0), 0);
        ip[0] = uint8_t(0x60 | (p.tos >> 4));
        ip[1] = uint8_t(p.tos << 4);
        put16(&ip[4], uint16_t(l4.size() + (fh ? 8 : 0)));
        ip[6] = fh ? 44 : p.proto;
        ip[7] = p.ttl;
        std::memcpy(&ip[8], s.bytes.data(), 16);
        std::memcpy(&ip[24], d.bytes.data(), 16);
        if (fh) {
            ip[40] = p.proto;
            put16(&ip[42], uint16_t((p.frag << 3) | (p.mf ? 1 : 0)));
            put16(&ip[44], 0x0bad);
            put16(&ip[46], 0xcafe);
        }
    }
    // Sized once and filled (GCC 12 at -O3 misreads insert() after a
    // 14-byte vector as an out-of-bounds copy: -Werror=array-bounds).
    std::vector<uint8_t> f(std::max<size_t>(14 + ip.size() + l4.size(), p.pad_to), 0);
    const Mac& dmac = p.port == 0 ? kMac0 : kMac1;
    const Mac& smac = p.port == 0 ? kHostA : kHostB;
    std::memcpy(f.data(), dmac.data(), 6);
    std::memcpy(f.data() + 6, smac.data(), 6);
    put16(f.data() + 12, p.v6 ? 0x86DD : 0x0800);
    if (!ip.empty()) std::memcpy(f.data() + 14, ip.data(), ip.size());
    if (!l4.empty()) std::memcpy(f.data() + 14 + ip.size(), l4.data(), l4.size());
    return f;
}

// ICMP fragmentation needed (IPv4) / packet too big (IPv6) from a router
// on the client's side, quoting a packet VIP:vport -> client:cport.
P too_big(bool v6, const std::string& vip, uint16_t vport, const std::string& client, uint16_t cport, uint8_t proto = 6,
          uint8_t type = 0, uint8_t code = 4) {
    P p;
    p.v6 = v6;
    p.src = v6 ? "2001:db8:1::50" : "198.18.1.50";
    p.dst = vip;
    p.proto = v6 ? 58 : 1;
    p.raw = true;
    net::IpAddr va = addr(vip), ca = addr(client);
    std::vector<uint8_t> m(8, 0);
    m[0] = type ? type : (v6 ? 2 : 3);
    m[1] = v6 ? 0 : code;
    put16(&m[6], 1400);  // next-hop MTU (IPv4: bytes 6-7; IPv6: the low half of bytes 4-7)
    std::vector<uint8_t> q;
    if (!v6) {
        q.assign(20, 0);
        q[0] = 0x45;
        put16(&q[2], 1500);
        put16(&q[6], 0x4000);
        q[8] = 63;
        q[9] = proto;
        std::memcpy(&q[12], va.bytes.data(), 4);
        std::memcpy(&q[16], ca.bytes.data(), 4);
        put16(&q[10], sum_fold(sum_add(0, q.data(), 20)));
    } else {
        q.assign(40, 0);
        q[0] = 0x60;
        put16(&q[4], 1460);
        q[6] = proto;
        q[7] = 63;
        std::memcpy(&q[8], va.bytes.data(), 16);
        std::memcpy(&q[24], ca.bytes.data(), 16);
    }
    std::vector<uint8_t> l4q(8, 0);
    put16(&l4q[0], vport);
    put16(&l4q[2], cport);
    put16(&l4q[4], 0x7777);
    q.insert(q.end(), l4q.begin(), l4q.end());
    m.insert(m.end(), q.begin(), q.end());
    p.l4 = m;
    return p;
}

// A backend's MAC: from the last byte of its address (and its family).
Mac backend_mac(const net::IpAddr& a) {
    return {0x02, 0, 0, 0, uint8_t(a.is_v6() ? 0x66 : 0x44), a.bytes[a.is_v6() ? 15 : 3]};
}
const Mac kGwMac = kHostB;  // 198.18.2.2 and 2001:db8:2::2, lab_config()'s gateways on p1

api::Backend backend(const char* a, uint32_t weight = 1, uint16_t port = 0) {
    api::Backend b;
    b.address = addr(a);
    b.weight = weight;
    b.port = port;
    return b;
}

api::Vip make_vip(const char* name, const char* address, LbProto proto, uint16_t port, std::vector<api::Backend> bs,
                  LbMode mode = LbMode::l2_dsr) {
    api::Vip v;
    v.name = name;
    v.key = {addr(address), proto, port};
    v.mode = mode;
    v.table_size = 251;
    v.backends = std::move(bs);
    return v;
}

lb::FlowKey key_of(const P& p) {
    lb::FlowKey k;
    net::IpAddr s = addr(p.src), d = addr(p.dst);
    std::memcpy(k.src.data(), s.bytes.data(), p.v6 ? 16 : 4);
    std::memcpy(k.dst.data(), d.bytes.data(), p.v6 ? 16 : 4);
    k.sport = be16(p.sport);
    k.dport = be16(p.dport);
    k.proto = p.proto;
    k.v6 = p.v6;
    return k;
}

struct Fate {
    enum Kind { tx, punt, drop, lost } kind = lost;
    uint16_t port = 0;
    Punt why = Punt::none;
    uint32_t payload = 0;
};

class LbStage : public ::testing::Test {
protected:
    void SetUp() override {
        pool_ = rte_pktmbuf_pool_create(("lbs" + std::to_string(counter_++)).c_str(), 1023, 0, 0,
                                        RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
        ASSERT_NE(pool_, nullptr);
        env_ = std::make_unique<TablesEnv>();
        ASSERT_EQ(env_->load(lab_config()), "");
        nbrs_ = env_->nbrs.get();
        res_ = std::make_unique<dp::BurstResult>();
        counters_ = std::make_unique<dp::CoreCounters>();
        w_ = std::make_unique<dp::LbWorker>(4096);
        w_->now_ns = 5'000'000'000ull;
        w_->now_ms = 5000;
        resolve("198.18.2.2", 1, kGwMac);
        resolve("2001:db8:2::2", 1, kGwMac);
        resolve("198.18.1.2", 0, kHostA);
        resolve("2001:db8:1::2", 0, kHostA);
    }
    void TearDown() override {
        release();
        w_.reset();
        env_.reset();
        rte_mempool_free(pool_);
    }

    void resolve(const std::string& ip, uint16_t port, const Mac& mac) {
        net::IpAddr a = addr(ip);
        uint32_t slot = nbrs_->insert(a.is_v4() ? dp::NeighborKey::v4(port, a.bytes.data())
                                                : dp::NeighborKey::v6addr(port, a.bytes.data()));
        ASSERT_NE(slot, dp::kNoNeighbor);
        nbrs_->set_mac(slot, mac);
    }
    // Backends on p1 get their own MAC (backend_mac); others are behind a gateway.
    void resolve_backends(const api::Vip& v) {
        for (const auto& b : v.backends) {
            std::string s = net::to_string(b.address);
            if (s.rfind("198.18.2.", 0) == 0 || s.rfind("2001:db8:2::", 0) == 0) resolve(s, 1, backend_mac(b.address));
        }
    }
    void apply(const std::vector<api::Vip>& sets, const std::vector<api::VipKey>& dels = {},
               std::optional<api::LbSettings> lb = std::nullopt) {
        api::Batch b;
        for (const auto& v : sets) b.vips.push_back({api::VipUpdate::Op::set, v});
        for (const auto& k : dels) {
            api::VipUpdate u;
            u.op = api::VipUpdate::Op::del;
            u.vip.key = k;
            b.vips.push_back(u);
        }
        b.lb = lb;
        auto r = env_->builder->apply(b);
        std::string e;
        for (const auto& x : r.errors) e += x.what + ": " + x.message + "\n";
        ASSERT_TRUE(r.applied) << e;
        for (const auto& v : sets) resolve_backends(v);
    }
    const dp::Root& root() const { return env_->root(); }

    // Frees what the last burst left.
    void release() {
        for (uint16_t i = 0; i < res_->n_ports_used; ++i) {
            uint16_t p = res_->ports_used[i];
            rte_pktmbuf_free_bulk(res_->tx[p], res_->tx_count[p]);
        }
        rte_pktmbuf_free_bulk(res_->punt, res_->n_punt);
        rte_pktmbuf_free_bulk(res_->drop, res_->n_drop);
        res_->clear();
    }
    rte_mbuf* mb(const P& p) {
        rte_mbuf* m = make_mbuf(pool_, build(p), p.port);
        EXPECT_NE(m, nullptr);
        return m;
    }
    // One burst through forward_burst with the LB worker; every packet must
    // end transmitted, punted or dropped.
    void run(const std::vector<rte_mbuf*>& pkts) {
        release();
        std::vector<rte_mbuf*> v = pkts;
        dp::forward_burst(root(), *nbrs_, v.data(), uint16_t(v.size()), *res_, *counters_, w_.get());
        size_t tx = 0;
        for (uint16_t i = 0; i < res_->n_ports_used; ++i) tx += res_->tx_count[res_->ports_used[i]];
        EXPECT_EQ(tx + res_->n_punt + res_->n_drop, pkts.size()) << "every packet forwarded, punted or dropped";
        for (rte_mbuf* m : pkts) EXPECT_NE(fate(m).kind, Fate::lost);
    }
    rte_mbuf* send(const P& p) {
        rte_mbuf* m = mb(p);
        run({m});
        return m;
    }
    Fate fate(rte_mbuf* m) const {
        Fate f;
        for (uint16_t i = 0; i < res_->n_ports_used; ++i) {
            uint16_t p = res_->ports_used[i];
            for (uint16_t k = 0; k < res_->tx_count[p]; ++k)
                if (res_->tx[p][k] == m) {
                    f.kind = Fate::tx;
                    f.port = p;
                    return f;
                }
        }
        for (uint16_t k = 0; k < res_->n_punt; ++k)
            if (res_->punt[k] == m) {
                f.kind = Fate::punt;
                f.why = dp::punt_of(m);
                f.payload = dp::punt_payload(m);
                return f;
            }
        for (uint16_t k = 0; k < res_->n_drop; ++k)
            if (res_->drop[k] == m) f.kind = Fate::drop;
        return f;
    }
    uint64_t drops(DropReason r) const { return dp::read(counters_->drops[size_t(r)]); }
    // The drop reasons counted so far, for failure messages.
    std::string dropped_as() const {
        std::string s;
        for (size_t r = 0; r < dp::kDropReasonCount; ++r)
            if (uint64_t n = dp::read(counters_->drops[r]))
                s += std::string(dp::name_of(DropReason(r))) + "=" + std::to_string(n) + " ";
        return s.empty() ? "no drops" : s;
    }
    // The single packet of the last burst was dropped for `why` (and only it).
    void expect_dropped(rte_mbuf* m, DropReason why, uint64_t before) {
        EXPECT_EQ(fate(m).kind, Fate::drop);
        EXPECT_EQ(drops(why), before + 1) << dp::name_of(why);
    }

    int vip_slot(const std::string& a, uint8_t proto_bit, uint16_t port) const {
        net::IpAddr x = addr(a);
        uint64_t v = x.is_v4() ? root().fib4->lookup(x.v4_host()) : root().fib6->lookup(x.bytes.data());
        if (dp::nh_kind(v) != dp::NhKind::vip) return -1;
        for (const auto& e : root().lb->addresses.at(dp::nh_index(v)).vips)
            if ((e.protos & proto_bit) && e.port_be == be16(port)) return int(e.vip);
        return -1;
    }
    uint32_t vip_of(const api::Vip& v) const {
        int s = vip_slot(net::to_string(v.key.address), v.key.proto == LbProto::udp ? dp::kLbUdp : dp::kLbTcp,
                         v.key.port);
        EXPECT_GE(s, 0) << v.name;
        return uint32_t(s);
    }
    // Maglev's backend slot for a flow now (computed here from the tables).
    uint32_t maglev(uint32_t vip, lb::FlowKey k) const {
        const dp::LbVip& v = root().lb->vips.at(vip);
        if (v.hash == api::LbHash::addresses) k.sport = k.dport = 0;
        uint32_t h = dp::lb_flow_hash(k);
        uint16_t i = v.slot[uint32_t((uint64_t(h) * v.m) >> 32)];
        return i == lb::kNoBackend ? kNone : v.members[i];
    }
    std::string backend_name(uint32_t slot) const {
        if (slot == kNone) return "none";
        const dp::LbBackend& b = root().lb->backends.at(slot);
        return net::to_string(b.v6 ? net::IpAddr::v6(b.addr.data()) : net::IpAddr::v4(b.addr.data()));
    }
    uint32_t backend_slot(const std::string& a) const {
        net::IpAddr x = addr(a);
        const auto& bs = root().lb->backends;
        for (uint32_t s = 0; s < bs.size(); ++s)
            if (bs[s].uid && bs[s].addr == x.bytes && bs[s].v6 == x.is_v6()) return s;
        ADD_FAILURE() << "no backend " << a;
        return kNone;
    }
    // Where an L2 DSR packet went: the backend whose MAC it carries.
    std::string dsr_backend(rte_mbuf* m) const {
        if (fate(m).kind != Fate::tx) return "not sent";
        const uint8_t* d = rte_pktmbuf_mtod(m, const uint8_t*);
        for (const auto& b : root().lb->backends) {
            if (!b.uid) continue;
            net::IpAddr a = b.v6 ? net::IpAddr::v6(b.addr.data()) : net::IpAddr::v4(b.addr.data());
            Mac mac = backend_mac(a);
            if (std::memcmp(d, mac.data(), 6) == 0) return net::to_string(a);
        }
        return "unknown MAC";
    }
    dp::LbCounters& lc() { return *w_->counters; }

    static inline int counter_ = 0;
    rte_mempool* pool_ = nullptr;
    std::unique_ptr<TablesEnv> env_;
    dp::NeighborTable* nbrs_ = nullptr;
    std::unique_ptr<dp::BurstResult> res_;
    std::unique_ptr<dp::CoreCounters> counters_;
    std::unique_ptr<dp::LbWorker> w_;
};

const uint8_t* l3(rte_mbuf* m) { return rte_pktmbuf_mtod(m, const uint8_t*) + 14; }

// ---- L2 DSR ------------------------------------------------------------------

TEST_F(LbStage, L2DsrRewritesOnlyTheMacs) {
    api::Vip v4 = make_vip("dsr4", "198.18.100.1", LbProto::tcp, 80,
                           {backend("198.18.2.10"), backend("198.18.2.11"), backend("198.18.2.12")});
    api::Vip v6 = make_vip("dsr6", "2001:db8:64::1", LbProto::udp, 53,
                           {backend("2001:db8:2::10"), backend("2001:db8:2::11"), backend("2001:db8:2::12")});
    ASSERT_NO_FATAL_FAILURE(apply({v4, v6}));
    std::vector<P> ps;
    for (uint16_t i = 0; i < 12; ++i) {
        P p;
        p.dst = "198.18.100.1";
        p.sport = uint16_t(40000 + i);
        p.ttl = uint8_t(2 + i);  // TTL 2 too: DSR does not route the client's packet
        ps.push_back(p);
        P q;
        q.v6 = true;
        q.src = "2001:db8:1::2";
        q.dst = "2001:db8:64::1";
        q.proto = 17;
        q.sport = uint16_t(1000 + i);
        q.dport = 53;
        ps.push_back(q);
    }
    std::vector<rte_mbuf*> ms;
    std::vector<std::vector<uint8_t>> orig;
    for (const auto& p : ps) {
        orig.push_back(build(p));
        ms.push_back(mb(p));
    }
    run(ms);
    std::set<std::string> used;
    for (size_t i = 0; i < ms.size(); ++i) {
        SCOPED_TRACE(i);
        const P& p = ps[i];
        Fate f = fate(ms[i]);
        ASSERT_EQ(f.kind, Fate::tx);
        EXPECT_EQ(f.port, 1);
        const api::Vip& v = p.v6 ? v6 : v4;
        std::string want = backend_name(maglev(vip_of(v), key_of(p)));
        EXPECT_EQ(dsr_backend(ms[i]), want) << "destination MAC: Maglev's backend's";
        used.insert(want);
        const uint8_t* d = rte_pktmbuf_mtod(ms[i], const uint8_t*);
        EXPECT_EQ(0, std::memcmp(d + 6, kMac1.data(), 6)) << "source MAC: the egress port's";
        ASSERT_EQ(ms[i]->pkt_len, orig[i].size());
        ASSERT_EQ(ms[i]->data_len, orig[i].size());
        EXPECT_EQ(0, std::memcmp(d + 12, orig[i].data() + 12, orig[i].size() - 12))
            << "ethertype and IP packet identical (TTL included)";
    }
    EXPECT_GE(used.size(), 4u) << "flows spread over the backends";
}

// An on-link backend's first packet is sent after the bulk neighbor lookup
// (forward.cpp step 3, which fills the worker's neighbor cache); the next
// ones from the cache, in the stage, whose rewrite stores the egress port's
// precomputed source MAC and EtherType word for the family the packet
// leaves in. Both ways must give the same frame, in every mode and family.
TEST_F(LbStage, WarmNeighborCacheSendsTheSameFrames) {
    api::Vip d4 = make_vip("dsr4", "198.18.100.1", LbProto::udp, 80, {backend("198.18.2.10")});
    api::Vip d6 = make_vip("dsr6", "2001:db8:64::1", LbProto::udp, 53, {backend("2001:db8:2::10")});
    api::Vip n4 = make_vip("nat4", "198.18.100.2", LbProto::udp, 80, {backend("198.18.2.20", 1, 8080)}, LbMode::nat);
    api::Vip n6 = make_vip("nat6", "2001:db8:64::2", LbProto::udp, 53, {backend("2001:db8:2::20", 1, 5353)},
                           LbMode::nat);
    api::Vip e4 = make_vip("ipip64", "198.18.100.4", LbProto::udp, 80, {backend("2001:db8:2::30")}, LbMode::ipip);
    api::Vip e6 = make_vip("ipip46", "2001:db8:64::4", LbProto::udp, 53, {backend("198.18.2.30")}, LbMode::ipip);
    e4.encap_source = {config::parse_prefix("2001:db8:ee::/64").value()};
    e6.encap_source = {config::parse_prefix("198.18.200.0/24").value()};
    ASSERT_NO_FATAL_FAILURE(apply({d4, d6, n4, n6, e4, e6}));
    std::vector<P> ps;
    for (const char* dst : {"198.18.100.1", "198.18.100.2", "198.18.100.4"}) {
        P p;
        p.dst = dst;
        p.proto = 17;
        p.dport = 80;
        ps.push_back(p);
    }
    for (const char* dst : {"2001:db8:64::1", "2001:db8:64::2", "2001:db8:64::4"}) {
        P q;
        q.v6 = true;
        q.src = "2001:db8:1::2";
        q.dst = dst;
        q.proto = 17;
        q.sport = 1000;
        q.dport = 53;
        ps.push_back(q);
    }
    std::vector<std::vector<uint8_t>> sent[2];
    for (int round = 0; round < 2; ++round) {
        std::vector<rte_mbuf*> ms;
        for (const auto& p : ps) ms.push_back(mb(p));
        run(ms);
        for (size_t i = 0; i < ms.size(); ++i) {
            SCOPED_TRACE(std::to_string(round) + "/" + std::to_string(i));
            ASSERT_EQ(fate(ms[i]).kind, Fate::tx) << dropped_as();
            const uint8_t* d = rte_pktmbuf_mtod(ms[i], const uint8_t*);
            sent[round].emplace_back(d, d + ms[i]->data_len);
            EXPECT_EQ(0, std::memcmp(d + 6, kMac1.data(), 6)) << "source MAC: the egress port's";
            EXPECT_EQ(get16(d + 12), (d[14] >> 4) == 6 ? 0x86DD : 0x0800) << "EtherType of the IP header sent";
        }
    }
    ASSERT_EQ(sent[0].size(), sent[1].size());
    for (size_t i = 0; i < sent[0].size(); ++i) EXPECT_EQ(sent[0][i], sent[1][i]) << "packet " << i;
}

TEST_F(LbStage, L2DsrUnresolvedBackendIsPuntedWithItsSlot) {
    api::Vip v = make_vip("dsr", "198.18.100.1", LbProto::tcp, 80, {backend("198.18.2.50")});
    api::Vip gw = make_vip("dsr-gw", "198.18.100.2", LbProto::tcp, 80, {backend("198.19.5.5")});
    api::Batch b;
    b.vips = {{api::VipUpdate::Op::set, v}, {api::VipUpdate::Op::set, gw}};
    ASSERT_TRUE(env_->builder->apply(b).applied);  // 198.18.2.50 left unresolved
    P p;
    p.dst = "198.18.100.1";
    auto orig = build(p);
    rte_mbuf* m = send(p);
    Fate f = fate(m);
    ASSERT_EQ(f.kind, Fate::punt);
    EXPECT_EQ(f.why, Punt::lb_neighbor);
    EXPECT_EQ(f.payload, backend_slot("198.18.2.50") + 1) << "payload: the backend slot + 1";
    EXPECT_EQ(0, std::memcmp(rte_pktmbuf_mtod(m, uint8_t*), orig.data(), orig.size())) << "not rewritten";

    // A DSR backend must be on-link: one behind a gateway is unreachable.
    uint64_t before = drops(DropReason::lb_backend_unreachable);
    p.dst = "198.18.100.2";
    m = send(p);
    expect_dropped(m, DropReason::lb_backend_unreachable, before);
}

// ---- NAT ---------------------------------------------------------------------

// Byte offsets (from the IP header) that differ between two packets.
std::set<size_t> diff(const uint8_t* a, const uint8_t* b, size_t n) {
    std::set<size_t> s;
    for (size_t i = 0; i < n; ++i)
        if (a[i] != b[i]) s.insert(i);
    return s;
}
bool subset(const std::set<size_t>& a, const std::set<size_t>& allowed) {
    for (size_t x : a)
        if (!allowed.count(x)) return false;
    return true;
}

TEST_F(LbStage, NatRewritesDestinationAndChecksums) {
    api::Vip n4 = make_vip("nat4", "198.18.100.2", LbProto::tcp, 80, {backend("198.18.2.20", 1, 8080)}, LbMode::nat);
    api::Vip n6 = make_vip("nat6", "2001:db8:64::2", LbProto::udp, 53, {backend("2001:db8:2::20", 1, 5353)},
                           LbMode::nat);
    api::Vip keep = make_vip("keep", "198.18.100.3", LbProto::udp, 0, {backend("198.18.2.22")}, LbMode::nat);
    ASSERT_NO_FATAL_FAILURE(apply({n4, n6, keep}));

    P p;
    p.dst = "198.18.100.2";
    p.payload = 33;  // odd: the checksum's last byte is padded
    p.tos = 0xb8;
    auto orig = build(p);
    rte_mbuf* m = mb(p);
    P q;
    q.v6 = true;
    q.src = "2001:db8:1::2";
    q.dst = "2001:db8:64::2";
    q.proto = 17;
    q.sport = 1000;
    q.dport = 53;
    q.payload = 41;
    auto orig6 = build(q);
    rte_mbuf* m6 = mb(q);
    P k;
    k.dst = "198.18.100.3";
    k.proto = 17;
    k.sport = 5000;
    k.dport = 7777;
    auto origk = build(k);
    rte_mbuf* mk = mb(k);
    run({m, m6, mk});

    // IPv4 TCP.
    ASSERT_EQ(fate(m).kind, Fate::tx);
    EXPECT_EQ(fate(m).port, 1);
    const uint8_t* d = rte_pktmbuf_mtod(m, const uint8_t*);
    Mac want = backend_mac(addr("198.18.2.20"));
    EXPECT_EQ(0, std::memcmp(d, want.data(), 6));
    EXPECT_EQ(0, std::memcmp(d + 6, kMac1.data(), 6));
    const uint8_t* ip = d + 14;
    EXPECT_EQ(net::IpAddr::v4(ip + 16), addr("198.18.2.20"));
    EXPECT_EQ(net::IpAddr::v4(ip + 12), addr("198.18.1.2")) << "the client's address is kept";
    EXPECT_EQ(get16(ip + 20), 40000);
    EXPECT_EQ(get16(ip + 22), 8080);
    EXPECT_EQ(ip[8], 63) << "TTL decremented: the packet is routed";
    EXPECT_TRUE(ipv4_header_ok(ip));
    EXPECT_TRUE(l4_checksum_ok(ip)) << "TCP checksum over the new pseudo-header";
    EXPECT_TRUE(subset(diff(ip, orig.data() + 14, orig.size() - 14), {8, 10, 11, 16, 17, 18, 19, 22, 23, 36, 37}))
        << "nothing else changed";
    EXPECT_EQ(m->pkt_len, orig.size());

    // IPv6 UDP.
    ASSERT_EQ(fate(m6).kind, Fate::tx);
    const uint8_t* ip6 = l3(m6);
    EXPECT_EQ(net::IpAddr::v6(ip6 + 24), addr("2001:db8:2::20"));
    EXPECT_EQ(get16(ip6 + 42), 5353);
    EXPECT_EQ(get16(ip6 + 40), 1000);
    EXPECT_EQ(ip6[7], 63);
    EXPECT_TRUE(l4_checksum_ok(ip6));
    std::set<size_t> ok6 = {7, 42, 43, 46, 47};
    for (size_t i = 24; i < 40; ++i) ok6.insert(i);
    EXPECT_TRUE(subset(diff(ip6, orig6.data() + 14, orig6.size() - 14), ok6));
    EXPECT_EQ(0, std::memcmp(rte_pktmbuf_mtod(m6, uint8_t*), backend_mac(addr("2001:db8:2::20")).data(), 6));

    // Port-keeping backend of an all-ports VIP: only the address changes.
    ASSERT_EQ(fate(mk).kind, Fate::tx);
    const uint8_t* ipk = l3(mk);
    EXPECT_EQ(net::IpAddr::v4(ipk + 16), addr("198.18.2.22"));
    EXPECT_EQ(get16(ipk + 22), 7777);
    EXPECT_TRUE(ipv4_header_ok(ipk));
    EXPECT_TRUE(l4_checksum_ok(ipk));
    EXPECT_TRUE(subset(diff(ipk, origk.data() + 14, origk.size() - 14), {8, 10, 11, 16, 17, 18, 19, 26, 27}));

    // TTL 1: routed, so it expires here.
    P t = p;
    t.ttl = 1;
    rte_mbuf* mt = send(t);
    ASSERT_EQ(fate(mt).kind, Fate::punt);
    EXPECT_EQ(fate(mt).why, Punt::ttl);
}

TEST_F(LbStage, NatReturnPathLeavesFromTheVip) {
    api::Vip n4 = make_vip("nat4", "198.18.100.2", LbProto::tcp, 80, {backend("198.18.2.20", 1, 8080)}, LbMode::nat);
    api::Vip n6 = make_vip("nat6", "2001:db8:64::2", LbProto::udp, 53, {backend("2001:db8:2::20", 1, 5353)},
                           LbMode::nat);
    api::Vip keep = make_vip("keep", "198.18.100.3", LbProto::udp, 0, {backend("198.18.2.22")}, LbMode::nat);
    ASSERT_NO_FATAL_FAILURE(apply({n4, n6, keep}));
    ASSERT_NE(root().hot.nat_filter, nullptr);

    auto reply = [](const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t proto) {
        P r;
        r.v6 = addr(src).is_v6();
        r.src = src;
        r.dst = dst;
        r.sport = sport;
        r.dport = dport;
        r.proto = proto;
        r.tcp_flags = 0x12;
        r.payload = 17;
        r.port = 1;  // from the backends' side
        return r;
    };
    P r4 = reply("198.18.2.20", 8080, "198.18.1.2", 40000, 6);
    P other = reply("198.18.2.20", 8081, "198.18.1.2", 40000, 6);  // not the NAT'd port
    P r6 = reply("2001:db8:2::20", 5353, "2001:db8:1::2", 1000, 17);
    P rk = reply("198.18.2.22", 7777, "198.18.1.2", 5000, 17);
    P rk_tcp = reply("198.18.2.22", 7777, "198.18.1.2", 5000, 6);  // the VIP is UDP only
    std::vector<P> ps = {r4, other, r6, rk, rk_tcp};
    std::vector<rte_mbuf*> ms;
    std::vector<std::vector<uint8_t>> orig;
    for (const auto& p : ps) {
        orig.push_back(build(p));
        ms.push_back(mb(p));
    }
    run(ms);
    struct Want {
        const char* src;
        uint16_t sport;
    };
    const Want want[] = {{"198.18.100.2", 80}, {"198.18.2.20", 8081}, {"2001:db8:64::2", 53}, {"198.18.100.3", 7777},
                         {"198.18.2.22", 7777}};
    for (size_t i = 0; i < ms.size(); ++i) {
        SCOPED_TRACE(i);
        ASSERT_EQ(fate(ms[i]).kind, Fate::tx);
        EXPECT_EQ(fate(ms[i]).port, 0) << "routed on to the client";
        const uint8_t* d = rte_pktmbuf_mtod(ms[i], const uint8_t*);
        EXPECT_EQ(0, std::memcmp(d, kHostA.data(), 6));
        EXPECT_EQ(0, std::memcmp(d + 6, kMac0.data(), 6));
        const uint8_t* ip = d + 14;
        bool v6 = ps[i].v6;
        net::IpAddr src = v6 ? net::IpAddr::v6(ip + 8) : net::IpAddr::v4(ip + 12);
        EXPECT_EQ(src, addr(want[i].src));
        size_t l4 = v6 ? 40 : 20;
        EXPECT_EQ(get16(ip + l4), want[i].sport);
        EXPECT_EQ(get16(ip + l4 + 2), ps[i].dport);
        EXPECT_EQ(v6 ? ip[7] : ip[8], 63);
        if (!v6) {
            EXPECT_TRUE(ipv4_header_ok(ip));
        }
        EXPECT_TRUE(l4_checksum_ok(ip));
        // Payload untouched.
        size_t h = l4 + (ps[i].proto == 6 ? 20 : 8);
        EXPECT_EQ(0, std::memcmp(ip + h, orig[i].data() + 14 + h, orig[i].size() - 14 - h));
    }
}

// A reply's first fragment carries the ports after the fragment header: the
// map is looked up with them (an IPv6 first fragment included).
TEST_F(LbStage, NatReturnOfFirstFragments) {
    api::Vip n4 = make_vip("nat4", "198.18.100.2", LbProto::udp, 53, {backend("198.18.2.20", 1, 5353)}, LbMode::nat);
    api::Vip n6 = make_vip("nat6", "2001:db8:64::2", LbProto::udp, 53, {backend("2001:db8:2::20", 1, 5353)},
                           LbMode::nat);
    ASSERT_NO_FATAL_FAILURE(apply({n4, n6}));
    for (bool v6 : {false, true}) {
        SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
        P r;
        r.v6 = v6;
        r.src = v6 ? "2001:db8:2::20" : "198.18.2.20";
        r.dst = v6 ? "2001:db8:1::2" : "198.18.1.2";
        r.proto = 17;
        r.sport = 5353;
        r.dport = 1000;
        r.frag = 0;
        r.mf = true;
        r.payload = 40;
        r.port = 1;
        rte_mbuf* m = send(r);
        ASSERT_EQ(fate(m).kind, Fate::tx);
        const uint8_t* ip = l3(m);
        net::IpAddr src = v6 ? net::IpAddr::v6(ip + 8) : net::IpAddr::v4(ip + 12);
        EXPECT_EQ(net::to_string(src), v6 ? "2001:db8:64::2" : "198.18.100.2") << "the reply leaves from the VIP";
        size_t l4 = v6 ? 48 : 20;
        EXPECT_EQ(get16(ip + l4), 53) << "from the VIP's port";
    }
}

TEST_F(LbStage, NatDeliversTooBigToTheBackendWithTheQuoteRewritten) {
    api::Vip n4 = make_vip("nat4", "198.18.100.2", LbProto::tcp, 80, {backend("198.18.2.20", 1, 8080)}, LbMode::nat);
    ASSERT_NO_FATAL_FAILURE(apply({n4}));
    P icmp = too_big(false, "198.18.100.2", 80, "198.18.1.2", 40000);
    auto orig = build(icmp);
    rte_mbuf* m = send(icmp);
    ASSERT_EQ(fate(m).kind, Fate::tx);
    EXPECT_EQ(fate(m).port, 1);
    const uint8_t* ip = l3(m);
    EXPECT_EQ(net::IpAddr::v4(ip + 16), addr("198.18.2.20")) << "outer destination: the backend";
    EXPECT_EQ(net::IpAddr::v4(ip + 12), addr("198.18.1.50"));
    EXPECT_EQ(ip[8], 63);
    EXPECT_TRUE(ipv4_header_ok(ip));
    EXPECT_TRUE(l4_checksum_ok(ip)) << "ICMP checksum";
    const uint8_t* q = ip + 28;
    EXPECT_EQ(net::IpAddr::v4(q + 12), addr("198.18.2.20")) << "quoted source: the backend";
    EXPECT_EQ(get16(q + 20), 8080) << "quoted source port: the backend's";
    EXPECT_EQ(net::IpAddr::v4(q + 16), addr("198.18.1.2"));
    EXPECT_TRUE(ipv4_header_ok(q)) << "quoted header checksum kept right";
    EXPECT_EQ(get16(ip + 2), get16(orig.data() + 16)) << "same length";
    EXPECT_EQ(dp::read(lc().icmp_to_backend), 1u);
}

// ---- encapsulation -----------------------------------------------------------

struct EncapWant {
    bool outer_v6;
    bool gue;
    const char* backend;
    const char* source_prefix;
    uint8_t prefix_len;
    uint16_t gue_port;
    Mac next_hop_mac;
};

void check_encap(rte_mbuf* m, const std::vector<uint8_t>& orig, const EncapWant& w, uint32_t h) {
    const uint32_t inner_len = uint32_t(orig.size() - 14);  // the caller cut any Ethernet padding off `orig`
    const uint32_t over = (w.outer_v6 ? 40 : 20) + (w.gue ? 8 : 0);
    const uint8_t* d = rte_pktmbuf_mtod(m, const uint8_t*);
    EXPECT_EQ(0, std::memcmp(d, w.next_hop_mac.data(), 6)) << "to the next hop's MAC";
    EXPECT_EQ(0, std::memcmp(d + 6, kMac1.data(), 6));
    EXPECT_EQ(get16(d + 12), w.outer_v6 ? 0x86DD : 0x0800) << "ethertype of the outer header";
    EXPECT_EQ(m->data_len, 14 + over + inner_len);
    EXPECT_EQ(m->pkt_len, 14 + over + inner_len);
    const uint8_t* o = d + 14;
    const uint8_t* inner = o + over;
    EXPECT_EQ(0, std::memcmp(inner, orig.data() + 14, inner_len)) << "inner packet untouched";
    const bool inner_v6 = (orig[14] >> 4) == 6;
    net::IpAddr prefix = addr(w.source_prefix), back = addr(w.backend);
    const uint8_t want_proto = w.gue ? 17 : inner_v6 ? 41 : 4;
    const uint32_t l3_payload = (w.gue ? 8 : 0) + inner_len;
    if (!w.outer_v6) {
        EXPECT_EQ(o[0], 0x45);
        EXPECT_EQ(get16(o + 2), 20 + l3_payload);
        EXPECT_EQ(o[8], 64) << "outer TTL";
        EXPECT_EQ(o[9], want_proto);
        EXPECT_TRUE(ipv4_header_ok(o));
        EXPECT_EQ(o[1], inner_v6 ? uint8_t((inner[0] << 4) | (inner[1] >> 4)) : inner[1]) << "TOS copied";
        bool inner_df = inner_v6 || (inner[6] & 0x40);
        EXPECT_EQ(bool(o[6] & 0x40), inner_df) << "DF copied (set for an IPv6 inner)";
        EXPECT_EQ(0, std::memcmp(o + 16, back.bytes.data(), 4)) << "outer destination: the backend";
        uint32_t mask = w.prefix_len == 0 ? 0 : ~0u << (32 - w.prefix_len);
        EXPECT_EQ(get32(o + 12) & mask, get32(prefix.bytes.data()) & mask) << "outer source inside encap_source";
        EXPECT_EQ(get32(o + 12) & ~mask, h & ~mask) << "host bits from the flow hash";
    } else {
        EXPECT_EQ(o[0] >> 4, 6);
        EXPECT_EQ(get16(o + 4), l3_payload);
        EXPECT_EQ(o[6], want_proto);
        EXPECT_EQ(o[7], 64) << "outer hop limit";
        uint8_t tc = uint8_t(((o[0] & 0x0f) << 4) | (o[1] >> 4));
        EXPECT_EQ(tc, inner_v6 ? uint8_t(((inner[0] & 0x0f) << 4) | (inner[1] >> 4)) : inner[1]) << "TOS copied";
        EXPECT_EQ(get32(o) & 0xfffff, h & 0xfffff) << "flow label from the flow hash";
        EXPECT_EQ(0, std::memcmp(o + 24, back.bytes.data(), 16));
        EXPECT_EQ(0, std::memcmp(o + 8, prefix.bytes.data(), w.prefix_len / 8)) << "outer source inside encap_source";
        EXPECT_EQ(get32(o + 8 + 12), h) << "the last 32 bits from the flow hash";
    }
    if (w.gue) {
        const uint8_t* u = o + (w.outer_v6 ? 40 : 20);
        EXPECT_EQ(get16(u + 2), w.gue_port);
        EXPECT_GE(get16(u), 32768);
        EXPECT_EQ(get16(u), uint16_t(0x8000 | ((h ^ (h >> 16)) & 0x7fff)));
        EXPECT_EQ(get16(u + 4), 8 + inner_len);
        if (w.outer_v6) {
            EXPECT_EQ(pseudo_sum(true, o + 8, o + 24, 17, u, 8 + inner_len), 0) << "UDP checksum over IPv6";
        } else {
            EXPECT_EQ(get16(u + 6), 0) << "UDP checksum 0 over IPv4";
        }
    }
}

TEST_F(LbStage, IpipAndGueInBothFamilies) {
    api::Vip ipip4 = make_vip("ipip4", "198.18.100.3", LbProto::tcp, 80, {backend("198.19.5.5")}, LbMode::ipip);
    ipip4.encap_source = {config::parse_prefix("198.18.200.0/24").value()};
    api::Vip ipip6 = make_vip("ipip6", "2001:db8:64::3", LbProto::udp, 53, {backend("2001:db8:100::5")}, LbMode::ipip);
    ipip6.encap_source = {config::parse_prefix("2001:db8:ee::/64").value()};
    api::Vip cross = make_vip("cross", "198.18.100.4", LbProto::udp, 0, {backend("2001:db8:100::5")}, LbMode::ipip);
    cross.encap_source = {config::parse_prefix("2001:db8:ee::/64").value()};
    api::Vip gue4 = make_vip("gue4", "198.18.100.5", LbProto::tcp, 443, {backend("198.18.2.30")}, LbMode::gue);
    gue4.encap_source = {config::parse_prefix("198.18.200.16/28").value()};
    api::Vip gue6 = make_vip("gue6", "2001:db8:64::5", LbProto::tcp, 443, {backend("2001:db8:2::30")}, LbMode::gue);
    gue6.encap_source = {config::parse_prefix("2001:db8:ee::/64").value()};
    gue6.gue_port = 6080;
    ASSERT_NO_FATAL_FAILURE(apply({ipip4, ipip6, cross, gue4, gue6}));

    struct Case {
        const char* what;
        P p;
        EncapWant w;
    };
    std::vector<Case> cases;
    {
        P p;
        p.dst = "198.18.100.3";
        p.df = true;
        p.tos = 0x2e << 2;
        cases.push_back({"IPv4 in IPv4", p, {false, false, "198.19.5.5", "198.18.200.0", 24, 0, kGwMac}});
        P nodf = p;
        nodf.df = false;
        nodf.sport = 40001;
        cases.push_back({"IPv4 in IPv4 without DF", nodf, {false, false, "198.19.5.5", "198.18.200.0", 24, 0, kGwMac}});
    }
    {
        P p;
        p.v6 = true;
        p.src = "2001:db8:1::2";
        p.dst = "2001:db8:64::3";
        p.proto = 17;
        p.dport = 53;
        p.tos = 0xa0;
        cases.push_back({"IPv6 in IPv6", p, {true, false, "2001:db8:100::5", "2001:db8:ee::", 64, 0, kGwMac}});
    }
    {
        P p;
        p.dst = "198.18.100.4";
        p.proto = 17;
        p.dport = 9999;
        p.payload = 0;
        p.pad_to = 60;  // Ethernet padding: cut before the outer length is set
        cases.push_back({"IPv4 in IPv6", p, {true, false, "2001:db8:100::5", "2001:db8:ee::", 64, 0, kGwMac}});
    }
    {
        P p;
        p.dst = "198.18.100.5";
        p.dport = 443;
        p.df = true;
        cases.push_back({"GUE over IPv4", p,
                         {false, true, "198.18.2.30", "198.18.200.16", 28, 9886, backend_mac(addr("198.18.2.30"))}});
    }
    {
        P p;
        p.v6 = true;
        p.src = "2001:db8:1::2";
        p.dst = "2001:db8:64::5";
        p.dport = 443;
        p.payload = 101;
        cases.push_back({"GUE over IPv6", p,
                         {true, true, "2001:db8:2::30", "2001:db8:ee::", 64, 6080,
                          backend_mac(addr("2001:db8:2::30"))}});
    }
    std::vector<rte_mbuf*> ms;
    for (const auto& c : cases) ms.push_back(mb(c.p));
    run(ms);
    for (size_t i = 0; i < cases.size(); ++i) {
        SCOPED_TRACE(cases[i].what);
        ASSERT_EQ(fate(ms[i]).kind, Fate::tx);
        EXPECT_EQ(fate(ms[i]).port, 1);
        auto orig = build(cases[i].p);
        // The inner is the IP packet without the Ethernet padding.
        size_t ip_len = cases[i].p.v6 ? 40 + get16(orig.data() + 18) : get16(orig.data() + 16);
        orig.resize(14 + ip_len);
        check_encap(ms[i], orig, cases[i].w, dp::lb_flow_hash(key_of(cases[i].p)));
    }
}

// The stage finishes a packet in the pass that chooses its backend when the
// inline FIB lookup is there, and queues it for one bulk lookup per family
// when it is not (tables/fib_direct.hpp): both must send the same bytes to
// the same ports, punt and drop the same packets, whatever the mode and
// family, with a backend no route reaches among them.
TEST_F(LbStage, InlineLookupAndBulkFallbackAgree) {
    api::Vip dsr4 = make_vip("dsr4", "198.18.100.1", LbProto::tcp, 80,
                             {backend("198.18.2.10"), backend("198.18.2.11"), backend("198.18.2.12")});
    api::Vip dsr6 = make_vip("dsr6", "2001:db8:64::1", LbProto::udp, 53, {backend("2001:db8:2::10")});
    api::Vip nat4 = make_vip("nat4", "198.18.100.2", LbProto::tcp, 80, {backend("198.18.2.20", 1, 8080)}, LbMode::nat);
    api::Vip ipip4 = make_vip("ipip4", "198.18.100.3", LbProto::tcp, 80, {backend("198.19.5.5")}, LbMode::ipip);
    ipip4.encap_source = {config::parse_prefix("198.18.200.0/24").value()};
    api::Vip cross = make_vip("cross", "198.18.100.4", LbProto::udp, 0, {backend("2001:db8:100::5")}, LbMode::ipip);
    cross.encap_source = {config::parse_prefix("2001:db8:ee::/64").value()};
    api::Vip lost = make_vip("lost", "198.18.100.5", LbProto::tcp, 80, {backend("198.18.77.1")}, LbMode::ipip);
    lost.encap_source = {config::parse_prefix("198.18.200.0/24").value()};
    ASSERT_NO_FATAL_FAILURE(apply({dsr4, dsr6, nat4, ipip4, cross, lost}));
    ASSERT_NE(root().hot.fib4d.tbl24, nullptr);
    ASSERT_NE(root().hot.fib6d.tbl24, nullptr);
    std::vector<P> ps;
    for (uint16_t i = 0; i < 4; ++i) {
        for (const char* d : {"198.18.100.1", "198.18.100.2", "198.18.100.3", "198.18.100.5"}) {
            P p;
            p.dst = d;
            p.sport = uint16_t(40000 + i);
            ps.push_back(p);
        }
        P c;
        c.dst = "198.18.100.4";
        c.proto = 17;
        c.dport = 9000;
        c.sport = uint16_t(41000 + i);
        ps.push_back(c);
        P q;
        q.v6 = true;
        q.src = "2001:db8:1::2";
        q.dst = "2001:db8:64::1";
        q.proto = 17;
        q.sport = uint16_t(1000 + i);
        q.dport = 53;
        ps.push_back(q);
    }
    struct Outcome {
        std::vector<std::vector<uint8_t>> tx[2];
        std::vector<uint32_t> punts;
        uint16_t drops = 0;
    };
    auto outcome = [&](const dp::Root& r) {
        release();
        w_ = std::make_unique<dp::LbWorker>(4096);  // the same empty flow table for both
        w_->now_ns = 5'000'000'000ull;
        w_->now_ms = 5000;
        std::vector<rte_mbuf*> ms;
        for (const auto& p : ps) ms.push_back(mb(p));
        dp::forward_burst(r, *nbrs_, ms.data(), uint16_t(ms.size()), *res_, *counters_, w_.get());
        Outcome o;
        for (uint16_t p = 0; p < 2; ++p)
            for (uint16_t k = 0; k < res_->tx_count[p]; ++k) {
                const uint8_t* d = rte_pktmbuf_mtod(res_->tx[p][k], const uint8_t*);
                o.tx[p].emplace_back(d, d + res_->tx[p][k]->data_len);
            }
        for (uint16_t k = 0; k < res_->n_punt; ++k)
            o.punts.push_back(uint32_t(dp::punt_of(res_->punt[k])) << 24 | dp::punt_payload(res_->punt[k]));
        o.drops = res_->n_drop;
        return o;
    };
    const uint64_t unreachable = drops(DropReason::lb_backend_unreachable);
    Outcome inline_answer = outcome(root());
    EXPECT_EQ(drops(DropReason::lb_backend_unreachable), unreachable + 4) << "the backend without a route";
    dp::Root bulk = root();
    bulk.hot.fib4d = {};
    bulk.hot.fib6d = {};
    Outcome bulk_answer = outcome(bulk);
    EXPECT_EQ(drops(DropReason::lb_backend_unreachable), unreachable + 8);
    EXPECT_EQ(inline_answer.tx[1].size(), 20u) << "DSR, NAT, IPIP and IPv4 in IPv6 to p1: " << dropped_as();
    EXPECT_EQ(inline_answer.drops, 4u);
    EXPECT_TRUE(inline_answer.punts.empty());
    // The order within a port may differ (the fallback finishes IPv4 backends
    // before IPv6 ones); the bytes may not.
    for (auto* o : {&inline_answer, &bulk_answer})
        for (auto& v : o->tx) std::sort(v.begin(), v.end());
    for (uint16_t p = 0; p < 2; ++p) EXPECT_EQ(inline_answer.tx[p], bulk_answer.tx[p]) << "port " << p;
    EXPECT_EQ(inline_answer.punts, bulk_answer.punts);
    EXPECT_EQ(inline_answer.drops, bulk_answer.drops);
}

TEST_F(LbStage, EncapsulationAboveTheMtu) {
    api::Vip ipip4 = make_vip("ipip4", "198.18.100.3", LbProto::tcp, 80, {backend("198.19.5.5")}, LbMode::ipip);
    ipip4.encap_source = {config::parse_prefix("198.18.200.0/24").value()};
    api::Vip gue6 = make_vip("gue6", "2001:db8:64::5", LbProto::udp, 443, {backend("2001:db8:2::30")}, LbMode::gue);
    gue6.encap_source = {config::parse_prefix("2001:db8:ee::/64").value()};
    ASSERT_NO_FATAL_FAILURE(apply({ipip4, gue6}));
    // Port MTU 1500: IPIP over IPv4 leaves 1480, GUE over IPv6 1452.
    P fits;
    fits.dst = "198.18.100.3";
    fits.df = true;
    fits.payload = 1480 - 40;
    P big_df = fits;
    big_df.payload += 1;
    big_df.sport = 40001;
    P big = big_df;
    big.df = false;
    big.sport = 40002;
    P fits6;
    fits6.v6 = true;
    fits6.src = "2001:db8:1::2";
    fits6.dst = "2001:db8:64::5";
    fits6.proto = 17;
    fits6.dport = 443;
    fits6.payload = 1452 - 48;
    P big6 = fits6;
    big6.payload += 1;
    big6.sport = 41000;
    rte_mbuf *m_fits = mb(fits), *m_big_df = mb(big_df), *m_big = mb(big), *m_fits6 = mb(fits6), *m_big6 = mb(big6);
    uint64_t too_big = drops(DropReason::lb_too_big);
    run({m_fits, m_big_df, m_big, m_fits6, m_big6});
    EXPECT_EQ(fate(m_fits).kind, Fate::tx) << "exactly the MTU after the headers";
    EXPECT_EQ(m_fits->pkt_len, 14u + 1500u);
    EXPECT_EQ(fate(m_fits6).kind, Fate::tx);
    EXPECT_EQ(m_fits6->pkt_len, 14u + 1500u);
    Fate f = fate(m_big_df);
    ASSERT_EQ(f.kind, Fate::punt);
    EXPECT_EQ(f.why, Punt::lb_too_big);
    EXPECT_EQ(f.payload, 1500u - 20u) << "the MTU to report: egress MTU - IPIP's 20 bytes (docs/lb.md, MTU)";
    f = fate(m_big6);
    ASSERT_EQ(f.kind, Fate::punt);
    EXPECT_EQ(f.why, Punt::lb_too_big);
    EXPECT_EQ(f.payload, 1500u - 48u) << "the MTU to report: egress MTU - GUE over IPv6's 48 bytes";
    EXPECT_EQ(fate(m_big).kind, Fate::drop) << "IPv4 without DF: the balancer does not fragment";
    EXPECT_EQ(drops(DropReason::lb_too_big), too_big + 1);
    EXPECT_EQ(m_big_df->pkt_len, 14u + 1481u) << "punted packets are not encapsulated";
}

// ---- flow tracking -------------------------------------------------------------

class LbFlows : public LbStage {
protected:
    void SetUp() override {
        LbStage::SetUp();
        for (int i = 0; i < 8; ++i) v_.backends.push_back(backend(("198.18.2." + std::to_string(40 + i)).c_str()));
        v_.name = "flows";
        v_.key = {addr("198.18.100.6"), LbProto::tcp, 80};
        v_.table_size = 251;
        ASSERT_NO_FATAL_FAILURE(apply({v_}));
    }
    P flow(uint16_t i, uint8_t flags = 0x10) const {
        P p;
        p.dst = "198.18.100.6";
        p.sport = uint16_t(41000 + i);
        p.tcp_flags = flags;
        return p;
    }
    // Sends flows [from, from + n) in one burst; where each went (DSR: by MAC).
    std::vector<std::string> send_flows(uint16_t from, uint16_t n, uint8_t flags = 0x10) {
        std::vector<rte_mbuf*> ms;
        for (uint16_t i = 0; i < n; ++i) ms.push_back(mb(flow(uint16_t(from + i), flags)));
        run(ms);
        std::vector<std::string> out;
        for (rte_mbuf* m : ms) out.push_back(fate(m).kind == Fate::drop ? "dropped" : dsr_backend(m));
        return out;
    }
    std::string maglev_name(uint16_t i) const { return backend_name(maglev(vip_of(v_), key_of(flow(i)))); }
    void set_backend(const std::string& a, BackendState st, uint32_t weight = 1) {
        for (auto& b : v_.backends)
            if (b.address == addr(a)) {
                b.state = st;
                b.weight = weight;
            }
        apply({v_});
    }
    api::Vip v_;
};

TEST_F(LbFlows, FirstPacketInsertsAndLaterPacketsFollowIt) {
    const uint32_t vs = vip_of(v_);
    auto got = send_flows(0, 1, 0x02);
    EXPECT_EQ(got[0], maglev_name(0));
    EXPECT_EQ(w_->flows.live(vs), 1u);
    EXPECT_EQ(dp::read(lc().vip[vs].new_flows), 1u);
    uint32_t b = backend_slot(got[0]);
    EXPECT_EQ(dp::read(lc().backend[b].new_flows), 1u);
    EXPECT_EQ(dp::read(lc().vip[vs].packets), 1u);
    EXPECT_EQ(dp::read(lc().backend[b].packets), 1u);
    EXPECT_EQ(w_->flows.live_backend(b), 1u);
    got = send_flows(0, 1);
    EXPECT_EQ(w_->flows.live(vs), 1u) << "the same flow, not a new one";
    EXPECT_EQ(dp::read(lc().vip[vs].new_flows), 1u);
    EXPECT_EQ(dp::read(lc().vip[vs].packets), 2u);
    EXPECT_GT(dp::read(lc().vip[vs].bytes), 0u);
}

TEST_F(LbFlows, TrackedFlowsSurviveAReloadThatMovesMaglev) {
    const uint32_t vs = vip_of(v_);
    constexpr uint16_t kN = 96;
    auto first = send_flows(0, kN, 0x02);
    for (uint16_t i = 0; i < kN; ++i) ASSERT_EQ(first[i], maglev_name(i)) << i;
    EXPECT_EQ(w_->flows.live(vs), kN);

    // .47 removed, .40 and .41 reweighted, one backend added.
    v_.backends.pop_back();
    v_.backends[0].weight = 10;
    v_.backends[1].weight = 3;
    v_.backends.push_back(backend("198.18.2.48"));
    ASSERT_NO_FATAL_FAILURE(apply({v_}));
    size_t moved = 0, orphans = 0;
    for (uint16_t i = 0; i < kN; ++i) {
        if (first[i] == "198.18.2.47") {
            ++orphans;
        } else if (maglev_name(i) != first[i]) {
            ++moved;
        }
    }
    ASSERT_GT(moved, 10u) << "the change moves Maglev's choice for many flows";
    ASSERT_GT(orphans, 0u);

    auto again = send_flows(0, kN);
    for (uint16_t i = 0; i < kN; ++i) {
        SCOPED_TRACE(i);
        if (first[i] == "198.18.2.47") {
            EXPECT_EQ(again[i], maglev_name(i)) << "removed backend: rescheduled to Maglev's choice";
        } else {
            EXPECT_EQ(again[i], first[i]) << "tracked flows keep their backend";
        }
    }
    EXPECT_EQ(dp::read(lc().rescheduled), orphans);
    EXPECT_EQ(w_->flows.live(vs), kN);
    EXPECT_EQ(dp::read(lc().vip[vs].new_flows), kN) << "no flow counted new twice";
    // Rescheduled entries were updated: the same again.
    EXPECT_EQ(send_flows(0, kN), again);
    EXPECT_EQ(dp::read(lc().rescheduled), orphans);
}

TEST_F(LbFlows, DrainKeepsTrackedFlowsDownReschedulesThem) {
    auto first = send_flows(0, 32, 0x02);
    const std::string x = first[0];
    std::vector<uint16_t> on_x;
    for (uint16_t i = 0; i < 32; ++i)
        if (first[i] == x) on_x.push_back(i);

    ASSERT_NO_FATAL_FAILURE(set_backend(x, BackendState::drain));
    auto drained = send_flows(0, 32);
    EXPECT_EQ(drained, first) << "drain: tracked flows stay";
    auto fresh = send_flows(1000, 64, 0x02);
    for (const auto& b : fresh) EXPECT_NE(b, x) << "a drained backend takes no new flow";

    ASSERT_NO_FATAL_FAILURE(set_backend(x, BackendState::down));
    auto down = send_flows(0, 32);
    for (uint16_t i = 0; i < 32; ++i) {
        if (first[i] == x) {
            EXPECT_NE(down[i], x) << i;
            EXPECT_EQ(down[i], maglev_name(i)) << i;
        } else {
            EXPECT_EQ(down[i], first[i]) << i;
        }
    }
    EXPECT_EQ(dp::read(lc().rescheduled), on_x.size());
    // The entries were moved: x coming back up does not take them back.
    ASSERT_NO_FATAL_FAILURE(set_backend(x, BackendState::up));
    EXPECT_EQ(send_flows(0, 32), down);
}

TEST_F(LbFlows, OnBackendDownDropExceptSyn) {
    v_.on_down = api::DownRule::drop;
    ASSERT_NO_FATAL_FAILURE(apply({v_}));
    auto first = send_flows(0, 32, 0x02);
    const std::string x = first[0];
    ASSERT_NO_FATAL_FAILURE(set_backend(x, BackendState::down));
    uint64_t before = drops(DropReason::lb_backend_down);
    auto acks = send_flows(0, 32);
    size_t on_x = 0;
    for (uint16_t i = 0; i < 32; ++i) {
        if (first[i] == x) {
            ++on_x;
            EXPECT_EQ(acks[i], "dropped") << i;
        } else {
            EXPECT_EQ(acks[i], first[i]) << i;
        }
    }
    EXPECT_EQ(drops(DropReason::lb_backend_down), before + on_x);
    // A SYN starts a new connection: rescheduled, and the entry follows.
    auto syn = send_flows(0, 1, 0x02);
    EXPECT_EQ(syn[0], maglev_name(0));
    EXPECT_NE(syn[0], x);
    EXPECT_EQ(send_flows(0, 1)[0], syn[0]) << "later packets follow the new entry";
    EXPECT_EQ(drops(DropReason::lb_backend_down), before + on_x);

    // A removed backend counts as down.
    auto f2 = send_flows(100, 32, 0x02);
    std::string y = f2[0];
    for (auto it = v_.backends.begin(); it != v_.backends.end(); ++it)
        if (it->address == addr(y)) {
            v_.backends.erase(it);
            break;
        }
    ASSERT_NO_FATAL_FAILURE(apply({v_}));
    before = drops(DropReason::lb_backend_down);
    EXPECT_EQ(send_flows(100, 1)[0], "dropped");
    EXPECT_EQ(drops(DropReason::lb_backend_down), before + 1);
}

TEST_F(LbFlows, AllBackendsDrainedDropsNewFlowsOnly) {
    auto first = send_flows(0, 4, 0x02);
    for (auto& b : v_.backends) b.state = BackendState::drain;
    ASSERT_NO_FATAL_FAILURE(apply({v_}));
    EXPECT_EQ(send_flows(0, 4), first) << "tracked flows stay with their drained backends";
    uint64_t before = drops(DropReason::lb_no_backend);
    auto fresh = send_flows(500, 8, 0x02);
    for (const auto& b : fresh) EXPECT_EQ(b, "dropped");
    EXPECT_EQ(drops(DropReason::lb_no_backend), before + 8);
}

TEST_F(LbFlows, NewFlowGuardBalancesWithoutTracking) {
    api::LbSettings s = env_->builder->lb();
    s.new_flow_rate = 1;
    s.new_flow_burst = 4;
    ASSERT_NO_FATAL_FAILURE(apply({}, {}, s));
    // What the worker's poll loop does when the settings change (worker.cpp).
    w_->guard.configure(root().lb_settings->new_flow_rate, root().lb_settings->new_flow_burst);
    const uint32_t vs = vip_of(v_);
    auto got = send_flows(0, 20, 0x02);
    for (uint16_t i = 0; i < 20; ++i) EXPECT_EQ(got[i], maglev_name(i)) << "still Maglev's backend: " << i;
    EXPECT_EQ(w_->flows.live(vs), 4u) << "the burst's worth inserted";
    EXPECT_EQ(dp::read(lc().untracked), 16u);
    EXPECT_EQ(dp::read(lc().vip[vs].new_flows), 4u);
    EXPECT_EQ(dp::read(lc().vip[vs].packets), 20u);
    // Time passes: one more token per second.
    w_->now_ns += 1'000'000'000ull;
    w_->now_ms += 1000;
    send_flows(100, 3, 0x02);
    EXPECT_EQ(w_->flows.live(vs), 5u);
    EXPECT_EQ(dp::read(lc().untracked), 18u);
}

TEST_F(LbFlows, TooBigAboutATrackedFlowGoesToItsBackend) {
    auto first = send_flows(0, 16, 0x02);
    const std::string x = first[0];
    // Drained: Maglev now gives another backend for flow 0, the table still x.
    ASSERT_NO_FATAL_FAILURE(set_backend(x, BackendState::drain));
    ASSERT_NE(maglev_name(0), x);
    const uint32_t vs = vip_of(v_);
    const uint64_t live = w_->flows.live(vs);
    P icmp = too_big(false, "198.18.100.6", 80, "198.18.1.2", flow(0).sport);
    auto orig = build(icmp);
    rte_mbuf* m = send(icmp);
    ASSERT_EQ(fate(m).kind, Fate::tx);
    EXPECT_EQ(dsr_backend(m), x) << "the tracked flow's backend";
    EXPECT_EQ(0, std::memcmp(l3(m), orig.data() + 14, orig.size() - 14)) << "DSR: the ICMP packet untouched";
    EXPECT_EQ(dp::read(lc().icmp_to_backend), 1u);
    // About a flow this worker never saw: Maglev's backend, not inserted.
    P icmp2 = too_big(false, "198.18.100.6", 80, "198.18.1.2", 50000);
    P flow2 = flow(0);
    flow2.sport = 50000;
    rte_mbuf* m2 = send(icmp2);
    ASSERT_EQ(fate(m2).kind, Fate::tx);
    EXPECT_EQ(dsr_backend(m2), backend_name(maglev(vs, key_of(flow2))));
    EXPECT_EQ(w_->flows.live(vs), live) << "an ICMP error never inserts";
    EXPECT_EQ(dp::read(lc().icmp_to_backend), 2u);
}

// A too-big about a tracked flow whose backend is down, when the VIP has no
// backend up at all: Maglev gives none, so there is nowhere to deliver it
// (dropped as lb_no_backend, like a new flow). Run in a child process: what
// this guards against is a write far out of the counters' bounds, which
// would take the whole test binary down.
TEST_F(LbFlows, TooBigAboutADownBackendsFlowWithNoBackendLeft) {
    auto first = send_flows(0, 1, 0x02);
    for (auto& b : v_.backends) b.state = BackendState::down;
    ASSERT_NO_FATAL_FAILURE(apply({v_}));
    P icmp = too_big(false, "198.18.100.6", 80, "198.18.1.2", flow(0).sport);
    // Once crashed the worker (an out-of-range backend counter): dropped.
    const uint64_t before = drops(DropReason::lb_no_backend);
    rte_mbuf* m = send(icmp);
    EXPECT_EQ(fate(m).kind, Fate::drop);
    EXPECT_EQ(drops(DropReason::lb_no_backend), before + 1);
}

// ---- /sluice/lb/which -------------------------------------------------------------

TEST_F(LbFlows, WhichAnswersTrackedAndMaglev) {
    auto first = send_flows(0, 16, 0x02);
    const std::string x = first[0];
    ASSERT_NO_FATAL_FAILURE(set_backend(x, BackendState::drain));
    const uint32_t vs = vip_of(v_);
    auto ask = [&](const lb::FlowKey& k) {
        dp::WhichQuery q;
        q.key = k;
        w_->query.store(&q);
        dp::lb_answer_query(root(), *w_);
        EXPECT_EQ(w_->answered.load(), &q);
        EXPECT_EQ(w_->query.load(), nullptr);
        return q;
    };
    // Tracked, and Maglev would now say otherwise.
    dp::WhichQuery q = ask(key_of(flow(0)));
    EXPECT_TRUE(q.matched);
    EXPECT_EQ(q.vip, vs);
    EXPECT_EQ(q.maglev_backend, maglev(vs, key_of(flow(0))));
    EXPECT_NE(q.maglev_backend, backend_slot(x));
    EXPECT_EQ(q.tracked_backend, backend_slot(x));
    EXPECT_EQ(q.chosen, backend_slot(x));
    EXPECT_STREQ(q.reason, "tracked flow");
    uint32_t h = dp::lb_flow_hash(key_of(flow(0)));
    EXPECT_EQ(q.maglev_slot, uint32_t((uint64_t(h) * 251) >> 32));
    // Not tracked.
    P other = flow(0);
    other.sport = 60000;
    q = ask(key_of(other));
    EXPECT_TRUE(q.matched);
    EXPECT_EQ(q.tracked_backend, kNone);
    EXPECT_EQ(q.chosen, maglev(vs, key_of(other)));
    EXPECT_EQ(q.maglev_backend, q.chosen);
    EXPECT_STREQ(q.reason, "Maglev");
    EXPECT_EQ(w_->flows.live(vs), 16u) << "asking inserts nothing";
    // Another port of the VIP address, another address.
    P wrong = flow(0);
    wrong.dport = 81;
    q = ask(key_of(wrong));
    EXPECT_FALSE(q.matched);
    EXPECT_STREQ(q.reason, "no VIP serves this protocol and port");
    P nowhere = flow(0);
    nowhere.dst = "198.19.1.1";
    q = ask(key_of(nowhere));
    EXPECT_FALSE(q.matched);
    EXPECT_STREQ(q.reason, "not a VIP address");
    // Down with reschedule: where Maglev says.
    ASSERT_NO_FATAL_FAILURE(set_backend(x, BackendState::down));
    q = ask(key_of(flow(0)));
    EXPECT_EQ(q.tracked_backend, backend_slot(x));
    EXPECT_EQ(q.chosen, maglev(vs, key_of(flow(0))));
    // Down with drop: nowhere, as the packet would be dropped.
    v_.on_down = api::DownRule::drop;
    ASSERT_NO_FATAL_FAILURE(apply({v_}));
    q = ask(key_of(flow(0)));
    EXPECT_EQ(q.chosen, kNone);
    EXPECT_EQ(q.tracked_backend, backend_slot(x));
    // No question: nothing answered.
    w_->answered.store(nullptr);
    dp::lb_answer_query(root(), *w_);
    EXPECT_EQ(w_->answered.load(), nullptr);
}

// A tracked flow whose backend was removed (not only set down) is dropped
// under on_backend_down: drop; /sluice/lb/which must say where a packet
// would go now, i.e. nowhere.
TEST_F(LbFlows, WhichAgreesWithTheDataPlaneForARemovedBackend) {
    v_.on_down = api::DownRule::drop;
    ASSERT_NO_FATAL_FAILURE(apply({v_}));
    auto first = send_flows(0, 1, 0x02);
    const std::string x = first[0];
    for (auto it = v_.backends.begin(); it != v_.backends.end(); ++it)
        if (it->address == addr(x)) {
            v_.backends.erase(it);
            break;
        }
    ASSERT_NO_FATAL_FAILURE(apply({v_}));
    dp::WhichQuery q;
    q.key = key_of(flow(0));
    w_->query.store(&q);
    dp::lb_answer_query(root(), *w_);
    ASSERT_EQ(w_->answered.load(), &q);
    uint64_t before = drops(DropReason::lb_backend_down);
    EXPECT_EQ(send_flows(0, 1)[0], "dropped") << "the data plane drops it";
    EXPECT_EQ(drops(DropReason::lb_backend_down), before + 1);
    EXPECT_EQ(q.chosen, kNone) << "which says " << backend_name(q.chosen) << " (" << q.reason
                               << ") for a packet the data plane drops";
}

// ---- malformed and unusual VIP traffic --------------------------------------------

class LbOdd : public LbStage {
protected:
    void SetUp() override {
        LbStage::SetUp();
        std::vector<api::Backend> four = {backend("198.18.2.60"), backend("198.18.2.61"), backend("198.18.2.62"),
                                          backend("198.18.2.63")};
        t80_ = make_vip("t80", "198.18.100.7", LbProto::tcp, 80, four);
        t443_ = make_vip("t443", "198.18.100.7", LbProto::tcp, 443, four);
        u53_ = make_vip("u53", "198.18.100.7", LbProto::udp, 53, four);
        u6_ = make_vip("u6", "2001:db8:64::7", LbProto::udp, 53,
                       {backend("2001:db8:2::60"), backend("2001:db8:2::61"), backend("2001:db8:2::62")});
        ASSERT_NO_FATAL_FAILURE(apply({t80_, t443_, u53_, u6_}));
    }
    P to(uint8_t proto, uint16_t dport) const {
        P p;
        p.dst = "198.18.100.7";
        p.proto = proto;
        p.dport = dport;
        return p;
    }
    api::Vip t80_, t443_, u53_, u6_;
};

TEST_F(LbOdd, DropsWithTheirReasons) {
    struct Case {
        const char* what;
        P p;
        DropReason why;
    };
    std::vector<Case> cases;
    {
        P p = to(6, 80);
        p.raw = true;
        p.l4.assign(19, 0);
        put16(&p.l4[2], 80);
        cases.push_back({"TCP with 19 L4 bytes", p, DropReason::lb_l4_truncated});
        P u = to(17, 53);
        u.raw = true;
        u.l4.assign(7, 0);
        put16(&u.l4[2], 53);
        cases.push_back({"UDP with 7 L4 bytes", u, DropReason::lb_l4_truncated});
        P gre = to(47, 0);
        gre.raw = true;
        gre.l4.assign(24, 0);
        cases.push_back({"GRE", gre, DropReason::lb_no_vip_port});
        cases.push_back({"TCP to a port no VIP serves", to(6, 8080), DropReason::lb_no_vip_port});
        cases.push_back({"UDP to a port no VIP serves", to(17, 54), DropReason::lb_no_vip_port});
        P frag = to(6, 80);
        frag.frag = 185;
        frag.payload = 40;
        cases.push_back({"non-first TCP fragment, two TCP port VIPs", frag, DropReason::lb_fragment});
        P unreach = too_big(false, "198.18.100.7", 80, "198.18.1.2", 40000, 6, 3, 1);
        cases.push_back({"ICMP host unreachable", unreach, DropReason::lb_icmp_unsupported});
        P ts;
        ts.dst = "198.18.100.7";
        ts.proto = 1;
        ts.raw = true;
        ts.l4.assign(20, 0);
        ts.l4[0] = 13;  // timestamp
        cases.push_back({"ICMP timestamp", ts, DropReason::lb_icmp_unsupported});
        P stranger = too_big(false, "198.18.100.7", 80, "198.18.1.2", 40000);
        stranger.l4[8 + 12] ^= 1;  // the quote's source is not this VIP (quoted checksum left as is)
        cases.push_back({"too-big quoting another source", stranger, DropReason::lb_icmp_unsupported});
        P tb6 = too_big(true, "2001:db8:64::7", 53, "2001:db8:1::2", 1000, 17, 1, 0);  // ICMPv6 dest unreachable
        cases.push_back({"ICMPv6 destination unreachable", tb6, DropReason::lb_icmp_unsupported});
    }
    // One at a time (the reason is per packet), then all in one burst.
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        uint64_t before = drops(c.why);
        rte_mbuf* m = send(c.p);
        expect_dropped(m, c.why, before);
    }
    std::vector<rte_mbuf*> ms;
    std::map<DropReason, uint64_t> want;
    for (const auto& c : cases) {
        ms.push_back(mb(c.p));
        ++want[c.why];
    }
    std::map<DropReason, uint64_t> before;
    for (const auto& [r, n] : want) before[r] = drops(r);
    run(ms);
    EXPECT_EQ(res_->n_drop, cases.size());
    for (const auto& [r, n] : want) EXPECT_EQ(drops(r), before[r] + n) << dp::name_of(r);
}

TEST_F(LbOdd, FragmentsGoTogetherAndAreNotTracked) {
    for (bool v6 : {false, true}) {
        SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
        const api::Vip& v = v6 ? u6_ : u53_;
        const uint32_t vs = vip_of(v);
        std::set<std::string> targets;
        for (uint16_t c = 0; c < 6; ++c) {  // six clients' datagrams
            P first;
            first.v6 = v6;
            first.src = v6 ? "2001:db8:1::" + std::to_string(10 + c) : "198.18.1." + std::to_string(10 + c);
            first.dst = v6 ? "2001:db8:64::7" : "198.18.100.7";
            first.proto = 17;
            first.sport = uint16_t(5000 + c);
            first.dport = 53;
            first.frag = 0;
            first.mf = true;
            first.payload = 24;
            P second = first;
            second.frag = 4;
            second.mf = false;
            second.payload = 16;
            auto o1 = build(first), o2 = build(second);
            rte_mbuf* m1 = mb(first);
            rte_mbuf* m2 = mb(second);
            run({m1, m2});
            ASSERT_EQ(fate(m1).kind, Fate::tx) << "first fragment: " << dropped_as();
            ASSERT_EQ(fate(m2).kind, Fate::tx) << "non-first fragment: " << dropped_as();
            EXPECT_EQ(dsr_backend(m1), dsr_backend(m2)) << "both fragments to one backend";
            lb::FlowKey k = key_of(first);
            k.sport = k.dport = 0;  // addresses and protocol only
            EXPECT_EQ(dsr_backend(m1), backend_name(maglev(vs, k)));
            targets.insert(dsr_backend(m1));
            EXPECT_EQ(0, std::memcmp(l3(m1), o1.data() + 14, o1.size() - 14));
            EXPECT_EQ(0, std::memcmp(l3(m2), o2.data() + 14, o2.size() - 14));
        }
        EXPECT_EQ(w_->flows.live(vs), 0u) << "fragments are not tracked";
        EXPECT_GE(targets.size(), 2u) << "but still balanced";
    }
}

TEST_F(LbOdd, AckForAnUnknownFlowIsBalancedAndTracked) {
    const uint32_t vs = vip_of(t80_);
    P p = to(6, 80);
    p.tcp_flags = 0x10;
    rte_mbuf* m = send(p);
    ASSERT_EQ(fate(m).kind, Fate::tx);
    EXPECT_EQ(dsr_backend(m), backend_name(maglev(vs, key_of(p))));
    EXPECT_EQ(w_->flows.live(vs), 1u);
    EXPECT_EQ(dp::read(lc().vip[vs].new_flows), 1u);
}

TEST_F(LbOdd, EchoToAVipIsPuntedForTheAgent) {
    P e4;
    e4.dst = "198.18.100.7";
    e4.proto = 1;
    e4.raw = true;
    e4.l4 = {8, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g'};
    P e6;
    e6.v6 = true;
    e6.src = "2001:db8:1::2";
    e6.dst = "2001:db8:64::7";
    e6.proto = 58;
    e6.raw = true;
    e6.l4 = {128, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g'};
    rte_mbuf* m4 = mb(e4);
    rte_mbuf* m6 = mb(e6);
    run({m4, m6});
    for (rte_mbuf* m : {m4, m6}) {
        Fate f = fate(m);
        ASSERT_EQ(f.kind, Fate::punt);
        EXPECT_EQ(f.why, Punt::vip_echo);
    }
    // Whatever the backends' state.
    for (auto& b : u53_.backends) b.state = BackendState::down;
    ASSERT_NO_FATAL_FAILURE(apply({u53_}));
    rte_mbuf* m = send(e4);
    EXPECT_EQ(fate(m).why, Punt::vip_echo);
}

TEST_F(LbOdd, MixedBurstIsAccountedFor) {
    std::vector<P> ps;
    for (uint16_t i = 0; i < 40; ++i) {
        P p = to(6, i % 2 ? 80 : 443);
        p.sport = uint16_t(30000 + i);
        ps.push_back(p);
    }
    ps.push_back(to(6, 8080));  // drop
    ps.push_back(to(47, 0));    // drop
    P echo;
    echo.dst = "198.18.100.7";
    echo.proto = 1;
    echo.raw = true;
    echo.l4 = {8, 0, 0, 0, 0, 1, 0, 1};
    ps.push_back(echo);  // punt
    P routed;
    routed.dst = "198.19.1.1";  // not a VIP: routed through the gateway
    routed.proto = 17;
    ps.push_back(routed);
    P unresolved;  // a VIP on an unresolved backend: punted
    api::Vip lone = make_vip("lone", "198.18.100.8", LbProto::udp, 0, {backend("198.18.2.99")});
    api::Batch b;
    b.vips = {{api::VipUpdate::Op::set, lone}};
    ASSERT_TRUE(env_->builder->apply(b).applied);
    unresolved.dst = "198.18.100.8";
    unresolved.proto = 17;
    ps.push_back(unresolved);
    std::vector<rte_mbuf*> ms;
    for (const auto& p : ps) ms.push_back(mb(p));
    uint64_t d0 = 0;
    for (size_t r = 0; r < dp::kDropReasonCount; ++r) d0 += dp::read(counters_->drops[r]);
    run(ms);
    size_t tx = 0;
    for (uint16_t i = 0; i < res_->n_ports_used; ++i) tx += res_->tx_count[res_->ports_used[i]];
    EXPECT_EQ(tx, 41u);
    EXPECT_EQ(res_->n_punt, 2);
    EXPECT_EQ(res_->n_drop, 2);
    uint64_t d1 = 0;
    for (size_t r = 0; r < dp::kDropReasonCount; ++r) d1 += dp::read(counters_->drops[r]);
    EXPECT_EQ(d1 - d0, res_->n_drop) << "every drop counted under one reason";
    EXPECT_EQ(fate(ms[43]).port, 1);
    EXPECT_EQ(fate(ms[44]).why, Punt::lb_neighbor);
}

}  // namespace
}  // namespace sluice::test
