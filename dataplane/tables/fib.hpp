// One copy of a FIB: an rte_fib (IPv4, DIR-24-8) or rte_fib6 (IPv6, trie)
// with the capacity it was created with.
//
// Why copies: DPDK 22.11's rte_fib/rte_fib6 give concurrent readers no
// guarantee. Deleting a route that empties a tbl8 group rewrites the tbl24
// entry, zeroes the group and returns it to the free pool at once
// (dir24_8.c tbl8_recycle), so a lookup that read the old tbl24 entry can
// read zeros ("no route") or, after the group is reused, another prefix's
// next hop; RCU-deferred reclamation (rte_fib_rcu_qsbr_add) only arrived in
// DPDK 24.11. The table layer therefore never modifies a FIB a reader can
// see: it keeps two copies per family, patches the unpublished one, publishes
// it, and once a grace period has passed brings the other up to date
// (tables/fib_pair.hpp). A batch of changes also becomes visible at once,
// which in-place patching could not give.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "api/net.hpp"

struct rte_fib;
struct rte_fib6;

namespace sluice::dp {

// One FIB entry to write (value) or remove (del).
struct FibOp {
    net::Prefix prefix;  // host bits clear
    uint64_t value = 0;
    bool del = false;
};

struct FibCapacity {
    uint32_t entries = 0;  // rib nodes (routes, IPv6 helper prefixes included)
    uint32_t tbl8 = 0;     // tbl8 groups (256 next hops each)
    friend bool operator==(const FibCapacity&, const FibCapacity&) = default;
};

class Fib4 {
public:
    static std::unique_ptr<Fib4> create(FibCapacity cap, std::string* error);
    ~Fib4();
    Fib4(const Fib4&) = delete;
    Fib4& operator=(const Fib4&) = delete;

    // 0, -ENOSPC (rib or tbl8 groups exhausted), or another -errno.
    int apply(const FibOp& op);
    uint64_t lookup(uint32_t dst_host_order) const;
    rte_fib* raw() const { return fib_; }
    FibCapacity capacity() const { return cap_; }
    uint64_t bytes() const;  // memory the tables take (estimate from the sizes)

private:
    Fib4() = default;
    rte_fib* fib_ = nullptr;
    FibCapacity cap_;
};

class Fib6 {
public:
    static std::unique_ptr<Fib6> create(FibCapacity cap, std::string* error);
    ~Fib6();
    Fib6(const Fib6&) = delete;
    Fib6& operator=(const Fib6&) = delete;

    int apply(const FibOp& op);
    uint64_t lookup(const uint8_t dst[16]) const;
    rte_fib6* raw() const { return fib_; }
    FibCapacity capacity() const { return cap_; }
    uint64_t bytes() const;

private:
    Fib6() = default;
    rte_fib6* fib_ = nullptr;
    FibCapacity cap_;
};

}  // namespace sluice::dp
