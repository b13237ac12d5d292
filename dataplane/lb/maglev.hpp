// Maglev lookup table (Eisenbud et al., "Maglev: A Fast and Reliable Software
// Network Load Balancer", NSDI 2016, section 3.4): a pure function from a
// VIP's backends to a table of M slots (M prime), each naming one backend.
// Same input, same table, on every instance and every run: no randomness,
// no dependence on list order (the caller passes backends sorted by key;
// the function refuses anything else) and no dependence on the host.
//
// Permutation: offset = h1(key) mod M, skip = h2(key) mod (M - 1) + 1, with
// h1, h2 MurmurHash3_x86_32 of the backend's stable key (its address and
// port, never its position in a list) under two fixed seeds. Weights: each
// backend gets its weight share of the M slots to within one slot
// (largest-remainder quotas, turns in proportion to weight); see maglev.cpp.
// docs/lb-maglev.md: algorithm, build times, disruption figures.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sluice::lb {

// 0xFFFF: a slot with no backend (only when no backend has weight > 0).
inline constexpr uint16_t kNoBackend = 0xFFFF;
inline constexpr uint32_t kMaxBackendsPerVip = 4096;

// The seeds of h1 (offset) and h2 (skip). Every instance must use the same:
// changing either changes every table, so two instances behind ECMP would
// send a flow to different backends. Never change them in place.
inline constexpr uint32_t kMaglevOffsetSeed = 0x4d61676cu;  // "Magl"
inline constexpr uint32_t kMaglevSkipSeed = 0x65763136u;    // "ev16"

// A backend's stable key: family (4 or 6), the address (IPv4 in the first
// four bytes, rest zero) and the port in network order. Compared bytewise.
struct MaglevKey {
    std::array<uint8_t, 19> bytes{};
    friend bool operator==(const MaglevKey&, const MaglevKey&) = default;
    friend auto operator<=>(const MaglevKey&, const MaglevKey&) = default;
};
// addr: 4 bytes (v6 false) or 16 bytes, network order. port: a number (host
// order), stored big-endian in bytes 17..18.
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

// MurmurHash3_x86_32 (Appleby, SMHasher), byte-order independent: h1 and h2
// above. Exposed so the tests can pin it to the published check values.
uint32_t murmur3_x86_32(const uint8_t* data, size_t len, uint32_t seed);

}  // namespace sluice::lb
