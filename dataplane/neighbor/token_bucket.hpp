// Token bucket limiting how often ICMP errors are generated (RFC 1812
// 4.3.2.8, RFC 4443 2.4(f) which names the token bucket explicitly). Time is
// passed in. Refill is exact integer arithmetic: credit is kept in
// token-nanoseconds (tokens * 1e9) and the remainder is carried, so rates that
// do not divide 1e9 lose nothing over long runs, and frequent calls with tiny
// elapsed times still add up.
#pragma once

#include <cstdint>

namespace sluice::nbr {

class TokenBucket {
public:
    // Starts full. rate 0 or burst 0 means never allow.
    TokenBucket(uint32_t rate_per_s, uint32_t burst)
        : rate_(rate_per_s), burst_(burst), tokens_(burst) {
        // Elapsed time after which the bucket is full from empty; capping the
        // elapsed time there keeps elapsed * rate below burst * 1e9 + rate
        // < 2^63, so the product never overflows.
        if (rate_ != 0) fill_ns_ = (uint64_t(burst_) * kNsPerS + rate_ - 1) / rate_;
    }

    bool try_take(uint64_t now_ns) {
        if (rate_ == 0) return false;
        refill(now_ns);
        if (tokens_ == 0) return false;
        --tokens_;
        return true;
    }

private:
    static constexpr uint64_t kNsPerS = 1'000'000'000;

    void refill(uint64_t now_ns) {
        if (!started_) {  // the constructor has no clock; the first call sets it
            started_ = true;
            last_ns_ = now_ns;
            return;
        }
        // Time going backwards (or standing still) refills nothing, and last_ns_
        // stays put so the interval is never credited twice.
        if (now_ns <= last_ns_) return;
        const uint64_t elapsed = now_ns - last_ns_;
        last_ns_ = now_ns;
        if (elapsed >= fill_ns_) {
            tokens_ = burst_;
            rem_ = 0;
            return;
        }
        const uint64_t credit = elapsed * rate_ + rem_;
        tokens_ += credit / kNsPerS;
        rem_ = credit % kNsPerS;
        if (tokens_ >= burst_) {  // a full bucket discards further credit
            tokens_ = burst_;
            rem_ = 0;
        }
    }

    uint64_t rate_;
    uint64_t burst_;
    uint64_t tokens_;
    uint64_t rem_ = 0;       // token-nanoseconds not yet worth a whole token
    uint64_t fill_ns_ = 0;
    uint64_t last_ns_ = 0;
    bool started_ = false;
};

}  // namespace sluice::nbr
