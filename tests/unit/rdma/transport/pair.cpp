#include "tests/unit/rdma/transport/pair.hpp"

#include <rte_mbuf.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "drivers/rdma/standin/standin.hpp"
#include "tests/unit/rdma/transport/pools.hpp"

namespace sluice::test::rdma {

const char* fabric_name(Fabric f) {
    switch (f) {
    case Fabric::standin: return "standin";
    case Fabric::standin_ib: return "standin_ib";
    case Fabric::verbs: return "verbs";
    }
    return "?";
}

void Side::destroy() {
    peer.reset();
    rq.reset();
    dev.reset();
}

namespace {

std::atomic<int> g_seq{0};

std::string unique_id() { return std::to_string(getpid()) + "_" + std::to_string(g_seq.fetch_add(1)); }

}  // namespace

std::unique_ptr<Pair> Pair::open(Fabric f, const PairOptions& o, std::string* why, bool* skip) {
    *skip = false;
    std::unique_ptr<Pair> p(new Pair());
    p->fabric = f;
    p->opts = o;
    if (!p->opts.rx_pool) p->opts.rx_pool = pool();
    std::string a_name, b_name;
    if (f == Fabric::verbs) {
        p->opts.ops = &real_verbs();
        // Discovery as the data plane does it: no devices reads as a reason
        // to skip, not as a failure.
        Discovery d;
        std::string err;
        auto probe = Device::open(real_verbs(), "", 1, &d, &err);
        if (d == Discovery::no_devices) {
            *skip = true;
            *why = err;
            return nullptr;
        }
        // Both peers on the first device (the HCA loops back between its
        // own queue pairs).
        int n = 0;
        ibv_device** list = real_verbs().get_device_list(&n);
        if (!list || n == 0) {
            *skip = true;
            *why = "no RDMA devices";
            return nullptr;
        }
        a_name = b_name = o.verbs_device.empty() ? real_verbs().get_device_name(list[0]) : o.verbs_device;
        real_verbs().free_device_list(list);
    } else {
        if (!p->opts.ops) p->opts.ops = &standin::ops();
        p->fabric_id = "tr" + unique_id();
        a_name = "sa" + p->fabric_id;
        b_name = "sb" + p->fabric_id;
        for (const auto& n : {a_name, b_name}) {
            standin::DeviceSpec s;
            s.name = n;
            s.fabric = p->fabric_id;
            s.link_layer = f == Fabric::standin_ib ? LinkLayer::infiniband : LinkLayer::ethernet;
            standin::add_device(s);
        }
    }
    if (!p->open_side(p->a, a_name, o.a, why) || !p->open_side(p->b, b_name, o.b, why)) return nullptr;
    return p;
}

bool Pair::open_side(Side& s, const std::string& name, const PeerParams& params, std::string* err) {
    Discovery d;
    s.dev_name = name;
    s.dev = Device::open(*opts.ops, name, 1, &d, err);
    if (!s.dev) return false;
    if (!s.dev->register_pool(pool(), err)) return false;
    if (opts.rx_pool != pool() && !s.dev->register_pool(opts.rx_pool, err)) return false;
    s.rq = ReceiveQueue::create(*s.dev, opts.rx_pool, opts.rq_size, params.max_frame, err);
    if (!s.rq) return false;
    s.peer = std::make_unique<Peer>(*s.dev, *s.rq, params);
    return true;
}

Pair::~Pair() {
    a.destroy();
    b.destroy();
}

bool Pair::connect(std::string* err) {
    if (!a.peer->prepare(&a.info, err) || !b.peer->prepare(&b.info, err)) return false;
    if (!a.peer->connect(b.info, err) || !b.peer->connect(a.info, err)) return false;
    a.peer->activate();
    b.peer->activate();
    return true;
}

bool Pair::replace_b(std::string* err) {
    b.destroy();
    std::string name = b.dev_name;
    if (fabric != Fabric::verbs) {
        name = "sb" + fabric_id + "_" + unique_id();
        standin::DeviceSpec s;
        s.name = name;
        s.fabric = fabric_id;
        s.link_layer = fabric == Fabric::standin_ib ? LinkLayer::infiniband : LinkLayer::ethernet;
        standin::add_device(s);
    }
    return open_side(b, name, opts.b, err);
}

namespace {

uint8_t pattern(uint64_t seq, uint32_t i) {
    if (i < 8) return uint8_t(seq >> (8 * i));
    return uint8_t(seq * 131 + i * 7 + (i >> 8));
}

}  // namespace

rte_mbuf* make_frame(rte_mempool* mp, uint32_t len, uint64_t seq) {
    rte_mbuf* m = rte_pktmbuf_alloc(mp);
    if (!m) return nullptr;
    auto* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(len)));
    if (!d) {
        rte_pktmbuf_free(m);
        return nullptr;
    }
    for (uint32_t i = 0; i < len; ++i) d[i] = pattern(seq, i);
    return m;
}

std::string check_frame(const rte_mbuf* m, uint32_t len, uint64_t seq) {
    if (m->data_len != len || m->pkt_len != len)
        return "frame " + std::to_string(seq) + ": " + std::to_string(m->data_len) + " bytes, expected " +
               std::to_string(len);
    if (m->nb_segs != 1 || m->data_off != RTE_PKTMBUF_HEADROOM) return "frame " + std::to_string(seq) + ": layout";
    const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
    for (uint32_t i = 0; i < len; ++i)
        if (d[i] != pattern(seq, i))
            return "frame " + std::to_string(seq) + ": byte " + std::to_string(i) + " differs";
    return "";
}

uint32_t Stream::len_of(uint64_t seq) const {
    static constexpr uint32_t kMix[] = {64, 1500, 9000, 60, 128, 129, 1, 2047, 9018, 333};
    return len ? len : kMix[seq % (sizeof(kMix) / sizeof(kMix[0]))];
}

void Stream::free_all() {
    for (rte_mbuf* m : backlog) rte_pktmbuf_free(m);
    for (rte_mbuf* m : held) rte_pktmbuf_free(m);
    backlog.clear();
    held.clear();
}

namespace {

void tx_round(Side& s, Stream& st) {
    rte_mempool* mp = st.tx_pool ? st.tx_pool : pool();
    while (st.backlog.size() < st.burst && st.sent + st.backlog.size() < st.total) {
        rte_mbuf* m = make_frame(mp, st.len_of(st.sent + st.backlog.size()), st.sent + st.backlog.size());
        if (!m) break;  // pool empty for now
        st.backlog.push_back(m);
    }
    if (st.backlog.empty()) return;
    uint16_t k = s.peer->tx_burst(st.backlog.data(), uint16_t(st.backlog.size()));
    st.backlog.erase(st.backlog.begin(), st.backlog.begin() + k);
    st.sent += k;
}

// A side with no stream towards it still calls rx_burst (credit updates
// arrive there, as in a worker's loop); no frame may come.
void rx_idle(Side& s, std::string* error) {
    rte_mbuf* pkts[64];
    uint16_t n = s.peer->rx_burst(pkts, 64);
    if (n && error->empty()) *error = std::to_string(n) + " unexpected frames";
    rte_pktmbuf_free_bulk(pkts, n);
}

void rx_round(Side& s, Stream& st) {
    rte_mbuf* pkts[64];
    uint16_t n = s.peer->rx_burst(pkts, 64);
    for (uint16_t i = 0; i < n; ++i) {
        std::string e = check_frame(pkts[i], st.len_of(st.received), st.received);
        if (!e.empty() && st.error.empty()) st.error = e;
        ++st.received;
        if (st.hold_rx)
            st.held.push_back(pkts[i]);
        else
            rte_pktmbuf_free(pkts[i]);
    }
}

}  // namespace

bool run(Pair& p, Stream* ab, Stream* ba, uint64_t max_rounds, std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    auto all_done = [&] { return (!ab || ab->done()) && (!ba || ba->done()); };
    for (uint64_t r = 0; r < max_rounds && !all_done(); ++r) {
        if ((r & 255) == 0 && std::chrono::steady_clock::now() > until) break;
        if (ab) tx_round(p.a, *ab);
        if (ba) tx_round(p.b, *ba);
        // A stopped receiver (rx_enabled false) neither receives nor polls.
        bool a_runs = !ba || ba->rx_enabled, b_runs = !ab || ab->rx_enabled;
        if (a_runs) p.a.peer->poll();
        if (b_runs) p.b.peer->poll();
        if (b_runs) {
            if (ab)
                rx_round(p.b, *ab);
            else
                rx_idle(p.b, &ba->error);
        }
        if (a_runs) {
            if (ba)
                rx_round(p.a, *ba);
            else
                rx_idle(p.a, &ab->error);
        }
    }
    return all_done();
}

std::string describe(const Peer& p) {
    const PeerCounters& c = p.counters();
    auto v = [](const std::atomic<uint64_t>& x) { return std::to_string(x.load()); };
    return p.params().name + " " + to_string(p.state()) + " credits " + std::to_string(p.credits()) + " in_flight " +
           std::to_string(p.in_flight()) + " tx " + v(c.tx_packets) + " rx " + v(c.rx_packets) + " stalls " +
           v(c.credit_stalls) + " upd_sent " + v(c.credit_updates_sent) + " upd_rcvd " + v(c.credit_updates_received) +
           " signalled " + v(c.signalled) + " refill_failed " + v(c.rx_refill_failed) + " lost " + v(c.lost_in_flight) +
           " errors " + v(c.completion_errors) + " refused " + v(c.tx_refused) + " dropped " + v(c.rx_dropped);
}

std::string describe(const Pair& p, const Stream* ab, const Stream* ba) {
    std::string s = "\n  " + describe(*p.a.peer) + " rq posted " + std::to_string(p.a.rq->posted()) + "\n  " +
                    describe(*p.b.peer) + " rq posted " + std::to_string(p.b.rq->posted());
    for (const Stream* st : {ab, ba})
        if (st)
            s += "\n  stream sent " + std::to_string(st->sent) + " received " + std::to_string(st->received) + "/" +
                 std::to_string(st->total) + " backlog " + std::to_string(st->backlog.size()) + " " + st->error;
    return s;
}

bool settle(Pair& p, int max_rounds) {
    for (int r = 0; r < max_rounds; ++r) {
        rte_mbuf* pkts[64];
        // Anything still arriving is a test error; drop it so it shows in counts.
        for (Side* s : {&p.a, &p.b}) {
            uint16_t n = s->peer->rx_burst(pkts, 64);
            rte_pktmbuf_free_bulk(pkts, n);
            s->peer->poll();
        }
        if (p.a.peer->in_flight() == 0 && p.b.peer->in_flight() == 0 && r > 8) return true;
    }
    return false;
}

}  // namespace sluice::test::rdma
