// forward_burst over hand-built frames: every decision the worker makes
// (forward, punt with a reason, drop with a reason), checked on the bytes.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "config/load.hpp"
#include "dataplane/pkt/checksum.hpp"
#include "dataplane/worker/burst_ops.hpp"
#include "dataplane/worker/forward.hpp"
#include "dataplane/worker/punt.hpp"
#include "tests/unit/dataplane/frames.hpp"
#include "tests/unit/dataplane/tables_env.hpp"

namespace sluice::test {
namespace {

using dp::DropReason;
using dp::Punt;

class Forward : public ::testing::Test {
protected:
    void SetUp() override {
        pool_ = rte_pktmbuf_pool_create(("fwd" + std::to_string(counter_++)).c_str(), 1023, 0, 0,
                                        RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
        ASSERT_NE(pool_, nullptr);
        env_ = std::make_unique<TablesEnv>();
        std::string err = env_->load(lab_config());
        ASSERT_EQ(err, "");
        nbrs_ = env_->nbrs.get();
        res_ = std::make_unique<dp::BurstResult>();
        counters_ = std::make_unique<dp::CoreCounters>();
    }
    void TearDown() override {
        env_.reset();
        rte_mempool_free(pool_);
    }

    void resolve(const char* ip, uint16_t port, const Mac& mac) {
        auto a = config::parse_ip(ip);
        uint32_t slot = nbrs_->insert(a->is_v4() ? dp::NeighborKey::v4(port, a->bytes.data())
                                                 : dp::NeighborKey::v6addr(port, a->bytes.data()));
        ASSERT_NE(slot, dp::kNoNeighbor);
        nbrs_->set_mac(slot, mac);
    }

    // Neighbors for the frames of every_kind().
    void resolve_every_kind() {
        resolve("198.18.2.2", 1, kHostB);
        resolve("2001:db8:2::2", 1, kHostB);
        resolve("198.18.1.2", 0, kHostA);
    }
    // A frame of every kind of fate (forwarded both ways and families,
    // punted for each reason, dropped for many), with the port it arrives on.
    struct Kind {
        std::vector<uint8_t> frame;
        uint16_t port;
    };
    static std::vector<Kind> every_kind() {
        Ip4Spec gw;
        gw.dst = "198.19.1.1";          // via the gateway 198.18.2.2
        Ip4Spec back;
        back.src = "198.18.2.2";
        back.dst = "198.18.1.2";
        back.dst_mac = kMac1;
        Ip4Spec unresolved;
        unresolved.dst = "198.18.2.77";  // on-link, no neighbor: punted
        Ip4Spec noroute;
        noroute.dst = "198.20.0.1";
        Ip4Spec ttl1;
        ttl1.ttl = 1;
        Ip4Spec local;
        local.dst = "198.18.1.1";
        Ip4Spec mcast;
        mcast.dst = "224.0.0.5";
        Ip6Spec noroute6;
        noroute6.dst = "2001:db8:ffff::1";
        Ip6Spec hl1;
        hl1.hop_limit = 1;
        Ip6Spec unresolved6;
        unresolved6.dst = "2001:db8:2::77";
        Ip6Spec site6;
        site6.dst = "ff05::1";
        auto bad_csum = ipv4_udp({});
        bad_csum[14 + 10] ^= 0xff;
        auto not_us = ipv4_udp({});
        not_us[0] = 0x02;
        not_us[5] = 0x99;
        auto vlan = ipv4_udp({});
        vlan[12] = 0x81;
        vlan[13] = 0x00;
        auto v6_bad_len = ipv6_udp({});
        v6_bad_len[14 + 4] = 0x10;
        return {
            {ipv4_udp({}), 0},
            {ipv4_udp(gw), 0},
            {ipv4_udp(back), 1},
            {ipv6_udp({}), 0},
            {ipv4_udp(unresolved), 0},
            {ipv6_udp(unresolved6), 0},
            {ipv4_udp(noroute), 0},
            {ipv4_udp(ttl1), 0},
            {ipv4_udp(local), 0},
            {ipv6_udp(noroute6), 0},
            {ipv6_udp(hl1), 0},
            {arp_request("198.18.1.2", "198.18.1.1"), 0},
            {ipv4_udp(mcast), 0},
            {ipv6_udp(site6), 0},
            {bad_csum, 0},
            {not_us, 0},
            {vlan, 0},
            {std::vector<uint8_t>(bad_csum.begin(), bad_csum.begin() + 10), 0},
            {std::vector<uint8_t>(bad_csum.begin(), bad_csum.begin() + 14 + 12), 0},
            {v6_bad_len, 0},
        };
    }

    // Runs one burst; returns nothing, results in res_.
    void run(std::vector<rte_mbuf*> pkts) {
        res_->clear();
        dp::forward_burst(env_->root(), *nbrs_, pkts.data(), uint16_t(pkts.size()), *res_, *counters_);
    }
    rte_mbuf* mb(const std::vector<uint8_t>& f, uint16_t port = 0) {
        rte_mbuf* m = make_mbuf(pool_, f, port);
        EXPECT_NE(m, nullptr);
        return m;
    }
    uint64_t drops(DropReason r) const { return dp::read(counters_->drops[size_t(r)]); }
    void free_all() {
        for (uint16_t i = 0; i < res_->n_ports_used; ++i) {
            uint16_t p = res_->ports_used[i];
            rte_pktmbuf_free_bulk(res_->tx[p], res_->tx_count[p]);
        }
        rte_pktmbuf_free_bulk(res_->punt, res_->n_punt);
        rte_pktmbuf_free_bulk(res_->drop, res_->n_drop);
        res_->clear();
    }

    static inline int counter_ = 0;
    rte_mempool* pool_ = nullptr;
    std::unique_ptr<TablesEnv> env_;
    dp::NeighborTable* nbrs_ = nullptr;
    std::unique_ptr<dp::BurstResult> res_;
    std::unique_ptr<dp::CoreCounters> counters_;
};

TEST_F(Forward, ConnectedIpv4IsRewrittenWithTtlAndChecksum) {
    resolve("198.18.2.2", 1, kHostB);
    rte_mbuf* m = mb(ipv4_udp({}));
    run({m});
    ASSERT_EQ(res_->tx_count[1], 1);
    ASSERT_EQ(res_->tx[1][0], m);
    const uint8_t* d = rte_pktmbuf_mtod(m, const uint8_t*);
    EXPECT_EQ(0, std::memcmp(d, kHostB.data(), 6)) << "destination MAC = neighbor";
    EXPECT_EQ(0, std::memcmp(d + 6, kMac1.data(), 6)) << "source MAC = egress port";
    EXPECT_EQ(d[14 + 8], 63) << "TTL decremented";
    EXPECT_EQ(pkt::ipv4_header_checksum(d + 14, 20), 0) << "checksum still verifies";
    // Forwarded means accepted by the TX queue: the worker counts it after
    // rte_eth_tx_burst (worker.cpp, flush), not here.
    EXPECT_EQ(dp::read(counters_->forwarded), 0u);
    free_all();
}

TEST_F(Forward, GatewayRouteUsesTheGatewaysMac) {
    resolve("198.18.2.2", 1, kHostB);
    Ip4Spec s;
    s.dst = "198.19.1.1";
    rte_mbuf* m = mb(ipv4_udp(s));
    run({m});
    ASSERT_EQ(res_->tx_count[1], 1);
    EXPECT_EQ(0, std::memcmp(rte_pktmbuf_mtod(m, uint8_t*), kHostB.data(), 6));
    free_all();
}

// The rewrite writes bytes 0-13 from two words (the neighbor's, then the
// egress port's precomputed source MAC and EtherType): every header byte is
// checked, for both families, through a gateway (rewritten in the lookup
// pass) and on-link (after the bulk neighbor lookup), and nothing past the
// Ethernet header changes but the TTL / hop limit (and IPv4's checksum).
TEST_F(Forward, RewrittenHeaderIsNeighborMacPortMacAndTheSameEtherType) {
    resolve("198.18.2.2", 1, kHostB);
    resolve("2001:db8:2::2", 1, kHostB);
    Ip4Spec gw4;
    gw4.dst = "198.19.1.1";
    Ip6Spec gw6;
    gw6.dst = "2001:db8:100::7";
    const std::vector<std::vector<uint8_t>> frames = {ipv4_udp({}), ipv4_udp(gw4), ipv6_udp({}), ipv6_udp(gw6)};
    std::vector<rte_mbuf*> ms;
    for (const auto& f : frames) ms.push_back(mb(f));
    run(ms);
    ASSERT_EQ(res_->tx_count[1], frames.size());
    for (size_t i = 0; i < frames.size(); ++i) {
        const uint8_t* d = rte_pktmbuf_mtod(ms[i], const uint8_t*);
        const bool v6 = i >= 2;
        SCOPED_TRACE(i);
        EXPECT_EQ(0, std::memcmp(d, kHostB.data(), 6)) << "destination MAC = neighbor";
        EXPECT_EQ(0, std::memcmp(d + 6, kMac1.data(), 6)) << "source MAC = egress port";
        EXPECT_EQ(d[12], v6 ? 0x86 : 0x08) << "EtherType unchanged";
        EXPECT_EQ(d[13], v6 ? 0xDD : 0x00) << "EtherType unchanged";
        ASSERT_EQ(ms[i]->data_len, frames[i].size());
        for (size_t b = 14; b < frames[i].size(); ++b) {
            const size_t ttl = v6 ? 14 + 7 : 14 + 8;
            if (b == ttl)
                EXPECT_EQ(d[b], frames[i][b] - 1) << "TTL / hop limit decremented";
            else if (!v6 && (b == 14 + 10 || b == 14 + 11))
                continue;  // IPv4 header checksum, updated for the TTL
            else
                EXPECT_EQ(d[b], frames[i][b]) << "byte " << b << " unchanged";
        }
        if (!v6) {
            EXPECT_EQ(pkt::ipv4_header_checksum(d + 14, 20), 0);
        }
    }
    free_all();
}

TEST_F(Forward, UnresolvedNeighborIsPunted) {
    rte_mbuf* m = mb(ipv4_udp({}));
    run({m});
    ASSERT_EQ(res_->n_punt, 1);
    EXPECT_EQ(dp::punt_of(res_->punt[0]), Punt::neighbor);
    EXPECT_EQ(rte_pktmbuf_mtod(m, uint8_t*)[14 + 8], 64) << "punted packets are not rewritten";
    free_all();
}

TEST_F(Forward, PuntReasons) {
    struct Case {
        const char* what;
        std::vector<uint8_t> frame;
        Punt expect;
    };
    Ip4Spec noroute;
    noroute.dst = "198.20.0.1";
    Ip4Spec ttl1;
    ttl1.ttl = 1;
    Ip4Spec local;
    local.dst = "198.18.1.1";
    local.ttl = 1;  // TTL does not matter for packets to the router
    Ip4Spec bcast;
    bcast.dst = "198.18.1.255";
    Ip4Spec big;
    big.payload = 1600;
    Ip6Spec noroute6;
    noroute6.dst = "2001:db8:ffff::1";
    Ip6Spec hl1;
    hl1.hop_limit = 1;
    Ip6Spec local6;
    local6.dst = "2001:db8:2::1";
    Ip6Spec ll6;
    ll6.dst = "fe80::1";
    Ip6Spec nd6;
    nd6.dst = "ff02::1:ff00:1";
    std::vector<Case> cases = {
        {"IPv4 without a route", ipv4_udp(noroute), Punt::no_route},
        {"IPv4 TTL 1 in transit", ipv4_udp(ttl1), Punt::ttl},
        {"IPv4 to the router, TTL 1", ipv4_udp(local), Punt::local},
        {"IPv4 subnet broadcast", ipv4_udp(bcast), Punt::local},
        {"IPv4 above the egress MTU", ipv4_udp(big), Punt::too_big},
        {"ARP", arp_request("198.18.1.2", "198.18.1.1"), Punt::local},
        {"IPv6 without a route", ipv6_udp(noroute6), Punt::no_route},
        {"IPv6 hop limit 1", ipv6_udp(hl1), Punt::ttl},
        {"IPv6 to the router", ipv6_udp(local6), Punt::local},
        {"IPv6 link-local destination", ipv6_udp(ll6), Punt::local},
        {"IPv6 solicited-node multicast", ipv6_udp(nd6), Punt::local},
    };
    for (auto& c : cases) {
        rte_mbuf* m = mb(c.frame);
        run({m});
        ASSERT_EQ(res_->n_punt, 1) << c.what;
        EXPECT_EQ(dp::punt_of(res_->punt[0]), c.expect) << c.what;
        free_all();
    }
}

TEST_F(Forward, MtuExceededIsPunted) {
    resolve("198.18.2.2", 1, kHostB);
    Ip4Spec big;
    big.payload = 1480;  // 1508 bytes of IP, above 1500
    auto f = ipv4_udp(big);
    rte_mempool* jumbo = rte_pktmbuf_pool_create("jumbo", 63, 0, 0, 4096, SOCKET_ID_ANY);
    ASSERT_NE(jumbo, nullptr);
    rte_mbuf* m = make_mbuf(jumbo, f);
    run({m});
    ASSERT_EQ(res_->n_punt, 1);
    EXPECT_EQ(dp::punt_of(res_->punt[0]), Punt::too_big);
    free_all();
    rte_mempool_free(jumbo);
}

TEST_F(Forward, DropReasonsAreCounted) {
    struct Case {
        const char* what;
        std::vector<uint8_t> frame;
        DropReason expect;
    };
    auto good = ipv4_udp({});
    auto bad_csum = good;
    bad_csum[14 + 10] ^= 0xff;
    auto truncated = std::vector<uint8_t>(good.begin(), good.begin() + 14 + 12);
    auto bad_len = good;
    bad_len[14 + 2] = 0x05;  // total length 1280+, beyond the frame
    auto bad_ver = good;
    bad_ver[14] = 0x55;
    auto not_us = good;
    not_us[0] = 0x02;
    not_us[5] = 0x99;
    auto vlan = good;
    vlan[12] = 0x81;
    vlan[13] = 0x00;
    auto runt = std::vector<uint8_t>(good.begin(), good.begin() + 10);
    Ip4Spec mcast;
    mcast.dst = "224.0.0.5";
    Ip6Spec v6;
    auto v6_bad_len = ipv6_udp(v6);
    v6_bad_len[14 + 4] = 0x10;
    Ip6Spec v6m;
    v6m.dst = "ff05::1";
    std::vector<Case> cases = {
        {"bad IPv4 checksum", bad_csum, DropReason::ipv4_bad_checksum},
        {"frame cut inside the IPv4 header", truncated, DropReason::ipv4_truncated},
        {"IPv4 total length beyond the frame", bad_len, DropReason::ipv4_bad_total_length},
        {"IP version 5 in an IPv4 frame", bad_ver, DropReason::ipv4_bad_version},
        {"unicast to another MAC", not_us, DropReason::l2_not_for_us},
        {"VLAN tagged", vlan, DropReason::l2_unknown_ethertype},
        {"runt frame", runt, DropReason::l2_truncated},
        {"IPv4 multicast", ipv4_udp(mcast), DropReason::local_unsupported},
        {"IPv6 payload length beyond the frame", v6_bad_len, DropReason::ipv6_bad_payload_length},
        {"IPv6 site multicast", ipv6_udp(v6m), DropReason::ipv6_multicast},
    };
    for (auto& c : cases) {
        uint64_t before = drops(c.expect);
        run({mb(c.frame)});
        EXPECT_EQ(res_->n_drop, 1) << c.what;
        EXPECT_EQ(res_->n_punt + res_->n_ports_used, 0) << c.what;
        EXPECT_EQ(drops(c.expect), before + 1) << c.what;
        free_all();
    }
}

TEST_F(Forward, NicChecksumVerdictIsUsed) {
    // A port with IPv4 RX checksum offload marks each mbuf; the forwarder
    // trusts GOOD (no software check) and drops BAD under the same reason.
    resolve("198.18.2.2", 1, kHostB);
    rte_mbuf* bad = mb(ipv4_udp({}));
    bad->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_BAD;
    run({bad});
    EXPECT_EQ(res_->n_drop, 1);
    EXPECT_EQ(drops(DropReason::ipv4_bad_checksum), 1u);
    free_all();
    auto frame = ipv4_udp({});
    frame[14 + 10] ^= 0xff;  // software would drop it; the NIC vouched for it
    rte_mbuf* good = mb(frame);
    good->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_GOOD;
    run({good});
    EXPECT_EQ(res_->tx_count[1], 1);
    EXPECT_EQ(drops(DropReason::ipv4_bad_checksum), 1u);
    free_all();
}

TEST_F(Forward, TtlAndLengthReadInTheParsePassStillDecide) {
    // TTL / hop limit 1, read in the parse pass, still punts once the FIB
    // said "forward".
    resolve("198.18.2.2", 1, kHostB);
    Ip4Spec one;
    one.ttl = 1;
    run({mb(ipv4_udp(one))});
    ASSERT_EQ(res_->n_punt, 1);
    EXPECT_EQ(dp::punt_of(res_->punt[0]), Punt::ttl);
    free_all();
    Ip6Spec hl1;
    hl1.hop_limit = 1;
    resolve("2001:db8:2::2", 1, kHostB);
    run({mb(ipv6_udp(hl1))});
    ASSERT_EQ(res_->n_punt, 1);
    EXPECT_EQ(dp::punt_of(res_->punt[0]), Punt::ttl);
    free_all();
}

TEST_F(Forward, MixedBurstKeepsEachPacketsFate) {
    resolve("198.18.2.2", 1, kHostB);
    resolve("2001:db8:2::2", 1, kHostB);
    resolve("198.18.1.2", 0, kHostA);
    std::vector<rte_mbuf*> pkts;
    Ip4Spec back;
    back.src = "198.18.2.2";
    back.dst = "198.18.1.2";
    back.dst_mac = kMac1;
    Ip4Spec ttl1;
    ttl1.ttl = 1;
    pkts.push_back(mb(ipv4_udp({})));               // -> port 1
    pkts.push_back(mb(ipv6_udp({})));               // -> port 1
    pkts.push_back(mb(ipv4_udp(back), 1));          // -> port 0
    pkts.push_back(mb(ipv4_udp(ttl1)));             // punt
    auto bad = ipv4_udp({});
    bad[14 + 10] ^= 1;
    pkts.push_back(mb(bad));                        // drop
    run(pkts);
    EXPECT_EQ(res_->tx_count[1], 2);
    EXPECT_EQ(res_->tx_count[0], 1);
    EXPECT_EQ(res_->n_punt, 1);
    EXPECT_EQ(res_->n_drop, 1);
    const uint8_t* v6 = rte_pktmbuf_mtod(pkts[1], const uint8_t*);
    EXPECT_EQ(v6[14 + 7], 63) << "hop limit decremented";
    free_all();
}

// The worker's identity rx = forwarded + punted + dropped rests on this:
// forward_burst puts every packet of a burst in exactly one of the TX lists,
// the punt list or the drop list, counts exactly the drop list under its
// reasons, and counts neither forwarded nor punted (the worker does, after
// TX and after the ring enqueue). Bursts of every size up to kMaxBurst, each
// a deterministic shuffle of every kind of fate.
TEST_F(Forward, EveryPacketEndsInExactlyOneList) {
    resolve_every_kind();
    const std::vector<Kind> kinds = every_kind();
    uint32_t rnd = 12345;
    auto next = [&] { return rnd = rnd * 1103515245u + 12345u, rnd >> 8; };
    uint64_t in = 0, out_tx = 0, out_punt = 0, out_drop = 0;
    std::vector<uint16_t> sizes;
    for (uint16_t n = 1; n <= 40; ++n) sizes.push_back(n);
    for (uint16_t n : {63, 64, 65, 100, 128, 200, 255, 256}) sizes.push_back(n);
    ASSERT_EQ(sizes.back(), dp::kMaxBurst);
    for (uint16_t n : sizes) {
        std::vector<rte_mbuf*> pkts;
        for (uint16_t i = 0; i < n; ++i) {
            const Kind& k = kinds[next() % kinds.size()];
            pkts.push_back(mb(k.frame, k.port));
        }
        ASSERT_EQ(pkts.size(), n);
        uint64_t drops_before = 0;
        for (const auto& c : counters_->drops) drops_before += dp::read(c);
        run(pkts);
        std::multiset<rte_mbuf*> seen;
        uint32_t tx = 0;
        for (uint16_t i = 0; i < res_->n_ports_used; ++i) {
            uint16_t p = res_->ports_used[i];
            EXPECT_GT(res_->tx_count[p], 0) << "a port listed as used holds packets";
            for (uint16_t k = 0; k < res_->tx_count[p]; ++k) seen.insert(res_->tx[p][k]);
            tx += res_->tx_count[p];
        }
        for (uint16_t k = 0; k < res_->n_punt; ++k) seen.insert(res_->punt[k]);
        for (uint16_t k = 0; k < res_->n_drop; ++k) seen.insert(res_->drop[k]);
        EXPECT_EQ(tx + res_->n_punt + res_->n_drop, n) << "burst of " << n;
        for (rte_mbuf* m : pkts) EXPECT_EQ(seen.count(m), 1u) << "burst of " << n << ": each packet in one list, once";
        uint64_t drops_after = 0;
        for (const auto& c : counters_->drops) drops_after += dp::read(c);
        EXPECT_EQ(drops_after - drops_before, res_->n_drop) << "burst of " << n << ": one reason per dropped packet";
        EXPECT_EQ(drops(DropReason::none), 0u);
        in += n;
        out_tx += tx;
        out_punt += res_->n_punt;
        out_drop += res_->n_drop;
        free_all();
    }
    EXPECT_EQ(dp::read(counters_->forwarded), 0u) << "counted by the worker after TX";
    EXPECT_EQ(dp::read(counters_->punted), 0u) << "counted by the worker after the ring enqueue";
    // Every fate was exercised.
    EXPECT_GT(out_tx, 0u);
    EXPECT_GT(out_punt, 0u);
    EXPECT_GT(out_drop, 0u);
    EXPECT_EQ(out_tx + out_punt + out_drop, in);
}

// The worker names the burst's RX port (its queue's), and the parse loop
// then reads no mbuf's port. Every kind of frame, received on either port,
// must get the same fate, drop reason and bytes as when each mbuf's port is
// read (kAnyRxPort, what the other tests use).
TEST_F(Forward, NamedRxPortDecidesAsThePerPacketPort) {
    resolve_every_kind();
    std::vector<std::vector<uint8_t>> frames;
    for (const Kind& k : every_kind()) frames.push_back(k.frame);
    struct Fate {
        int list = -1;  // 0..kMaxPorts-1: that port's TX list; 100: punt; 200: drop
        uint64_t punt_or_drop = 0;
        std::vector<uint8_t> bytes;
        bool operator==(const Fate&) const = default;
    };
    auto burst = [&](uint16_t port, uint16_t rx_port) {
        std::vector<rte_mbuf*> pkts;
        for (const auto& f : frames) pkts.push_back(mb(f, port));
        std::array<uint64_t, dp::kDropReasonCount> before{};
        for (size_t i = 0; i < before.size(); ++i) before[i] = dp::read(counters_->drops[i]);
        res_->clear();
        dp::forward_burst(env_->root(), *nbrs_, pkts.data(), uint16_t(pkts.size()), *res_, *counters_, nullptr,
                          rx_port);
        std::vector<Fate> out(pkts.size());
        for (size_t i = 0; i < pkts.size(); ++i) {
            Fate& f = out[i];
            const uint8_t* d = rte_pktmbuf_mtod(pkts[i], const uint8_t*);
            f.bytes.assign(d, d + pkts[i]->data_len);
            for (uint16_t u = 0; u < res_->n_ports_used; ++u)
                for (uint16_t k = 0; k < res_->tx_count[res_->ports_used[u]]; ++k)
                    if (res_->tx[res_->ports_used[u]][k] == pkts[i]) f.list = res_->ports_used[u];
            for (uint16_t k = 0; k < res_->n_punt; ++k)
                if (res_->punt[k] == pkts[i]) {
                    f.list = 100;
                    f.punt_or_drop = uint64_t(dp::punt_of(pkts[i]));
                }
            for (uint16_t k = 0; k < res_->n_drop; ++k)
                if (res_->drop[k] == pkts[i]) f.list = 200;
        }
        // One drop reason per dropped packet, in burst order of the reasons.
        std::vector<uint64_t> reasons;
        for (size_t i = 0; i < before.size(); ++i) reasons.push_back(dp::read(counters_->drops[i]) - before[i]);
        free_all();
        return std::make_pair(out, reasons);
    };
    for (uint16_t port : {uint16_t(0), uint16_t(1)}) {
        SCOPED_TRACE(port);
        auto any = burst(port, dp::kAnyRxPort);
        auto named = burst(port, port);
        ASSERT_EQ(any.first.size(), named.first.size());
        for (size_t i = 0; i < any.first.size(); ++i) {
            EXPECT_EQ(any.first[i].list, named.first[i].list) << "frame " << i;
            EXPECT_EQ(any.first[i].punt_or_drop, named.first[i].punt_or_drop) << "frame " << i;
            EXPECT_EQ(any.first[i].bytes, named.first[i].bytes) << "frame " << i;
        }
        EXPECT_EQ(any.second, named.second) << "drop reasons";
        int sent = 0, punted = 0, dropped = 0;
        for (const auto& f : named.first) {
            ASSERT_NE(f.list, -1) << "every frame ends in one list";
            (f.list == 100 ? punted : f.list == 200 ? dropped : sent) += 1;
        }
        EXPECT_GT(punted, 0);
        EXPECT_GT(dropped, 0);
        if (port == 0) {
            EXPECT_GE(sent, 3) << "p0: the frames to p0's MAC are forwarded";
        } else {
            EXPECT_EQ(named.first[2].list, 0) << "p1: the frame to p1's MAC goes out of p0";
            EXPECT_EQ(sent, 1) << "p1: the others are to p0's MAC or not unicast";
        }
    }
}

TEST_F(Forward, EcmpSpreadsFlowsAndKeepsEachFlowOnOneMember) {
    resolve("198.18.2.2", 1, Mac{0x02, 0, 0, 0, 0x01, 0x02});
    resolve("198.18.2.3", 1, Mac{0x02, 0, 0, 0, 0x01, 0x03});
    std::map<uint8_t, int> per_member;
    std::map<uint16_t, uint8_t> flow_member;
    for (int rep = 0; rep < 2; ++rep) {
        for (uint16_t sport = 1000; sport < 1400; ++sport) {
            Ip4Spec s;
            s.dst = "198.19.200.1";
            s.sport = sport;
            rte_mbuf* m = mb(ipv4_udp(s));
            run({m});
            ASSERT_EQ(res_->tx_count[1], 1);
            uint8_t member = rte_pktmbuf_mtod(m, uint8_t*)[5];
            if (rep == 0) {
                per_member[member]++;
                flow_member[sport] = member;
            } else {
                EXPECT_EQ(flow_member[sport], member) << "flow " << sport << " moved";
            }
            free_all();
        }
    }
    ASSERT_EQ(per_member.size(), 2u);
    EXPECT_GT(per_member[0x02], 120);
    EXPECT_GT(per_member[0x03], 120);
}

}  // namespace
}  // namespace sluice::test

namespace sluice::test {
namespace {

// The inline FIB lookup (tables/fib_direct.hpp) and the rte_fib bulk call
// it falls back to when a table's layout check fails must decide every
// packet alike: the same burst through the published root and through a
// copy of it without the inline tables gives the same lists, the same punt
// reasons and byte-identical rewritten packets.
TEST_F(Forward, InlineLookupAndBulkFallbackAgree) {
    resolve("198.18.2.2", 1, kHostB);
    resolve("2001:db8:2::2", 1, kHostB);
    resolve("198.18.1.2", 0, kHostA);
    ASSERT_NE(env_->root().hot.fib4d.tbl24, nullptr);
    ASSERT_NE(env_->root().hot.fib6d.tbl24, nullptr);
    std::vector<std::pair<std::vector<uint8_t>, uint16_t>> frames;
    Ip4Spec back;
    back.src = "198.18.2.2";
    back.dst = "198.18.1.2";
    back.dst_mac = kMac1;
    Ip4Spec noroute;
    noroute.dst = "198.20.0.1";
    Ip4Spec ttl1;
    ttl1.ttl = 1;
    Ip4Spec local;
    local.dst = "198.18.1.1";
    Ip6Spec noroute6;
    noroute6.dst = "2001:db8:ffff::1";
    Ip6Spec local6;
    local6.dst = "2001:db8:2::1";
    for (int i = 0; i < 3; ++i) {
        frames.push_back({ipv4_udp({}), 0});
        frames.push_back({ipv6_udp({}), 0});
        frames.push_back({ipv4_udp(back), 1});
        frames.push_back({ipv4_udp(noroute), 0});
        frames.push_back({ipv4_udp(ttl1), 0});
        frames.push_back({ipv4_udp(local), 0});
        frames.push_back({ipv6_udp(noroute6), 0});
        frames.push_back({ipv6_udp(local6), 0});
    }
    struct Outcome {
        std::vector<std::vector<uint8_t>> tx[2];
        std::vector<uint32_t> punts;
        uint16_t drops = 0;
    };
    auto outcome = [&](const dp::Root& root) {
        std::vector<rte_mbuf*> pkts;
        for (const auto& [f, port] : frames) pkts.push_back(mb(f, port));
        res_->clear();
        dp::forward_burst(root, *nbrs_, pkts.data(), uint16_t(pkts.size()), *res_, *counters_);
        Outcome o;
        for (uint16_t p = 0; p < 2; ++p)
            for (uint16_t k = 0; k < res_->tx_count[p]; ++k) {
                const uint8_t* d = rte_pktmbuf_mtod(res_->tx[p][k], const uint8_t*);
                o.tx[p].emplace_back(d, d + res_->tx[p][k]->data_len);
            }
        for (uint16_t k = 0; k < res_->n_punt; ++k) o.punts.push_back(uint32_t(dp::punt_of(res_->punt[k])) << 24 | dp::punt_payload(res_->punt[k]));
        o.drops = res_->n_drop;
        free_all();
        return o;
    };
    Outcome inline_answer = outcome(env_->root());
    dp::Root bulk = env_->root();
    bulk.hot.fib4d = {};
    bulk.hot.fib6d = {};
    Outcome bulk_answer = outcome(bulk);
    EXPECT_EQ(inline_answer.tx[1].size(), 6u) << "v4 and v6 to port 1";
    EXPECT_EQ(inline_answer.tx[0].size(), 3u);
    EXPECT_EQ(inline_answer.punts.size(), 15u);
    for (uint16_t p = 0; p < 2; ++p) EXPECT_EQ(inline_answer.tx[p], bulk_answer.tx[p]) << "port " << p;
    EXPECT_EQ(inline_answer.punts, bulk_answer.punts);
    EXPECT_EQ(inline_answer.drops, bulk_answer.drops);
}

// The Ethernet rewrite stores the whole neighbor word, flags and all, and
// then the source MAC over its top bytes: the frame must end up with exactly
// the two MACs and nothing of the word's flags, the ethertype untouched.
TEST(WriteL2, FlagsOfTheNeighborWordNeverReachTheFrame) {
    dp::Interface out;
    out.mac = {0x02, 0x00, 0x5e, 0x10, 0x20, 0x30};
    const std::array<uint8_t, 6> dst = {0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa};
    for (uint64_t flags : {uint64_t(0), dp::kMacValid, ~uint64_t(0) << 48}) {
        uint8_t frame[20];
        std::memset(frame, 0xAA, sizeof frame);
        frame[12] = 0x08;
        frame[13] = 0x00;
        dp::burst::write_l2(frame, dp::mac_word(dst) | flags, out);
        EXPECT_EQ(0, std::memcmp(frame, dst.data(), 6)) << std::hex << flags;
        EXPECT_EQ(0, std::memcmp(frame + 6, out.mac.data(), 6)) << std::hex << flags;
        EXPECT_EQ(frame[12], 0x08);
        EXPECT_EQ(frame[13], 0x00);
        for (size_t i = 14; i < sizeof frame; ++i) EXPECT_EQ(frame[i], 0xAA) << i;
    }
}

// forward_burst lists the ports with packets to send once, at its end
// (BurstResult::list_ports_used): every port below the bound with a packet,
// in port order, with its count; clear() undoes it. The bound is 1 + the
// highest present port (Root::Hot::tx_ports), which every next hop's port is.
TEST(BurstResultPorts, ListsEveryPortWithPacketsInPortOrder) {
    auto r = std::make_unique<dp::BurstResult>();
    r->list_ports_used();
    EXPECT_EQ(r->n_ports_used, 0);
    std::vector<rte_mbuf> fake(64);  // never read: only their addresses are queued
    size_t next = 0;
    std::map<uint16_t, std::vector<rte_mbuf*>> want;
    for (uint16_t p : {uint16_t(31), uint16_t(0), uint16_t(5), uint16_t(6), uint16_t(17), uint16_t(5)})
        for (uint16_t k = 0; k <= p % 4; ++k) {
            dp::burst::enqueue_tx(*r, p, &fake[next]);
            want[p].push_back(&fake[next++]);
        }
    for (uint16_t k = 0; k < dp::kMaxBurst; ++k) {
        dp::burst::enqueue_tx(*r, 7, &fake[next % fake.size()]);
        want[7].push_back(&fake[next++ % fake.size()]);
    }
    r->list_ports_used();
    std::vector<uint16_t> got(r->ports_used, r->ports_used + r->n_ports_used);
    EXPECT_EQ(got, (std::vector<uint16_t>{0, 5, 6, 7, 17, 31}));
    for (const auto& [p, ms] : want) {
        ASSERT_EQ(r->tx_count[p], ms.size()) << "port " << p;
        for (size_t k = 0; k < ms.size(); ++k) EXPECT_EQ(r->tx[p][k], ms[k]) << "port " << p << " #" << k;
    }
    r->clear();
    for (uint16_t p = 0; p < dp::kMaxPorts; ++p) EXPECT_EQ(r->tx_count[p], 0) << "port " << p;
    r->list_ports_used();
    EXPECT_EQ(r->n_ports_used, 0) << "clear() empties every port";
    dp::burst::enqueue_tx(*r, 1, &fake[0]);
    r->list_ports_used(2);
    ASSERT_EQ(r->n_ports_used, 1);
    EXPECT_EQ(r->ports_used[0], 1);
    EXPECT_EQ(r->tx_count[1], 1);
}

TEST_F(Forward, TxPortsBoundIsOnePastTheHighestPresentPort) {
    EXPECT_EQ(env_->root().ifaces->ports, 2) << "lab_config(): p0 and p1";
    EXPECT_EQ(env_->root().hot.tx_ports, 2);
    for (const auto& nh : env_->root().nexthops->nh) EXPECT_LT(nh.port, env_->root().hot.tx_ports);
}

// The per-port words the rewrite stores at bytes 6-13: each present port's
// MAC then the EtherType, as the bytes lie in a frame; absent ports none.
TEST_F(Forward, PortSourceWordsAreTheMacThenTheEtherType) {
    const dp::Interfaces& ifs = *env_->root().ifaces;
    EXPECT_EQ(env_->root().hot.eth_src4, ifs.eth_src4.data());
    EXPECT_EQ(env_->root().hot.eth_src6, ifs.eth_src6.data());
    for (uint16_t p = 0; p < dp::kMaxPorts; ++p) {
        SCOPED_TRACE(p);
        if (!ifs.port[p].present) {
            EXPECT_EQ(ifs.eth_src4[p], 0u);
            EXPECT_EQ(ifs.eth_src6[p], 0u);
            continue;
        }
        uint8_t b4[8], b6[8];
        std::memcpy(b4, &ifs.eth_src4[p], 8);
        std::memcpy(b6, &ifs.eth_src6[p], 8);
        EXPECT_EQ(0, std::memcmp(b4, ifs.port[p].mac.data(), 6));
        EXPECT_EQ(0, std::memcmp(b6, ifs.port[p].mac.data(), 6));
        EXPECT_EQ(b4[6], 0x08);
        EXPECT_EQ(b4[7], 0x00);
        EXPECT_EQ(b6[6], 0x86);
        EXPECT_EQ(b6[7], 0xDD);
    }
    EXPECT_EQ(0, std::memcmp(&ifs.eth_src4[1], kMac1.data(), 6)) << "p1 is kMac1";
}

}  // namespace
}  // namespace sluice::test
