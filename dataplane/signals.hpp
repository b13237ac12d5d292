// Process signals, taken in one place. SIGHUP (reload), SIGINT and SIGTERM
// (stop) are blocked in the thread that creates the SignalSource, before
// rte_eal_init, so every thread started afterwards (DPDK's telemetry, interrupt
// and multi-process threads, the lcores, ours) inherits the mask and none of
// them is ever interrupted by one: a handler landing on DPDK's telemetry
// listener makes its accept() fail with EINTR, and the listener then quits for
// good. The blocked signals stay pending in the kernel and are read from a
// signalfd by the agent's loop, so one arriving during start-up is not lost.
#pragma once

#include <string>

namespace sluice::dp {

class SignalSource {
public:
    // What arrived since the last poll(). The kernel keeps at most one
    // instance of each standard signal pending, so a storm of SIGHUPs between
    // two polls is one reload.
    struct Arrived {
        bool stop = false;     // SIGINT or SIGTERM
        bool reload = false;   // SIGHUP
    };

    // Blocks the signals in the calling thread and opens the signalfd. Call
    // from main before any thread exists. On failure ok() is false and
    // error() says why (the mask is left as it was).
    SignalSource();
    ~SignalSource();
    SignalSource(const SignalSource&) = delete;
    SignalSource& operator=(const SignalSource&) = delete;

    bool ok() const { return fd_ >= 0; }
    const std::string& error() const { return error_; }

    // Non-blocking: reads every pending signal.
    Arrived poll();

private:
    int fd_ = -1;
    std::string error_;
};

}  // namespace sluice::dp
