// The neighbor code's clock is in nanoseconds; the tests write times in
// these units.
#pragma once

#include <cstdint>

namespace sluice::nbr::test {

inline constexpr uint64_t kMs = 1'000'000;
inline constexpr uint64_t kSec = 1'000 * kMs;

}  // namespace sluice::nbr::test
