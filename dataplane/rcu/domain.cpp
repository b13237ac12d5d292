#include "dataplane/rcu/domain.hpp"

#include <thread>

#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

namespace sluice::dp {

std::unique_ptr<RcuDomain> RcuDomain::create(uint32_t fixed_readers, std::string* error) {
    uint32_t max_readers = fixed_readers + kTransientReaders;
    size_t sz = rte_rcu_qsbr_get_memsize(max_readers);
    auto* q = static_cast<rte_rcu_qsbr*>(rte_zmalloc("sluice_rcu", sz, RTE_CACHE_LINE_SIZE));
    if (q == nullptr) {
        if (error) *error = "rte_zmalloc for the RCU variable failed (out of DPDK memory)";
        return nullptr;
    }
    if (rte_rcu_qsbr_init(q, max_readers) != 0) {
        if (error) *error = std::string("rte_rcu_qsbr_init: ") + rte_strerror(rte_errno);
        rte_free(q);
        return nullptr;
    }
    // Every reader id is registered here, once, and starts offline; a reader
    // only goes online and offline (inline code in rte_rcu_qsbr.h). Keeping
    // registration out of the reader threads also keeps it out of sight of
    // ThreadSanitizer, which cannot see the library's own synchronisation.
    for (uint32_t id = 0; id < max_readers; ++id) rte_rcu_qsbr_thread_register(q, id);
    std::unique_ptr<RcuDomain> d(new RcuDomain());
    d->qsbr_ = q;
    d->fixed_ = fixed_readers;
    d->transient_free_.store(kTransientReaders >= 32 ? ~0u : ((1u << kTransientReaders) - 1));
    return d;
}

RcuDomain::~RcuDomain() {
    // Callers drain() before destruction when readers may still run; here
    // all readers are gone, so everything pending can go.
    for (auto& r : pending_) r.free_fn();
    pending_.clear();
    rte_free(qsbr_);
}

void RcuDomain::register_reader(uint32_t id) { rte_rcu_qsbr_thread_online(qsbr_, id); }
void RcuDomain::unregister_reader(uint32_t id) { rte_rcu_qsbr_thread_offline(qsbr_, id); }

void RcuDomain::quiescent(uint32_t id) { rte_rcu_qsbr_quiescent(qsbr_, id); }
void RcuDomain::offline(uint32_t id) { rte_rcu_qsbr_thread_offline(qsbr_, id); }
void RcuDomain::online(uint32_t id) { rte_rcu_qsbr_thread_online(qsbr_, id); }

uint32_t RcuDomain::take_transient() {
    // More concurrent transient readers than ids (DPDK 22.11 serves at most
    // 10 telemetry clients) only makes one wait for another's short read.
    for (;;) {
        uint32_t cur = transient_free_.load(std::memory_order_acquire);
        while (cur) {
            uint32_t bit = cur & (~cur + 1);
            if (transient_free_.compare_exchange_weak(cur, cur & ~bit, std::memory_order_acq_rel))
                return fixed_ + uint32_t(__builtin_ctz(bit));
        }
        std::this_thread::yield();
    }
}

void RcuDomain::give_transient(uint32_t id) {
    transient_free_.fetch_or(1u << (id - fixed_), std::memory_order_release);
}

RcuDomain::ReadGuard::ReadGuard(RcuDomain& d) : d_(d), id_(d.take_transient()) { d_.online(id_); }
RcuDomain::ReadGuard::~ReadGuard() {
    d_.offline(id_);
    d_.give_transient(id_);
}

void RcuDomain::retire(std::function<void()> free_fn) {
    std::lock_guard<std::mutex> g(mu_);
    // The token is taken under the lock so the queue stays in token order.
    pending_.push_back({rte_rcu_qsbr_start(qsbr_), std::move(free_fn)});
}

size_t RcuDomain::reclaim() {
    size_t n = 0;
    for (;;) {
        std::function<void()> fn;
        {
            std::lock_guard<std::mutex> g(mu_);
            // Tokens are monotonic, so the queue is ordered: stop at the
            // first one whose grace period has not ended.
            if (pending_.empty() || rte_rcu_qsbr_check(qsbr_, pending_.front().token, false) != 1) return n;
            fn = std::move(pending_.front().free_fn);
            pending_.pop_front();
        }
        fn();  // outside the lock: a free function may retire more
        ++n;
    }
}

// rte_rcu_qsbr_synchronize() does the same from inside librte_rcu; the
// inline start/check pair keeps the wait visible to ThreadSanitizer.
void RcuDomain::synchronize() { rte_rcu_qsbr_check(qsbr_, rte_rcu_qsbr_start(qsbr_), true); }

void RcuDomain::drain() {
    for (;;) {
        uint64_t token;
        {
            std::lock_guard<std::mutex> g(mu_);
            if (pending_.empty()) return;
            token = pending_.front().token;
        }
        rte_rcu_qsbr_check(qsbr_, token, true);
        reclaim();
    }
}

size_t RcuDomain::pending() const {
    std::lock_guard<std::mutex> g(mu_);
    return pending_.size();
}

}  // namespace sluice::dp
