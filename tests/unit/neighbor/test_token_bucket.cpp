#include <gtest/gtest.h>

#include <cstdint>

#include "dataplane/neighbor/token_bucket.hpp"
#include "tests/unit/neighbor/time_units.hpp"

namespace sluice::nbr {
namespace {

constexpr uint64_t kS = 1'000'000'000;
using test::kMs;

// Calls try_take every step_ns from start to start + duration_ns inclusive;
// returns how many were allowed.
uint64_t run(TokenBucket& b, uint64_t start, uint64_t duration_ns, uint64_t step_ns) {
    uint64_t allowed = 0;
    for (uint64_t t = start; t <= start + duration_ns; t += step_ns) allowed += b.try_take(t);
    return allowed;
}

TEST(TokenBucket, StartsFullAllowsBurstThenRefuses) {
    TokenBucket b(10, 5);
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.try_take(1 * kS)) << i;
    EXPECT_FALSE(b.try_take(1 * kS));
}

TEST(TokenBucket, RefillsOneTokenPerPeriod) {
    TokenBucket b(10, 2);  // one token per 100 ms
    EXPECT_TRUE(b.try_take(0));
    EXPECT_TRUE(b.try_take(0));
    EXPECT_FALSE(b.try_take(100 * kMs - 1));
    EXPECT_TRUE(b.try_take(100 * kMs));
    EXPECT_FALSE(b.try_take(100 * kMs));
    EXPECT_TRUE(b.try_take(200 * kMs));
}

TEST(TokenBucket, SteadyStateRateOverTenSeconds) {
    TokenBucket b(100, 10);
    // Asked 10,000 times a second: burst, then the configured rate.
    const uint64_t allowed = run(b, 0, 10 * kS, 100'000);
    EXPECT_NEAR(double(allowed - 10), 1000.0, 10.0);  // within 1%
}

TEST(TokenBucket, FractionalTokensAreNotLostBetweenFrequentCalls) {
    // 7/s asked every 1 ms: each call earns 0.007 tokens, which only the
    // carried remainder turns into tokens. Every token is taken as soon as it
    // exists, so the bucket never overflows and the count is exact:
    // floor(10 s * 7/s) after the initial burst.
    TokenBucket b(7, 5);
    EXPECT_EQ(run(b, 0, 10 * kS, kMs), 70u + 5);
}

TEST(TokenBucket, IrregularCallsKeepTheRate) {
    TokenBucket b(1000, 50);
    uint64_t t = 0, allowed = 0;
    uint32_t x = 7;
    while (t < 10 * kS) {
        x = x * 1103515245u + 12345u;
        t += 1 + (x >> 8) % 999'999;  // 1 ns .. 1 ms, about two calls per token
        allowed += b.try_take(t);
    }
    EXPECT_NEAR(double(allowed - 50), 10'000.0, 100.0);
}

TEST(TokenBucket, NoDriftOverAnHour) {
    TokenBucket b(3, 2);
    // Exactly floor(3600 s * 3/s) = 10800 after the initial burst (the bucket
    // never fills, so no credit is discarded).
    EXPECT_EQ(run(b, 0, 3600 * kS, kMs), 10'800u + 2);
}

TEST(TokenBucket, FullBucketDiscardsCreditLikeAFluidBucket) {
    // Capacity 1 at 3/s polled every 1 ms: the bucket is full at 333.33 ms but
    // the token is taken at 334 ms; the overflow in between is discarded, as in
    // a real bucket, so each token costs 334 ms (not an arithmetic loss).
    TokenBucket b(3, 1);
    EXPECT_EQ(run(b, 0, 3600 * kS, kMs), 3'600'000u / 334 + 1);
    // A rate that divides the polling interval evenly loses nothing.
    TokenBucket c(4, 1);
    EXPECT_EQ(run(c, 0, 3600 * kS, kMs), 3600u * 4 + 1);
}

TEST(TokenBucket, LongIdleDoesNotExceedBurst) {
    TokenBucket b(1000, 5);
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.try_take(0));
    EXPECT_FALSE(b.try_take(0));
    const uint64_t hour = 3600 * kS;
    int allowed = 0;
    for (int i = 0; i < 100; ++i) allowed += b.try_take(hour);
    EXPECT_EQ(allowed, 5);
}

TEST(TokenBucket, HugeRateAndElapsedDoNotOverflow) {
    // elapsed * rate would overflow 64 bits here without the fill cap.
    TokenBucket b(UINT32_MAX, 2);
    EXPECT_TRUE(b.try_take(0));
    EXPECT_TRUE(b.try_take(0));
    EXPECT_FALSE(b.try_take(0));
    int allowed = 0;
    for (int i = 0; i < 10; ++i) allowed += b.try_take(5'000'000'000'000'000'000ull);
    EXPECT_EQ(allowed, 2);
    EXPECT_TRUE(b.try_take(UINT64_MAX));  // ~4 tokens per ns at this rate

    // 2^31 tokens/s for 2^33 ns: the product is exactly 2^64, which a naive
    // elapsed * rate would wrap to zero credit.
    TokenBucket w(1u << 31, 2);
    EXPECT_TRUE(w.try_take(0));
    EXPECT_TRUE(w.try_take(0));
    EXPECT_FALSE(w.try_take(0));
    EXPECT_TRUE(w.try_take(1ull << 33));
    EXPECT_TRUE(w.try_take(1ull << 33));
    EXPECT_FALSE(w.try_take(1ull << 33));

    TokenBucket big(UINT32_MAX, UINT32_MAX);
    EXPECT_TRUE(big.try_take(0));
    EXPECT_TRUE(big.try_take(UINT64_MAX));
}

TEST(TokenBucket, ZeroRateNeverAllows) {
    TokenBucket b(0, 10);
    EXPECT_FALSE(b.try_take(0));
    EXPECT_FALSE(b.try_take(3600 * kS));
}

TEST(TokenBucket, ZeroBurstNeverAllows) {
    TokenBucket b(1000, 0);
    EXPECT_FALSE(b.try_take(0));
    EXPECT_FALSE(b.try_take(10 * kS));
}

TEST(TokenBucket, TimeGoingBackwardsIsHarmless) {
    TokenBucket b(10, 2);  // one token per 100 ms
    EXPECT_TRUE(b.try_take(10 * kS));
    EXPECT_TRUE(b.try_take(10 * kS));
    // Backwards: nothing is credited (no unsigned wrap into a huge refill).
    EXPECT_FALSE(b.try_take(5 * kS));
    EXPECT_FALSE(b.try_take(0));
    EXPECT_FALSE(b.try_take(10 * kS));
    // Forward again: only the time past the latest seen instant counts.
    EXPECT_TRUE(b.try_take(10 * kS + 100 * kMs));
    EXPECT_FALSE(b.try_take(10 * kS + 100 * kMs));
    EXPECT_FALSE(b.try_take(1 * kS));
    EXPECT_FALSE(b.try_take(10 * kS + 100 * kMs));  // the same interval is not credited twice
    EXPECT_TRUE(b.try_take(10 * kS + 200 * kMs));
}

}  // namespace
}  // namespace sluice::nbr
