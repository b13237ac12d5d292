// The control channel's state that outlives a connection: who the data
// plane is (a random instance id per start), the last applied generation,
// and which control session is connected. Written by the channel's thread
// (sessions) and the table builder's thread (generations, when a batch is
// applied); read by anyone (hello, show status, the /sluice/control
// telemetry command, the --stats-interval table). No DPDK.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace sluice::dp {

// One view of the control session (docs/control-protocol.md, "show status").
struct ControlView {
    bool connected = false;         // a control session is connected now
    int64_t peer_pid = 0;           // of the control session (the last one, when none is connected)
    uint32_t peer_uid = 0;
    uint64_t generation = 0;        // last applied
    bool synced = false;            // a control process applied state (sync_commit or apply) since start
    double since_request_s = -1;    // seconds since the control session's last request; -1: never
    bool forwarding_on_last_state = false;  // synced, and no control session is connected now
    uint32_t connections = 0;       // open channel connections (control and CLI alike)
};

class ControlState {
public:
    ControlState();

    // 16 hex digits, random per process start.
    const std::string& instance() const { return instance_; }
    double uptime_s() const;

    // --- generations (docs/control-protocol.md, "Generations and idempotence")
    uint64_t generation() const;
    // A generation below the last applied one is stale; equal or above is applied.
    static bool is_stale(uint64_t requested, uint64_t last) { return requested < last; }
    bool stale(uint64_t requested) const { return is_stale(requested, generation()); }
    // A state-changing request with this generation was applied: the last
    // applied generation becomes max(last, g) and the state counts as synced.
    void applied(uint64_t g);
    bool synced() const;

    // --- sessions (the channel's thread)
    void opened(uint64_t conn, pid_t pid, uid_t uid);
    // A connection is the control session when its hello names
    // "sluice-control" or when it changes state (sync, apply, reload).
    void mark_control(uint64_t conn);
    void request(uint64_t conn);
    void closed(uint64_t conn);

    ControlView view() const;

private:
    using Clock = std::chrono::steady_clock;
    struct Session {
        pid_t pid = 0;
        uid_t uid = 0;
        bool control = false;
        Clock::time_point last{};
    };

    std::string instance_;
    Clock::time_point started_;
    mutable std::mutex mu_;
    uint64_t generation_ = 0;
    bool synced_ = false;
    std::map<uint64_t, Session> sessions_;
    // The control session seen last (kept after it closes).
    pid_t last_pid_ = 0;
    uid_t last_uid_ = 0;
    bool any_request_ = false;
    Clock::time_point last_request_{};
};

}  // namespace sluice::dp
