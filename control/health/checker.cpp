// The checker's loop: one thread, one epoll set, one timer wheel (1 ms
// ticks) holding each target's next probe and its in-flight probe's
// timeout, an eventfd for set_targets() and stop(). Each target is probed
// every interval_ms, start to start (HAProxy's `inter`), never twice at
// once; at most max_in_flight probes are open, the rest wait in a FIFO.
// Outcomes go through HealthState (rise/fall as in HAProxy and GLB);
// OnChange runs on this thread, only on a change.
#include "control/health/checker.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "control/health/probe.hpp"
#include "control/health/state.hpp"
#include "control/health/timer_wheel.hpp"

namespace sluice::health {

namespace {

uint64_t mono_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

constexpr uint64_t wake_key = ~uint64_t(0);  // the eventfd's epoll data
constexpr uint64_t kind_next = 0, kind_timeout = 1;

// Same target for set_targets(): id, address, port and spec; rise and fall
// may differ (they change on the kept state, as a reload should).
bool same_probe(const Target& a, const Target& b) {
    if (a.address != b.address || a.port != b.port) return false;
    config::HealthCheckConfig x = a.spec;
    x.rise = b.spec.rise;
    x.fall = b.spec.fall;
    return x == b.spec;
}

template <class F, class... A>
void call_user(const F& f, A&&... a) {
    // A callback that throws must not take the checker's thread (and with it
    // the process: std::terminate) down; its exception is dropped.
    if (!f) return;
    try {
        f(std::forward<A>(a)...);
    } catch (...) {
    }
}

}  // namespace

struct Checker::Impl {
    struct Rec {
        Target t;
        HealthState hs;
        Endpoint ep;
        std::string request;  // http
        Probe probe;
        WheelTimer next, timeout;
        uint32_t slot = 0;
        uint64_t uid = 0;       // unique over the checker's life (FIFO entries)
        uint32_t serial = 0;    // of the probe in flight (epoll data)
        uint64_t due_ms = 0;    // when the probe now due or running was due
        bool in_flight = false, queued = false, due_while_busy = false, dirty = false;
        size_t status_idx = 0;
        TargetStatus st;
        explicit Rec(Target tg) : t(std::move(tg)), hs(t.spec.rise, t.spec.fall, t.initially_up) {}
    };

    Options opt;
    OnChange on_change;

    // Shared with other threads.
    mutable std::mutex mu;  // guards pending, statuses, pub_stats
    std::optional<std::vector<Target>> pending;
    std::vector<TargetStatus> statuses;
    CheckerStats pub_stats;
    std::atomic<bool> stopping{false};
    std::atomic<std::thread::id> loop_tid{};
    std::thread thread;
    std::mutex life_mu;  // start()/stop()

    // The loop's own (only the checker thread touches these while it runs).
    int ep = -1, evfd = -1;
    uint64_t base_ns = mono_ns();
    TimerWheel wheel{0};
    std::vector<std::unique_ptr<Rec>> slots;
    std::vector<uint32_t> free_slots;
    std::unordered_map<uint64_t, Rec*> by_id;
    std::deque<std::pair<uint32_t, uint64_t>> fifo;  // (slot, uid) waiting for a free slot
    std::vector<Rec*> dirty;
    std::vector<Rec*> order;  // statuses' order
    CheckerStats st;
    bool stats_dirty = false;
    uint64_t next_uid = 1;
    uint32_t next_serial = 1;
    bool draining = false;
    std::mt19937_64 rng;

    Impl(Options o, OnChange cb) : opt(std::move(o)), on_change(std::move(cb)) {
        if (opt.max_in_flight == 0) opt.max_in_flight = 1;
        rng.seed(opt.seed ? opt.seed : uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()));
        ep = epoll_create1(EPOLL_CLOEXEC);
        evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (ep >= 0 && evfd >= 0) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = wake_key;
            if (epoll_ctl(ep, EPOLL_CTL_ADD, evfd, &ev) < 0) {
                ::close(ep);
                ep = -1;
            }
        }
    }
    ~Impl() {
        for (auto& r : slots)
            if (r) r->probe.close();
        if (ep >= 0) ::close(ep);
        if (evfd >= 0) ::close(evfd);
    }

    uint64_t now_ms() const { return (mono_ns() - base_ns) / 1'000'000u; }

    void wake() const {
        if (evfd < 0) return;
        uint64_t one = 1;
        (void)!::write(evfd, &one, sizeof one);
    }

    void mark(Rec& r) {
        if (!r.dirty) {
            r.dirty = true;
            dirty.push_back(&r);
        }
    }

    // ---- targets --------------------------------------------------------

    Rec* add(const Target& t, uint64_t now) {
        uint32_t slot;
        if (!free_slots.empty()) {
            slot = free_slots.back();
            free_slots.pop_back();
        } else {
            slot = uint32_t(slots.size());
            slots.emplace_back();
        }
        auto rec = std::make_unique<Rec>(t);
        Rec& r = *rec;
        r.slot = slot;
        r.uid = next_uid++;
        r.ep = make_endpoint(t.address, t.port);
        if (t.spec.type == config::HealthCheckConfig::Type::http) r.request = http_request(t.spec, t.address, t.port);
        r.next.cookie = (uint64_t(slot) << 1) | kind_next;
        r.timeout.cookie = (uint64_t(slot) << 1) | kind_timeout;
        r.st.id = t.id;
        r.st.up = r.hs.up();
        // First probe at a uniform offset in [0, jitter_ms]: a reload or a
        // restart does not probe every backend in the same millisecond
        // (HAProxy's spread-checks does the same for later probes).
        uint64_t offset = 0;
        if (t.spec.jitter_ms) offset = std::uniform_int_distribution<uint64_t>(0, t.spec.jitter_ms)(rng);
        r.due_ms = now + offset;
        wheel.schedule(r.next, r.due_ms);
        slots[slot] = std::move(rec);
        return &r;
    }

    void remove(Rec& r) {
        wheel.cancel(r.next);
        wheel.cancel(r.timeout);
        if (r.in_flight) {
            r.probe.close();
            r.in_flight = false;
            --st.in_flight;
        }
        r.queued = false;  // its FIFO entry is skipped (uid no longer found)
        // `dirty` may still point at it: apply() clears the list after removing.
        const uint32_t slot = r.slot;
        slots[slot].reset();
        free_slots.push_back(slot);
    }

    void apply(std::vector<Target> targets) {
        const uint64_t now = now_ms();
        std::unordered_map<uint64_t, Rec*> next_by_id;
        next_by_id.reserve(targets.size());
        std::vector<Rec*> next_order;
        next_order.reserve(targets.size());
        std::unordered_set<Rec*> kept;
        for (auto& t : targets) {
            if (next_by_id.count(t.id)) continue;  // a duplicate id: the first one counts
            Rec* r = nullptr;
            auto it = by_id.find(t.id);
            if (it != by_id.end() && same_probe(it->second->t, t)) {
                r = it->second;
                if (r->t.spec.rise != t.spec.rise || r->t.spec.fall != t.spec.fall) {
                    r->hs.set_thresholds(t.spec.rise, t.spec.fall);
                    r->st.progress = r->hs.progress();
                }
                const bool up = r->t.initially_up;
                r->t = std::move(t);
                r->t.initially_up = up;
                kept.insert(r);
            } else {
                r = add(t, now);  // new, or changed: starts over
            }
            next_by_id.emplace(r->t.id, r);
            next_order.push_back(r);
        }
        for (auto& [id, r] : by_id)
            if (!kept.count(r)) remove(*r);
        by_id = std::move(next_by_id);
        order = std::move(next_order);
        for (size_t i = 0; i < order.size(); ++i) order[i]->status_idx = i;
        st.targets = uint32_t(order.size());
        std::lock_guard lk(mu);
        statuses.resize(order.size());
        for (size_t i = 0; i < order.size(); ++i) {
            statuses[i] = order[i]->st;
            order[i]->dirty = false;
        }
        dirty.clear();
        pub_stats = st;
    }

    // ---- probes ---------------------------------------------------------

    void request_probe(Rec& r) {
        if (st.in_flight < opt.max_in_flight && fifo.empty()) {
            start_probe(r);
            return;
        }
        // No free slot: wait in line (a delay, not a failure).
        r.queued = true;
        fifo.emplace_back(r.slot, r.uid);
        ++st.delayed;
        stats_dirty = true;
    }

    void start_probe(Rec& r) {
        const uint64_t now = now_ms();
        // Start to start: the next probe is due one interval after this one
        // was due; a probe that started late (it waited for a slot or for
        // the previous probe) moves the cadence rather than bunching up.
        const uint64_t interval = r.t.spec.interval_ms ? r.t.spec.interval_ms : 1;
        uint64_t next = r.due_ms + interval;
        if (next <= now) next = now + interval;
        wheel.schedule(r.next, next);

        call_user(opt.on_probe_start, r.t.id);
        const uint64_t t0 = mono_ns();
        ProbeStep s = r.probe.start(r.ep, r.t.spec, &r.request, t0);
        if (s == ProbeStep::pending) {
            epoll_event ev{};
            ev.events = r.probe.epoll_events();
            r.serial = next_serial++;
            ev.data.u64 = (uint64_t(r.serial) << 32) | r.slot;
            if (epoll_ctl(ep, EPOLL_CTL_ADD, r.probe.fd(), &ev) < 0) {
                r.probe.close();
                s = ProbeStep::local_error;
            }
        }
        if (s == ProbeStep::local_error) {
            // Our own shortage (fds, ports, memory) says nothing about the
            // backend: no outcome is recorded, the next interval tries again.
            ++st.socket_errors;
            stats_dirty = true;
            return;
        }
        ++st.in_flight;
        if (st.in_flight > st.peak_in_flight) st.peak_in_flight = st.in_flight;
        r.in_flight = true;
        stats_dirty = true;
        if (s == ProbeStep::done) {
            complete(r);
            return;
        }
        wheel.schedule(r.timeout, now + std::max<uint64_t>(r.t.spec.timeout_ms, 1));
    }

    void complete(Rec& r) {
        const ProbeResult& res = r.probe.result();
        wheel.cancel(r.timeout);
        r.in_flight = false;
        --st.in_flight;
        ++st.probes;
        if (!res.ok) ++st.failures;
        if (!res.ok && res.error == "timeout") ++st.timeouts;
        stats_dirty = true;

        const bool changed = r.hs.record(res.ok);
        r.st.up = r.hs.up();
        r.st.probed = true;
        r.st.progress = r.hs.progress();
        ++r.st.checks;
        if (!res.ok) ++r.st.failures;
        if (changed) ++r.st.transitions;
        r.st.last = res;
        mark(r);

        const uint64_t id = r.t.id;
        const uint32_t slot = r.slot;
        const uint64_t uid = r.uid;
        call_user(opt.on_probe_done, id, res);
        if (changed) call_user(on_change, id, r.hs.up(), res);
        // The callbacks cannot remove targets (set_targets only queues), but
        // stay safe should that change.
        if (!alive(slot, uid)) return;
        if (r.due_while_busy) {
            r.due_while_busy = false;
            request_probe(r);
        }
        drain_fifo();
    }

    bool alive(uint32_t slot, uint64_t uid) const {
        return slot < slots.size() && slots[slot] && slots[slot]->uid == uid;
    }

    void drain_fifo() {
        if (draining) return;  // a probe finishing at once inside start_probe
        draining = true;
        while (st.in_flight < opt.max_in_flight && !fifo.empty()) {
            auto [slot, uid] = fifo.front();
            fifo.pop_front();
            if (!alive(slot, uid) || !slots[slot]->queued) continue;
            Rec& r = *slots[slot];
            r.queued = false;
            if (r.in_flight) {  // cannot happen (queued targets have no probe open); keep the rule anyway
                r.due_while_busy = true;
                continue;
            }
            start_probe(r);
        }
        draining = false;
    }

    void on_timer(WheelTimer& t) {
        const uint32_t slot = uint32_t(t.cookie >> 1);
        if (slot >= slots.size() || !slots[slot]) return;
        Rec& r = *slots[slot];
        if ((t.cookie & 1) == kind_timeout) {
            if (!r.in_flight) return;
            r.probe.fail("timeout", mono_ns());
            complete(r);
            return;
        }
        // The next probe is due.
        r.due_ms = t.expiry();
        if (r.in_flight) {
            // Never two probes of one target at once: this one starts when
            // the current one ends (HAProxy's checks are one task per server).
            r.due_while_busy = true;
            return;
        }
        if (r.queued) return;  // still waiting for a slot
        request_probe(r);
    }

    void on_socket(uint64_t key, uint32_t events) {
        const uint32_t slot = uint32_t(key);
        const uint32_t serial = uint32_t(key >> 32);
        if (slot >= slots.size() || !slots[slot]) return;
        Rec& r = *slots[slot];
        if (!r.in_flight || r.serial != serial) return;  // an event of a probe already over
        if (r.probe.on_event(events, mono_ns()) == ProbeStep::done) complete(r);
    }

    void publish() {
        if (dirty.empty() && !stats_dirty) return;
        std::lock_guard lk(mu);
        for (Rec* r : dirty) {
            if (r->status_idx < statuses.size()) statuses[r->status_idx] = r->st;
            r->dirty = false;
        }
        dirty.clear();
        pub_stats = st;
        stats_dirty = false;
    }

    // ---- the loop -------------------------------------------------------

    void pin() {
        if (opt.cpus.empty()) return;
        cpu_set_t set;
        CPU_ZERO(&set);
        for (uint32_t c : opt.cpus)
            if (c < CPU_SETSIZE) CPU_SET(c, &set);
        // A CPU the process may not use makes this fail; the checker then
        // runs unpinned rather than not at all.
        (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }

    void take_pending() {
        std::optional<std::vector<Target>> p;
        {
            std::lock_guard lk(mu);
            p.swap(pending);
        }
        if (p) apply(std::move(*p));
    }

    void loop() {
        loop_tid.store(std::this_thread::get_id());
        pin();
        pthread_setname_np(pthread_self(), "sluice-health");
        take_pending();
        constexpr int max_events = 1024;
        epoll_event evs[max_events];
        while (!stopping.load(std::memory_order_acquire)) {
            wheel.advance(now_ms(), [this](WheelTimer& t) { on_timer(t); });
            drain_fifo();
            publish();
            int timeout = -1;
            if (auto next = wheel.next_expiry()) {
                const uint64_t now = now_ms();
                timeout = *next <= now ? 0 : int(std::min<uint64_t>(*next - now, 60'000));
            }
            const int n = epoll_wait(ep, evs, max_events, timeout);
            if (n < 0) {
                if (errno == EINTR) continue;
                break;  // EBADF/EINVAL: the set is gone; nothing sensible left to do
            }
            bool woken = false;
            for (int i = 0; i < n; ++i) {
                if (evs[i].data.u64 == wake_key) {
                    woken = true;
                    continue;
                }
                on_socket(evs[i].data.u64, evs[i].events);
            }
            if (woken) {
                uint64_t v;
                (void)!::read(evfd, &v, sizeof v);
                take_pending();
            }
        }
        // Stopped: probes in flight are dropped without an outcome (their
        // sockets closed); the targets stay, and start() resumes them.
        // A target whose probe was dropped (or was waiting for one) is due
        // again as soon as the checker restarts; the others keep their cadence.
        const uint64_t now = now_ms();
        for (auto& r : slots) {
            if (!r) continue;
            if (r->in_flight || r->queued || r->due_while_busy) {
                r->probe.close();
                r->due_ms = now;
                wheel.schedule(r->next, now);
            }
            r->in_flight = r->queued = r->due_while_busy = false;
            wheel.cancel(r->timeout);
        }
        fifo.clear();
        st.in_flight = 0;
        stats_dirty = true;
        publish();
        loop_tid.store(std::thread::id{});
    }
};

Checker::Checker(Options opt, OnChange on_change) {
    // Allocation failure here is the one way to throw (std::bad_alloc), as
    // for any object; nothing else does.
    impl_ = std::make_unique<Impl>(std::move(opt), std::move(on_change));
}

Checker::~Checker() {
    if (impl_->loop_tid.load() == std::this_thread::get_id()) {
        // Destroyed from its own OnChange: the loop cannot be joined from
        // itself. It is told to stop and its state is left allocated (a
        // leak, not a use after free) for it to finish with.
        impl_->stopping.store(true, std::memory_order_release);
        impl_->wake();
        impl_->thread.detach();
        (void)impl_.release();
        return;
    }
    stop();
}

void Checker::start() {
    std::lock_guard lk(impl_->life_mu);
    if (impl_->thread.joinable() || impl_->ep < 0) return;  // running, or no epoll/eventfd (fds exhausted)
    impl_->stopping.store(false, std::memory_order_release);
    try {
        impl_->thread = std::thread([impl = impl_.get()] { impl->loop(); });
    } catch (...) {
        // std::system_error (EAGAIN: no thread could be created): the checker
        // stays stopped; stats() shows no probes.
    }
}

void Checker::stop() {
    if (impl_->loop_tid.load() == std::this_thread::get_id()) {
        // From OnChange, on the checker's thread: joining itself would
        // deadlock (std::thread::join would throw). The loop ends when the
        // callback returns; a later stop() or the destructor joins it.
        impl_->stopping.store(true, std::memory_order_release);
        impl_->wake();
        return;
    }
    std::lock_guard lk(impl_->life_mu);
    if (!impl_->thread.joinable()) return;
    impl_->stopping.store(true, std::memory_order_release);
    impl_->wake();
    impl_->thread.join();
}

void Checker::set_targets(std::vector<Target> targets) {
    {
        std::lock_guard lk(impl_->mu);
        impl_->pending = std::move(targets);  // a later call before the loop looks replaces it
    }
    impl_->wake();
}

std::vector<TargetStatus> Checker::snapshot() const {
    std::lock_guard lk(impl_->mu);
    return impl_->statuses;
}

CheckerStats Checker::stats() const {
    std::lock_guard lk(impl_->mu);
    return impl_->pub_stats;
}

}  // namespace sluice::health
