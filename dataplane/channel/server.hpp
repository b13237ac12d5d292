// The data plane's end of the control channel (docs/control-protocol.md):
// a thread of its own (not a worker, not the agent's loop) running epoll
// over the listening Unix socket and its connections.
//
// - Credentials are checked on accept (SO_PEERCRED, channel::AccessPolicy);
//   a refused peer gets one not_permitted error and is closed.
// - Per connection: a FrameReader bounded by control.max_message, a
//   Session (channel/session.hpp) and an output buffer. Writes are
//   non-blocking; while a reply waits to be written or a request is being
//   answered, the connection's next request is not read. A peer whose
//   unread output passes kMaxOutput, or that reads nothing for
//   kWriteStall, is dropped: a slow client never holds up anyone.
// - Replies computed elsewhere (a batch on the table builder's thread)
//   come back through a queue and an eventfd.
// - Errors that close a connection close it once their reply is written.
//
// No DPDK: unit tests run it with a fake backend.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <tuple>
#include <string>
#include <thread>
#include <vector>

#include "control/api/frame.hpp"
#include "control/api/unix_socket.hpp"
#include "dataplane/channel/session.hpp"

namespace sluice::dp {

class ControlState;

struct ServerOptions {
    std::string path;                // the socket (control.socket)
    std::string group;               // control.group ("" = none)
    uint32_t max_message = channel::kDefaultMaxMessage;
    size_t max_connections = 64;     // more are accepted and closed at once
    // Runs first on the server's thread (pinning it off the workers' cores).
    std::function<void()> on_thread_start;
    bool log = true;                 // one line per refused peer / closing error (rate limited)
};

class ChannelServer {
public:
    static constexpr size_t kMaxOutput = size_t(64) << 20;  // above this much unread output: dropped
    static constexpr auto kWriteStall = std::chrono::seconds(10);

    ChannelServer(Backend& backend, ControlState& state);
    ~ChannelServer();
    ChannelServer(const ChannelServer&) = delete;
    ChannelServer& operator=(const ChannelServer&) = delete;

    // Listens and starts the thread. False and *err when the socket cannot
    // be set up (another instance listens there, no such group, ...).
    bool start(const ServerOptions& opt, std::string* err);
    // Closes every connection and the socket, removes the socket file and
    // joins. Replies still being computed are dropped. Idempotent.
    void stop();

    const std::string& path() const { return opt_.path; }

private:
    struct Conn;
    // Replies from other threads, by connection id.
    struct Outbox {
        std::mutex mu;
        bool closed = false;
        int efd = -1;
        std::vector<std::tuple<uint64_t, std::string, bool>> items;
        void push(uint64_t conn, std::string bytes, bool close);
    };

    void run();
    void loop_once();
    void accept_all();
    void drain_outbox();
    void serve_ready();
    void on_readable(Conn& c);
    void process(Conn& c);
    void flush(Conn& c);
    void update(Conn& c);
    void close_conn(uint64_t id);
    void check_stalls();
    void log(const std::string& line);

    Backend& backend_;
    ControlState& state_;
    ServerOptions opt_;
    channel::AccessPolicy policy_;
    int listen_fd_ = -1;
    int epoll_fd_ = -1;
    int stop_fd_ = -1;
    dev_t sock_dev_ = 0;
    ino_t sock_ino_ = 0;
    std::shared_ptr<Outbox> outbox_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    SyncLock lock_;
    uint64_t next_id_ = 1;
    std::map<uint64_t, std::unique_ptr<Conn>> conns_;
    std::set<uint64_t> ready_;  // connections with a new reply: serve their next request
    // Log rate limit: at most kLogBurst lines per kLogWindow, then a count.
    std::chrono::steady_clock::time_point log_window_{};
    uint32_t log_lines_ = 0, log_suppressed_ = 0;
};

}  // namespace sluice::dp
