#include "dataplane/tables/fib.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>

#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_memory.h>

#include "dataplane/tables/nexthops.hpp"

namespace sluice::dp {

namespace {

// DPDK object names are global per process and copies come and go.
std::string unique_name(const char* stem) {
    static std::atomic<uint64_t> n{0};
    return stem + std::to_string(n.fetch_add(1));
}

constexpr uint64_t kTbl24Bytes = (uint64_t(1) << 24) * 4;  // 4-byte next hops
constexpr uint64_t kTbl8Bytes = 256 * 4;
constexpr uint64_t kRibNodeBytes = 64;  // rte_rib(6)_node with its 8-byte ext, rounded

}  // namespace

template <bool V6>
std::unique_ptr<Fib<V6>> Fib<V6>::create(FibCapacity cap, std::string* error) {
    std::unique_ptr<Fib> f(new Fib());
    std::string name = unique_name(V6 ? "sl6_" : "sl4_");
    if constexpr (V6) {
        rte_fib6_conf c{};
        c.type = RTE_FIB6_TRIE;
        c.default_nh = kNoRoute;
        c.max_routes = int(cap.entries);
        c.trie.nh_sz = RTE_FIB6_TRIE_4B;
        c.trie.num_tbl8 = cap.tbl8;
        f->fib_ = rte_fib6_create(name.c_str(), SOCKET_ID_ANY, &c);
    } else {
        rte_fib_conf c{};
        c.type = RTE_FIB_DIR24_8;
        c.default_nh = kNoRoute;
        c.max_routes = int(cap.entries);
        c.dir24_8.nh_sz = RTE_FIB_DIR24_8_4B;
        c.dir24_8.num_tbl8 = cap.tbl8;
        f->fib_ = rte_fib_create(name.c_str(), SOCKET_ID_ANY, &c);
    }
    if (!f->fib_) {
        if (error)
            *error = std::string(V6 ? "rte_fib6_create(" : "rte_fib_create(") + std::to_string(cap.entries) +
                     " routes, " + std::to_string(cap.tbl8) + " tbl8 groups): " + rte_strerror(rte_errno);
        return nullptr;
    }
    f->cap_ = cap;
    if constexpr (V6)
        f->direct_ = fib6_direct_probe(f->fib_, cap.tbl8);
    else
        f->direct_ = fib_direct_probe(f->fib_, cap.tbl8);
    return f;
}

template <bool V6>
Fib<V6>::~Fib() {
    if constexpr (V6)
        rte_fib6_free(fib_);
    else
        rte_fib_free(fib_);
}

template <bool V6>
int Fib<V6>::apply(const FibOp& op) {
    if constexpr (V6) {
        const uint8_t* ip = op.prefix.addr.bytes.data();
        return op.del ? rte_fib6_delete(fib_, ip, op.prefix.len) : rte_fib6_add(fib_, ip, op.prefix.len, op.value);
    } else {
        uint32_t ip = op.prefix.addr.v4_host();
        return op.del ? rte_fib_delete(fib_, ip, op.prefix.len) : rte_fib_add(fib_, ip, op.prefix.len, op.value);
    }
}

template <bool V6>
uint64_t Fib<V6>::lookup(Dst dst) const {
    uint64_t nh = 0;
    if constexpr (V6) {
        uint8_t ips[1][16];
        std::memcpy(ips[0], dst, 16);
        rte_fib6_lookup_bulk(fib_, ips, &nh, 1);
    } else {
        rte_fib_lookup_bulk(fib_, &dst, &nh, 1);
    }
    return nh;
}

template <bool V6>
uint64_t Fib<V6>::bytes() const {
    return kTbl24Bytes + cap_.tbl8 * kTbl8Bytes + cap_.entries * kRibNodeBytes;
}

template class Fib<false>;
template class Fib<true>;

}  // namespace sluice::dp
