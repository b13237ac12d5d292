#include "dataplane/rcu/domain.hpp"

#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

namespace sluice::dp {

std::unique_ptr<RcuDomain> RcuDomain::create(uint32_t max_readers, std::string* error) {
    if (max_readers == 0) max_readers = 1;
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
    std::unique_ptr<RcuDomain> d(new RcuDomain());
    d->qsbr_ = q;
    return d;
}

RcuDomain::~RcuDomain() {
    // Callers drain() before destruction when readers may still run; here
    // all readers are gone, so everything pending can go.
    for (auto& r : pending_) r.free_fn();
    pending_.clear();
    rte_free(qsbr_);
}

void RcuDomain::register_reader(uint32_t id) {
    rte_rcu_qsbr_thread_register(qsbr_, id);
    rte_rcu_qsbr_thread_online(qsbr_, id);
}

void RcuDomain::unregister_reader(uint32_t id) {
    rte_rcu_qsbr_thread_offline(qsbr_, id);
    rte_rcu_qsbr_thread_unregister(qsbr_, id);
}

void RcuDomain::quiescent(uint32_t id) { rte_rcu_qsbr_quiescent(qsbr_, id); }
void RcuDomain::offline(uint32_t id) { rte_rcu_qsbr_thread_offline(qsbr_, id); }
void RcuDomain::online(uint32_t id) { rte_rcu_qsbr_thread_online(qsbr_, id); }

void RcuDomain::retire(std::function<void()> free_fn) {
    pending_.push_back({rte_rcu_qsbr_start(qsbr_), std::move(free_fn)});
}

size_t RcuDomain::reclaim() {
    size_t n = 0;
    // Tokens are monotonic, so the queue is ordered: stop at the first one
    // whose grace period has not ended.
    while (!pending_.empty() && rte_rcu_qsbr_check(qsbr_, pending_.front().token, false) == 1) {
        auto fn = std::move(pending_.front().free_fn);
        pending_.pop_front();
        fn();
        ++n;
    }
    return n;
}

void RcuDomain::drain() {
    while (!pending_.empty()) {
        rte_rcu_qsbr_check(qsbr_, pending_.front().token, true);
        reclaim();
    }
}

}  // namespace sluice::dp
