// Quiescent-state based reclamation for everything readers see that a
// writer replaces: published table roots, neighbor slots. Built on
// rte_rcu_qsbr.
//
// Readers: each worker has a fixed id and reports quiescent once per loop;
// the agent has the next fixed id and reports once per loop too. Threads
// that read now and then (DPDK's telemetry threads, a control-channel
// thread) take an id from a small pool for the length of one read
// (ReadGuard): online while they read, offline after. So no thread reads a
// table without a grace period protecting it.
//
// Writers (the table builder, the agent) retire old objects with a token;
// reclaim() frees those whose grace period has ended (non-blocking, so the
// agent never stalls on a sleeping worker); synchronize() blocks until
// every online reader has passed a quiescent point (the builder, which
// must know its old FIB copy is no longer read). Writer calls are
// thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

struct rte_rcu_qsbr;

namespace sluice::dp {

class RcuDomain {
public:
    // Transient reader ids available to ReadGuard at once.
    static constexpr uint32_t kTransientReaders = 16;

    // fixed_readers: ids 0..fixed_readers-1 (workers, then the agent).
    static std::unique_ptr<RcuDomain> create(uint32_t fixed_readers, std::string* error);
    ~RcuDomain();
    RcuDomain(const RcuDomain&) = delete;
    RcuDomain& operator=(const RcuDomain&) = delete;

    // Reader side, fixed ids (all ids are registered when the domain is
    // created and start offline).
    void register_reader(uint32_t id);     // a reader starts: online
    void unregister_reader(uint32_t id);   // and stops: offline
    void quiescent(uint32_t id);            // once per loop iteration
    void offline(uint32_t id);              // before a long sleep or a blocking wait
    void online(uint32_t id);

    // Reader side, any other thread: a reader id for one read.
    class ReadGuard {
    public:
        explicit ReadGuard(RcuDomain& d);
        ~ReadGuard();
        ReadGuard(const ReadGuard&) = delete;
        ReadGuard& operator=(const ReadGuard&) = delete;

    private:
        RcuDomain& d_;
        uint32_t id_;
    };

    // Writer side. `free_fn` runs once all readers have passed a quiescent
    // state after this call (on whichever writer thread reclaims).
    void retire(std::function<void()> free_fn);
    // Runs the free functions whose grace period has ended; returns how many.
    size_t reclaim();
    // Blocks until every reader online now has passed a quiescent state.
    // The caller must not be an online reader.
    void synchronize();
    // Blocks until everything retired so far is freed (shutdown, tests).
    void drain();
    size_t pending() const;

    rte_rcu_qsbr* raw() { return qsbr_; }

private:
    RcuDomain() = default;
    uint32_t take_transient();
    void give_transient(uint32_t id);

    rte_rcu_qsbr* qsbr_ = nullptr;
    uint32_t fixed_ = 0;
    std::atomic<uint32_t> transient_free_{0};  // bit i: id fixed_ + i is free
    struct Retired {
        uint64_t token;
        std::function<void()> free_fn;
    };
    mutable std::mutex mu_;
    std::deque<Retired> pending_;
};

// A pointer a writer publishes and readers load; the old value is retired
// through the domain. T is any immutable-once-published type.
template <class T>
class Published {
public:
    explicit Published(RcuDomain& d) : domain_(d) {}
    ~Published() { delete ptr_.load(std::memory_order_relaxed); }
    // Reader: valid until the reader's next quiescent() (or the end of its
    // ReadGuard).
    const T* get() const { return ptr_.load(std::memory_order_acquire); }
    // Writer: swap in a new value; the old one is freed after a grace period.
    void publish(std::unique_ptr<T> next) {
        T* old = ptr_.exchange(next.release(), std::memory_order_acq_rel);
        if (old) domain_.retire([old] { delete old; });
    }

private:
    RcuDomain& domain_;
    std::atomic<T*> ptr_{nullptr};
};

}  // namespace sluice::dp
