// Generations of the changes the control process sends (docs/control-protocol.md,
// "Generations and idempotence"): strictly increasing, and always above the
// last one the data plane reported, so that a delayed request from an older
// control process (or from before a restart of this one) can never undo a
// newer state: the data plane refuses anything below its last applied one.
#pragma once

#include <algorithm>
#include <cstdint>

namespace sluice::control {

class Generations {
public:
    // The data plane's last applied generation (hello, or a reply).
    void observe(uint64_t reported) { last_ = std::max(last_, reported); }
    // The generation for the next sync_commit or apply: above everything
    // observed and everything handed out before.
    uint64_t next() { return ++last_; }
    uint64_t last() const { return last_; }

private:
    uint64_t last_ = 0;
};

}  // namespace sluice::control
