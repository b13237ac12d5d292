// Quiescent-state based reclamation for everything the workers read that the
// agent replaces: snapshots, neighbor slots. Built on rte_rcu_qsbr: each
// worker reports quiescent once per loop; the agent retires old objects with
// a token and frees them once every worker has passed a quiescent point
// (non-blocking poll, so the agent never stalls on a sleeping worker).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

struct rte_rcu_qsbr;

namespace sluice::dp {

class RcuDomain {
public:
    // max_readers: number of worker threads (ids 0..max_readers-1).
    static std::unique_ptr<RcuDomain> create(uint32_t max_readers, std::string* error);
    ~RcuDomain();
    RcuDomain(const RcuDomain&) = delete;
    RcuDomain& operator=(const RcuDomain&) = delete;

    // Reader side (workers).
    void register_reader(uint32_t id);     // also marks it online
    void unregister_reader(uint32_t id);
    void quiescent(uint32_t id);            // once per loop iteration
    void offline(uint32_t id);              // before a long sleep
    void online(uint32_t id);

    // Writer side (agent only). `free_fn` runs once all readers have passed
    // a quiescent state after this call.
    void retire(std::function<void()> free_fn);
    // Runs the free functions whose grace period has ended; returns how many.
    size_t reclaim();
    // Blocks until everything retired so far is freed (shutdown, tests).
    void drain();
    size_t pending() const { return pending_.size(); }

    rte_rcu_qsbr* raw() { return qsbr_; }

private:
    RcuDomain() = default;
    rte_rcu_qsbr* qsbr_ = nullptr;
    struct Retired {
        uint64_t token;
        std::function<void()> free_fn;
    };
    std::deque<Retired> pending_;
};

// A pointer the agent publishes and workers read; the old value is retired
// through the domain. T is any immutable snapshot type.
template <class T>
class Published {
public:
    explicit Published(RcuDomain& d) : domain_(d) {}
    ~Published() { delete ptr_.load(std::memory_order_relaxed); }
    // Reader: valid until the reader's next quiescent() call.
    const T* get() const { return ptr_.load(std::memory_order_acquire); }
    // Writer: swap in a new snapshot; the old one is freed after a grace period.
    void publish(std::unique_ptr<T> next) {
        T* old = ptr_.exchange(next.release(), std::memory_order_acq_rel);
        if (old) domain_.retire([old] { delete old; });
    }

private:
    RcuDomain& domain_;
    std::atomic<T*> ptr_{nullptr};
};

}  // namespace sluice::dp
