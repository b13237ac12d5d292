// A short sleep that ends on time under a signal storm.
//
// net_tap raises a real-time signal (F_SETSIG) for every packet it can read,
// delivered to whichever thread does not block it, often the agent. A
// relative sleep restarted after EINTR (rte_delay_us_sleep, nanosleep with
// the remainder) never ends under such a storm: the remainder the kernel
// returns is measured to the timer's hard expiry, which includes the
// thread's timer slack (50 us by default), so each restart adds the slack
// again and a 50 us sleep interrupted every 20 us grows forever. Found when
// the agent stopped polling for SIGHUP during a ping flood through net_tap
// (tests/functional/test_signals.py). An absolute deadline on the monotonic
// clock is the same deadline after any number of interruptions.
#pragma once

#include <cerrno>
#include <cstdint>
#include <ctime>

namespace sluice::dp {

inline void sleep_us(uint32_t us) {
    timespec deadline{};
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    uint64_t ns = uint64_t(deadline.tv_nsec) + uint64_t(us) * 1000u;
    deadline.tv_sec += time_t(ns / 1000000000u);
    deadline.tv_nsec = long(ns % 1000000000u);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr) == EINTR) {
    }
}

}  // namespace sluice::dp
