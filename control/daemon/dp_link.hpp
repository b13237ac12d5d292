// The link to the data plane (docs/control.md, "Resync and generations"):
// one thread that keeps a connection to control.socket, pushes the full
// desired state after every (re)connect, and then incremental `apply`s for
// health transitions and operator changes.
//
//   - Reconnects forever, 50 ms back-off doubling to 500 ms, so that a
//     restarted data plane has the full state within a second of its socket
//     appearing. Neither process needs the other to be up first.
//   - Every connection (a reconnect, a new `instance`) starts with a full
//     sync: the data plane diffs it against its tables, so a sync of an
//     unchanged state changes nothing ("sync: generation G, 0 changes").
//   - Generations: strictly increasing, above the data plane's (hello).
//   - While the data plane is unreachable, changes stay in the desired
//     state and go out with the next sync; requests that need an answer from
//     the data plane fail at once with `unreachable` rather than wait.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control/daemon/desired_state.hpp"
#include "control/daemon/dp_conn.hpp"
#include "control/daemon/generation.hpp"
#include "control/daemon/sync_parts.hpp"

namespace sluice::control {

class ControlArena;

struct PushResult {
    enum class Kind { applied, refused, unreachable };
    Kind kind = Kind::unreachable;
    channel::Reply reply;  // applied: the data plane's ok reply; refused: its error reply
    std::string error;     // unreachable: why
};

struct LinkStatus {
    bool connected = false;
    std::string instance;
    uint64_t dataplane_pid = 0;
    uint64_t dataplane_generation = 0;  // as reported at hello
    uint64_t generation = 0;            // the last generation the data plane applied from us
    uint64_t last_sync_generation = 0;
    bool synced = false;  // the current connection had its full sync applied
    std::chrono::system_clock::time_point last_sync{};
    uint64_t last_sync_changes = 0;
    uint64_t connects = 0, syncs = 0, sync_failures = 0, applies = 0, apply_failures = 0;
    double last_sync_seconds = 0;  // encode + send + commit of the last full sync
    double last_encode_seconds = 0;
    std::string last_error;
};

class DpLink {
public:
    struct Hooks {
        // After each hello, before the connection's full sync (the service
        // reads the backends' states there on the first one). `first`: the
        // first connection of this process.
        std::function<void(DpConn&, bool first)> on_connected;
        // No connection within Options::initial_wait of start().
        std::function<void()> on_initial_timeout;
        // The state for a full sync.
        std::function<SyncSnapshot()> snapshot;
        // Health events since the last call, applied to the desired state:
        // the VIPs whose effective state changed.
        std::function<std::vector<std::string>()> drain_events;
        // apply items ({"op":"set","vip":...}) for the named VIPs as they are now.
        std::function<Json(const std::vector<std::string>&)> vip_items;
    };
    struct Options {
        std::string socket;
        SyncLimits limits;
        ControlArena* arena = nullptr;
        std::chrono::milliseconds backoff_min{50}, backoff_max{500};
        std::chrono::milliseconds initial_wait{1000};
        std::chrono::milliseconds connect_timeout{1000};
        std::chrono::milliseconds request_timeout{10000};  // one request (a sync part, a commit of a big diff)
    };

    DpLink(Options opt, Hooks hooks);
    ~DpLink();
    DpLink(const DpLink&) = delete;
    DpLink& operator=(const DpLink&) = delete;

    void start();
    void stop();
    // Any thread: there is work (health events, dirty VIPs).
    void wake();
    // Any thread: these VIPs need an apply (their state changed without a push).
    void mark_dirty(const std::vector<std::string>& vips);

    // From threads other than the link's: an apply of these items now, a
    // full sync now, or any request on the link's connection; each waits for
    // the data plane's reply (at most `timeout`).
    PushResult push(Json route_items, std::vector<std::string> vips, std::chrono::milliseconds timeout);
    PushResult sync_now(std::chrono::milliseconds timeout);
    PushResult request(std::string type, Json args, std::chrono::milliseconds timeout);

    LinkStatus status() const;

private:
    struct Job {
        enum class Kind { apply, sync, request } kind = Kind::apply;
        Json route_items = Json::array();
        std::vector<std::string> vips;
        std::string type;
        Json args;
        std::promise<PushResult> done;
    };
    PushResult submit(std::shared_ptr<Job> job, std::chrono::milliseconds timeout);
    void run();
    void on_connect(bool first);
    PushResult full_sync();
    PushResult apply(const Json& route_items, const std::vector<std::string>& vips);
    PushResult classify(channel::Reply r, const char* what);
    void fail_jobs(const std::string& why);
    void process_jobs();
    void wait(std::chrono::milliseconds ms, bool watch_conn);
    void set_error(const std::string& e);

    Options opt_;
    Hooks hooks_;
    DpConn conn_;
    Generations gen_;
    RouteCache route_cache_;  // encoded route parts, reused while the routes are unchanged
    bool need_full_ = true;
    std::vector<std::string> dirty_;  // link thread only

    int event_fd_ = -1;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    bool started_ = false;

    mutable std::mutex mu_;  // jobs_, marked_, status_
    std::deque<std::shared_ptr<Job>> jobs_;
    std::vector<std::string> marked_;
    LinkStatus status_;
};

}  // namespace sluice::control
