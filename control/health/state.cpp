// HealthState: the rise/fall counter of HAProxy's checks (server `rise`,
// `fall`) and GLB's healthcheck, reduced to one run length. Only outcomes
// that disagree with the current state count, and only consecutively: one
// outcome that agrees with the state (a success while up, a failure while
// down) resets the run, so a backend flapping between success and failure
// never changes state when rise and fall are both above 1.
#include "control/health/state.hpp"

namespace sluice::health {

bool HealthState::record(bool success) {
    if (success == up_) {
        // The outcome confirms the current state: whatever run towards a
        // change there was is broken (HAProxy resets its health counter to
        // the state's end the same way).
        run_ = 0;
        return false;
    }
    ++run_;
    const uint32_t need = up_ ? fall_ : rise_;
    if (run_ < need) return false;
    up_ = !up_;
    run_ = 0;
    return true;
}

void HealthState::set_thresholds(uint32_t rise, uint32_t fall) {
    // 0 means 1, as in the constructor: a threshold of 0 would change state
    // without any evidence.
    rise_ = rise ? rise : 1;
    fall_ = fall ? fall : 1;
    // Keep the run, capped below the new threshold: lowering `fall` from 5 to
    // 2 while 3 failures are already counted leaves the backend up with one
    // failure to go (progress() stays within 0 .. threshold-1), rather than
    // flipping it on a reload with no new probe. The next disagreeing outcome
    // completes the change.
    const uint32_t need = up_ ? fall_ : rise_;
    if (run_ >= need) run_ = need - 1;
}

}  // namespace sluice::health
