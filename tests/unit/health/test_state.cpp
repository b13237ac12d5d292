// HealthState: HAProxy/GLB rise and fall.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "control/health/state.hpp"

using sluice::health::HealthState;

TEST(HealthState, FallTakesAnUpBackendDown) {
    HealthState s(2, 3, true);
    EXPECT_FALSE(s.record(false));
    EXPECT_EQ(s.progress(), 1u);
    EXPECT_FALSE(s.record(false));
    EXPECT_EQ(s.progress(), 2u);
    EXPECT_TRUE(s.record(false));
    EXPECT_FALSE(s.up());
    EXPECT_EQ(s.progress(), 0u);
    EXPECT_FALSE(s.record(false));  // already down: no change, no progress
    EXPECT_EQ(s.progress(), 0u);
}

TEST(HealthState, RiseBringsADownBackendUp) {
    HealthState s(2, 3, false);
    EXPECT_FALSE(s.record(true));
    EXPECT_EQ(s.progress(), 1u);
    EXPECT_TRUE(s.record(true));
    EXPECT_TRUE(s.up());
    EXPECT_FALSE(s.record(true));
    EXPECT_EQ(s.progress(), 0u);
}

TEST(HealthState, AnAgreeingOutcomeResetsTheRun) {
    HealthState s(2, 3, true);
    s.record(false);
    s.record(false);
    EXPECT_FALSE(s.record(true));  // a success while up: the failures start over
    EXPECT_EQ(s.progress(), 0u);
    EXPECT_FALSE(s.record(false));
    EXPECT_FALSE(s.record(false));
    EXPECT_TRUE(s.up());
    EXPECT_TRUE(s.record(false));
    EXPECT_FALSE(s.up());
}

TEST(HealthState, ZeroThresholdsMeanOne) {
    HealthState s(0, 0, true);
    EXPECT_EQ(s.rise(), 1u);
    EXPECT_EQ(s.fall(), 1u);
    EXPECT_TRUE(s.record(false));
    EXPECT_TRUE(s.record(true));
}

TEST(HealthState, RiseAndFallOfOneFollowEveryOutcome) {
    HealthState s(1, 1, true);
    bool expect = true;
    std::mt19937 rng(7);
    for (int i = 0; i < 1000; ++i) {
        const bool ok = rng() & 1;
        EXPECT_EQ(s.record(ok), ok != expect);
        expect = ok;
        EXPECT_EQ(s.up(), ok);
    }
}

TEST(HealthState, FlappingNeverChangesStateWhenThresholdsAboveOne) {
    for (uint32_t rise = 2; rise <= 5; ++rise)
        for (uint32_t fall = 2; fall <= 5; ++fall)
            for (bool up : {true, false})
                for (bool first : {true, false}) {
                    HealthState s(rise, fall, up);
                    bool ok = first;
                    for (int i = 0; i < 1000; ++i, ok = !ok) EXPECT_FALSE(s.record(ok));
                    EXPECT_EQ(s.up(), up);
                    EXPECT_LE(s.progress(), 1u);
                }
}

namespace {

// The reference: the outcomes since the last change, kept whole; the state
// flips when the last `need` of them all disagree with it.
struct Reference {
    uint32_t rise, fall;
    bool up;
    std::vector<bool> since_change;
    uint64_t transitions = 0;
    bool record(bool ok) {
        since_change.push_back(ok);
        const uint32_t need = up ? fall : rise;
        if (since_change.size() < need) return false;
        for (size_t i = since_change.size() - need; i < since_change.size(); ++i)
            if (since_change[i] == up) return false;
        up = !up;
        since_change.clear();
        ++transitions;
        return true;
    }
    uint32_t progress() const {
        uint32_t n = 0;
        for (auto it = since_change.rbegin(); it != since_change.rend() && *it != up; ++it) ++n;
        return n;
    }
};

}  // namespace

TEST(HealthState, MatchesTheReferenceOverLongRandomSequences) {
    std::mt19937_64 rng(12345);
    for (uint32_t rise = 1; rise <= 6; ++rise)
        for (uint32_t fall = 1; fall <= 6; ++fall)
            for (double p_ok : {0.1, 0.5, 0.7, 0.95}) {
                HealthState s(rise, fall, true);
                Reference ref{rise, fall, true, {}};
                std::bernoulli_distribution outcome(p_ok);
                uint64_t transitions = 0;
                for (int i = 0; i < 20000; ++i) {
                    const bool ok = outcome(rng);
                    const bool changed = s.record(ok);
                    ASSERT_EQ(changed, ref.record(ok)) << "rise " << rise << " fall " << fall << " step " << i;
                    transitions += changed;
                    ASSERT_EQ(s.up(), ref.up);
                    ASSERT_EQ(s.progress(), ref.progress());
                    ASSERT_LT(s.progress(), s.up() ? fall : rise);
                }
                EXPECT_EQ(transitions, ref.transitions);
                if (rise == 1 && fall == 1) {
                    EXPECT_GT(transitions, 0u);
                }
            }
}

TEST(HealthState, SetThresholdsKeepsStateAndRun) {
    HealthState s(2, 5, true);
    s.record(false);
    s.record(false);
    s.set_thresholds(3, 4);
    EXPECT_TRUE(s.up());
    EXPECT_EQ(s.progress(), 2u);
    EXPECT_EQ(s.rise(), 3u);
    EXPECT_EQ(s.fall(), 4u);
    EXPECT_FALSE(s.record(false));
    EXPECT_TRUE(s.record(false));  // 4 failures in a row under the new fall
    EXPECT_FALSE(s.up());
}

TEST(HealthState, SetThresholdsCapsTheRunBelowTheNewThreshold) {
    HealthState s(2, 5, true);
    for (int i = 0; i < 4; ++i) s.record(false);
    s.set_thresholds(2, 2);  // 4 failures counted, fall now 2: no change without a new probe
    EXPECT_TRUE(s.up());
    EXPECT_EQ(s.progress(), 1u);
    EXPECT_TRUE(s.record(false));
    EXPECT_FALSE(s.up());

    HealthState d(4, 2, false);
    for (int i = 0; i < 3; ++i) d.record(true);
    d.set_thresholds(0, 0);  // 0 means 1
    EXPECT_EQ(d.rise(), 1u);
    EXPECT_EQ(d.progress(), 0u);
    EXPECT_FALSE(d.up());
    EXPECT_TRUE(d.record(true));
}
