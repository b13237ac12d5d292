// A backend's health as HAProxy and GLB keep it: separate thresholds for
// going down (`fall` consecutive failures while up) and coming back (`rise`
// consecutive successes while down). Pure logic, unit-tested: a flapping
// backend can change state at most once per `rise` (or `fall`) probes.
#pragma once

#include <cstdint>

namespace sluice::health {

class HealthState {
public:
    HealthState(uint32_t rise, uint32_t fall, bool up) : rise_(rise ? rise : 1), fall_(fall ? fall : 1), up_(up) {}
    // Records one probe outcome; true when the state changed.
    bool record(bool success);
    bool up() const { return up_; }
    // Consecutive outcomes counting towards the next change (0 .. rise-1 or fall-1).
    uint32_t progress() const { return run_; }
    uint32_t rise() const { return rise_; }
    uint32_t fall() const { return fall_; }
    // Changes the thresholds (a reload), keeping the state and the run so far (capped).
    void set_thresholds(uint32_t rise, uint32_t fall);

private:
    uint32_t rise_, fall_;
    bool up_;
    uint32_t run_ = 0;  // consecutive outcomes against the current state
};

}  // namespace sluice::health
