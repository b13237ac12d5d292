// Benchmark traffic source, preloaded (LD_PRELOAD) into every contender:
// our data plane, l3fwd and testpmd. It wraps rte_eth_dev_start and, on each
// net_null port, installs an RX callback first on every queue that writes
// the next template packet into each received mbuf, as a NIC's DMA would.
// Every contender therefore reads the same packets at no cost to the
// generator but this write, which all of them pay alike. A thread samples
// the ports' counters once a second into $SLUICE_TG_OUT (JSON lines).
//
// Environment: SLUICE_TG_PROFILE=v4|v6 (default v4), SLUICE_TG_SIZE=60..1514
// (IPv4 frame bytes without FCS, default 60), SLUICE_TG_PREFIXES=N
// (1..1048576), SLUICE_TG_FLOWS=N[,N...] (1..1048576 each),
// SLUICE_TG_SEGMENT=S (seconds), SLUICE_TG_RX_CSUM=good|none (default
// none: IPv4 checksum verdict flags as a NIC with RX offload sets them),
// SLUICE_TG_OUT=path, SLUICE_TG_DST=a.b.c.d (IPv4 only: every packet to
// this one address, e.g. a load balancer's VIP, whatever the prefix count;
// the flows still vary the source address and port). With several flow
// counts, the source moves to the next one S seconds after traffic started
// or last moved, so one contender start (l3fwd's LPM takes minutes to load
// a million routes) serves every flow count; each sample says which count
// ("flows") and segment ("seg") it belongs to. See profile.hpp for the
// address scheme.
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "tests/perf/trafficgen/profile.hpp"

namespace {

using namespace sluice::perf;

struct Profile {
    bool v6 = false;
    uint64_t rx_flags = 0;  // mbuf ol_flags a NIC would set (checksum verdicts)
    uint32_t prefixes = 1;
    std::vector<uint32_t> flows{1};  // one per segment
    uint32_t segment_s = 0;
    // Added to every IPv4 destination: 0, or (with SLUICE_TG_DST) the fixed
    // destination minus prefix 0's host, so that the fill has no branch.
    uint32_t dst_delta = 0;
    // IPv4 frame length without FCS (SLUICE_TG_SIZE, 60..1514): the RDMA
    // benchmark's 1500-byte profile. Only the first 64 bytes are written per
    // packet; the UDP payload beyond them is left as the buffer holds it.
    uint16_t v4_len = 60;
    std::string out;
};

// The flow count in use; the fill reads it once per burst.
std::atomic<uint32_t> g_flows{1};

uint32_t env_u32(const char* name, uint32_t def, uint32_t lo, uint32_t hi) {
    const char* v = std::getenv(name);
    if (!v || !*v) return def;
    unsigned long n = std::strtoul(v, nullptr, 10);
    return uint32_t(std::clamp<unsigned long>(n, lo, hi));
}

Profile read_profile() {
    Profile p;
    const char* k = std::getenv("SLUICE_TG_PROFILE");
    p.v6 = k && std::strcmp(k, "v6") == 0;
    p.prefixes = env_u32("SLUICE_TG_PREFIXES", 1, 1, kMaxPrefixes);
    if (const char* f = std::getenv("SLUICE_TG_FLOWS"); f && *f) {
        p.flows.clear();
        for (const char* s = f; *s;) {
            char* end = nullptr;
            unsigned long n = std::strtoul(s, &end, 10);
            if (end == s) break;
            p.flows.push_back(uint32_t(std::clamp<unsigned long>(n, 1, kMaxPrefixes)));
            s = *end == ',' ? end + 1 : end;
            if (*end != ',') break;
        }
        if (p.flows.empty()) p.flows.push_back(1);
    }
    p.segment_s = env_u32("SLUICE_TG_SEGMENT", 0, 0, 36000);
    // A NIC with IPv4 RX checksum offload marks every good header (l3fwd's
    // design assumes one; sluice uses the verdict when it is there).
    if (const char* c = std::getenv("SLUICE_TG_RX_CSUM"); c && std::strcmp(c, "good") == 0 && !p.v6)
        p.rx_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD;
    if (const char* o = std::getenv("SLUICE_TG_OUT")) p.out = o;
    p.v4_len = uint16_t(env_u32("SLUICE_TG_SIZE", 60, 60, 1514));
    if (const char* d = std::getenv("SLUICE_TG_DST"); d && *d && !p.v6) {
        unsigned a = 0, b = 0, c = 0, e = 0;
        if (std::sscanf(d, "%u.%u.%u.%u", &a, &b, &c, &e) == 4 && a < 256 && b < 256 && c < 256 && e < 256) {
            p.prefixes = 1;
            p.dst_delta = ((a << 24) | (b << 16) | (c << 8) | e) - v4_host(0);
        }
    }
    return p;
}

// IPv4 frames are prof.v4_len bytes (60 by default: 64 on the wire with the FCS).
constexpr uint16_t kV6Frame = 78;

// Per RX queue: the templates and where we are in them. Destinations are
// visited in a shuffled order fixed at start (every prefix once per round,
// no locality a real mix would not have), without a division per packet.
struct alignas(64) QueueGen {
    Profile prof;
    uint8_t tmpl[128];
    uint16_t len = 0;
    uint32_t v4_sum = 0;  // ones-complement sum of the IPv4 header without addresses and checksum
    const uint32_t* order = nullptr;   // prefix indices, shuffled
    uint32_t pos = 0;
    uint32_t flow = 0;
    uint32_t flows = 1;   // g_flows as of this burst
    uint64_t filled = 0;  // packets written: the denominator for callgrind's per-packet figures
};

std::vector<uint32_t>* g_order = nullptr;
// Never destroyed: the exit record (a destructor function) and the stats
// thread read them while the process exits, and in a static link the C++
// atexit destructors run before the .fini_array functions, so a plain
// global vector would already be gone there (a garbage "filled" count).
std::vector<QueueGen*>& g_gens = *new std::vector<QueueGen*>;  // for the exit record
std::vector<uint16_t>& g_ports = *new std::vector<uint16_t>;
std::atomic<bool> g_thread_started{false};

void build_template(QueueGen& g, const uint8_t mac[6]) {
    std::memset(g.tmpl, 0, sizeof g.tmpl);
    std::memcpy(g.tmpl, mac, 6);
    const uint8_t src_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x7e, 0x01};
    std::memcpy(g.tmpl + 6, src_mac, 6);
    uint8_t* ip = g.tmpl + 14;
    if (!g.prof.v6) {
        g.tmpl[12] = 0x08;
        g.len = g.prof.v4_len;
        ip[0] = 0x45;
        ip[2] = uint8_t((g.len - 14) >> 8);
        ip[3] = uint8_t(g.len - 14);
        ip[8] = 64;
        ip[9] = 17;
        uint8_t* udp = ip + 20;
        udp[2] = 0x13;
        udp[3] = 0x88;  // dport 5000
        udp[4] = uint8_t((g.len - 34) >> 8);  // UDP length
        udp[5] = uint8_t(g.len - 34);
        // Per packet only the addresses change: their words are added to
        // this sum (RFC 1071), not the whole header re-summed.
        for (int i = 0; i < 20; i += 2) g.v4_sum += uint32_t(ip[i] << 8 | ip[i + 1]);
    } else {
        g.tmpl[12] = 0x86;
        g.tmpl[13] = 0xdd;
        g.len = kV6Frame;
        ip[0] = 0x60;
        ip[5] = 24;  // payload length
        ip[6] = 17;
        ip[7] = 64;
        const uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff};
        std::memcpy(ip + 8, src, 16);
        uint8_t* udp = ip + 40;
        udp[2] = 0x13;
        udp[3] = 0x88;
        udp[5] = 24;
        udp[6] = 0xff;  // a non-zero UDP checksum: IPv6 forbids zero; nobody verifies it here
        udp[7] = 0xff;
    }
}

inline void fill(QueueGen& g, rte_mbuf* m) {
    uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
    if (g.prof.v6)
        std::memcpy(d, g.tmpl, 80);  // 78-byte frame
    else
        std::memcpy(d, g.tmpl, 64);  // 60-byte frame
    uint32_t pfx = g.order[g.pos];
    if (++g.pos == g.prof.prefixes) g.pos = 0;
    uint32_t f = g.flow;
    if (++g.flow >= g.flows) g.flow = 0;
    uint8_t* ip = d + 14;
    uint16_t sport = uint16_t(1024 + (f & 0x7fff));
    if (!g.prof.v6) {
        uint32_t src = (198u << 24) | (18u << 16) | (f >> 15);
        uint32_t dst = v4_host(pfx) + g.prof.dst_delta;
        for (int i = 0; i < 4; ++i) {
            ip[12 + i] = uint8_t(src >> (24 - 8 * i));
            ip[16 + i] = uint8_t(dst >> (24 - 8 * i));
        }
        uint32_t s = g.v4_sum + (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff);
        s = (s & 0xffff) + (s >> 16);
        s = (s & 0xffff) + (s >> 16);
        uint16_t c = uint16_t(~s);
        ip[10] = uint8_t(c >> 8);
        ip[11] = uint8_t(c);
        ip[20] = uint8_t(sport >> 8);
        ip[21] = uint8_t(sport);
    } else {
        ip[8 + 14] = uint8_t(f >> 23);
        ip[8 + 15] = uint8_t(f >> 15);
        v6_host(pfx, ip + 24);
        ip[40] = uint8_t(sport >> 8);
        ip[41] = uint8_t(sport);
    }
    m->data_len = g.len;
    m->pkt_len = g.len;
    m->nb_segs = 1;
    m->next = nullptr;
    m->ol_flags = g.prof.rx_flags;
    m->packet_type = 0;
}

uint16_t rx_fill(uint16_t, uint16_t, rte_mbuf* pkts[], uint16_t n, uint16_t, void* arg) {
    QueueGen& g = *static_cast<QueueGen*>(arg);
    g.flows = g_flows.load(std::memory_order_relaxed);
    for (uint16_t i = 0; i < n; ++i) fill(g, pkts[i]);
    g.filled += n;
    return n;
}

void stats_thread(Profile prof) {
    FILE* f = std::fopen(prof.out.c_str(), "a");
    if (!f) return;
    auto start = std::chrono::steady_clock::now();
    uint64_t last_rx = 0, last_tx = 0;
    auto last = start;
    size_t seg = 0;
    double seg_start = -1;  // time traffic started, then time of the last move
    for (int i = 0; i < 36000; ++i) {  // bounded: at most ten hours
        std::this_thread::sleep_for(std::chrono::seconds(1));
        uint64_t rx = 0, tx = 0;
        for (uint16_t p : g_ports) {
            rte_eth_stats st{};
            if (rte_eth_stats_get(p, &st) == 0) {
                rx += st.ipackets;
                tx += st.opackets;
            }
        }
        auto now = std::chrono::steady_clock::now();
        if (rx < last_rx || tx < last_tx) break;  // ports closed or counters reset: the run is over
        double dt = std::chrono::duration<double>(now - last).count();
        double t = std::chrono::duration<double>(now - start).count();
        std::fprintf(f,
                     "{\"t\": %.3f, \"rx_pps\": %.0f, \"tx_pps\": %.0f, \"rx_packets\": %lu, \"tx_packets\": %lu, "
                     "\"flows\": %u, \"seg\": %zu}\n",
                     t, (rx - last_rx) / dt, (tx - last_tx) / dt, (unsigned long)rx, (unsigned long)tx,
                     prof.flows[seg], seg);
        std::fflush(f);
        last_rx = rx;
        last_tx = tx;
        last = now;
        if (seg_start < 0 && rx > 0) seg_start = t;
        if (prof.segment_s && seg_start >= 0 && seg + 1 < prof.flows.size() && t - seg_start >= prof.segment_s) {
            ++seg;
            seg_start = t;
            g_flows.store(prof.flows[seg], std::memory_order_relaxed);
        }
    }
    std::fclose(f);
}

void attach(uint16_t port) {
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(port, &info) != 0 || !info.driver_name ||
        std::strcmp(info.driver_name, "net_null") != 0)
        return;
    Profile prof = read_profile();
    if (!g_order) {
        // One shuffled visiting order for all queues (fixed seed: every
        // contender sees the same sequence).
        g_order = new std::vector<uint32_t>(prof.prefixes);
        for (uint32_t i = 0; i < prof.prefixes; ++i) (*g_order)[i] = i;
        std::mt19937 rng(12345);
        std::shuffle(g_order->begin(), g_order->end(), rng);
    }
    rte_ether_addr mac{};
    rte_eth_macaddr_get(port, &mac);
    rte_eth_dev_info_get(port, &info);
    uint16_t nq = info.nb_rx_queues;
    for (uint16_t q = 0; q < nq; ++q) {
        auto* g = new QueueGen();  // lives as long as the port: never freed
        g->prof = prof;
        g->order = g_order->data();
        g->pos = (q * 7919u) % prof.prefixes;
        build_template(*g, mac.addr_bytes);
        g_gens.push_back(g);
        if (!rte_eth_add_first_rx_callback(port, q, rx_fill, g))
            std::fprintf(stderr, "trafficgen: cannot add an RX callback on port %u queue %u\n", port, q);
    }
    g_ports.push_back(port);
    std::fprintf(stderr, "trafficgen: port %u: %s %u B, %u prefixes%s, %u flows, %u queues\n", port,
                 prof.v6 ? "IPv6" : "IPv4", prof.v6 ? kV6Frame + 4u : prof.v4_len + 4u, prof.prefixes,
                 prof.dst_delta ? " (one fixed destination)" : "", prof.flows[0], nq);
    if (!g_thread_started.exchange(true)) {
        g_flows.store(prof.flows[0], std::memory_order_relaxed);
        if (!prof.out.empty()) std::thread(stats_thread, prof).detach();
    }
}

// At exit (ports may be closed by then): the packets the source wrote, the
// count callgrind's instructions-per-packet divides by. The workers have
// stopped when the process exits, so the plain loads see the final values.
__attribute__((destructor)) void write_final_record() {
    const char* out = std::getenv("SLUICE_TG_OUT");
    if (!out || !*out || g_gens.empty()) return;
    uint64_t filled = 0;
    for (const QueueGen* g : g_gens) filled += g->filled;
    if (FILE* f = std::fopen(out, "a")) {
        std::fprintf(f, "{\"final\": true, \"filled\": %lu}\n", (unsigned long)filled);
        std::fclose(f);
    }
}

}  // namespace

extern "C" int rte_eth_dev_start(uint16_t port_id) {
    using start_fn = int (*)(uint16_t);
    static start_fn real = reinterpret_cast<start_fn>(dlsym(RTLD_NEXT, "rte_eth_dev_start"));
    if (!real) return -ENOSYS;
    int rc = real(port_id);
    if (rc == 0) attach(port_id);
    return rc;
}
