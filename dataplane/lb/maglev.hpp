// Maglev lookup table (Eisenbud et al., "Maglev: A Fast and Reliable Software
// Network Load Balancer", NSDI 2016, section 3.4): a pure function from a
// VIP's backends to a table of M slots (M prime), each naming one backend.
// Same input, same table, on every instance and every run: no randomness,
// no dependence on list order (the caller passes backends sorted by key;
// the function refuses anything else) and no dependence on the host.
//
// Permutation: offset = h1(key) mod M, skip = h2(key) mod (M - 1) + 1, with
// h1, h2 two fixed-seed hashes of the backend's stable key (its address and
// port, never its position in a list). Weights: see maglev.cpp.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sluice::lb {

// 0xFFFF: a slot with no backend (only when no backend has weight > 0).
inline constexpr uint16_t kNoBackend = 0xFFFF;
inline constexpr uint32_t kMaxBackendsPerVip = 4096;

// A backend's stable key: family (4 or 6), the address (IPv4 in the first
// four bytes, rest zero) and the port in network order. Compared bytewise.
struct MaglevKey {
    std::array<uint8_t, 19> bytes{};
    friend bool operator==(const MaglevKey&, const MaglevKey&) = default;
    friend auto operator<=>(const MaglevKey&, const MaglevKey&) = default;
};
MaglevKey maglev_key(bool v6, const uint8_t* addr, uint16_t port);

struct MaglevInput {
    MaglevKey key;
    uint32_t weight = 1;  // 0: gets no slot
};

// Fills `table` (resized to m) with indices into `backends`.
// Returns an empty string on success, else why not: m not prime or < 2,
// more than kMaxBackendsPerVip backends, more backends than slots, keys not
// strictly increasing. With every weight 0 (or no backend), every slot is
// kNoBackend.
std::string maglev_build(std::span<const MaglevInput> backends, uint32_t m, std::vector<uint16_t>& table);

bool is_prime(uint32_t n);

}  // namespace sluice::lb
