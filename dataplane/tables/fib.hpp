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
#include <type_traits>

#include "api/net.hpp"
#include "dataplane/tables/fib_direct.hpp"

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

// One FIB copy of a family: rte_fib (IPv4) or rte_fib6 (IPv6).
template <bool V6>
class Fib {
public:
    using Raw = std::conditional_t<V6, rte_fib6, rte_fib>;
    using Dst = std::conditional_t<V6, const uint8_t*, uint32_t>;  // IPv4: host order

    static std::unique_ptr<Fib> create(FibCapacity cap, std::string* error);
    ~Fib();
    Fib(const Fib&) = delete;
    Fib& operator=(const Fib&) = delete;

    // 0, -ENOSPC (rib or tbl8 groups exhausted), or another -errno.
    int apply(const FibOp& op);
    uint64_t lookup(Dst dst) const;
    Raw* raw() const { return fib_; }
    // The tables for the workers' inline lookup (fib_direct.hpp); empty
    // when this DPDK's layout did not pass the check at creation.
    const FibDirect& direct() const { return direct_; }
    FibCapacity capacity() const { return cap_; }
    uint64_t bytes() const;  // memory the tables take (estimate from the sizes)

private:
    Fib() = default;
    Raw* fib_ = nullptr;
    FibCapacity cap_;
    FibDirect direct_;
};

using Fib4 = Fib<false>;
using Fib6 = Fib<true>;

extern template class Fib<false>;
extern template class Fib<true>;

}  // namespace sluice::dp
