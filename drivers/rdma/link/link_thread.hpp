// The link threads: one per RDMA peer, off the workers' cores (a peer whose
// other end is slow or absent never delays another; and two peers of one
// process may be each other's other end, as the benchmark's are). Each runs the out-of-band exchange over TCP (listening or
// connecting, with back-off), builds the queue pair, hands the peer to its
// worker, and watches both ends: a peer the worker gave up (a completion
// error) or whose exchange connection closed (the other process died or
// restarted) is torn down and connected again (docs/rdma.md, "Life of a
// link"). It never touches a peer while its worker owns it (peer.hpp).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "drivers/rdma/connect/oob_message.hpp"

namespace sluice::drivers::rdma {

class Peer;

struct LinkSpec {
    Peer* peer = nullptr;
    std::string name;             // the peer's name in the config (log lines)
    std::string listen;           // host:port to wait on, or
    std::string connect;          // host:port to reach
    std::array<uint8_t, 6> mac{}; // our link MAC, sent in the exchange
};

// What telemetry shows of a link besides the peer's counters.
struct LinkStatus {
    std::string phase;            // "waiting", "exchanging", "up", "resetting"
    std::string last_error;       // the last failure, "" if none
    uint64_t connects = 0;        // times the link came up
    uint64_t failed_exchanges = 0;
    bool have_remote = false;
    EndpointInfo remote;          // what the other side said last
};

class LinkThread {
public:
    explicit LinkThread(std::vector<LinkSpec> links);
    ~LinkThread();
    LinkThread(const LinkThread&) = delete;
    LinkThread& operator=(const LinkThread&) = delete;

    // Opens the listening sockets (an error names the peer and the address)
    // and starts the threads; `on_thread_start` runs first in each (pinning).
    bool start(std::function<void()> on_thread_start, std::string* err);
    // Stops and joins. The peers are left as they are: the caller tears
    // them down once their workers have stopped.
    void stop();

    size_t size() const { return links_.size(); }
    LinkStatus status(size_t i) const;

    // Bounds of the exchange (milliseconds), tests shorten them.
    int step_timeout_ms = 2000;
    int retry_min_ms = 100;
    int retry_max_ms = 1000;

private:
    struct Link;
    void run(Link& l);
    void step(Link& l);
    bool exchange(Link& l, int fd, std::string* err);
    void give_up(Link& l, const std::string& why);
    void set_error(Link& l, const std::string& e);

    std::vector<Link*> links_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stop_{false};
    std::function<void()> on_start_;
    mutable std::mutex status_mu_;
};

}  // namespace sluice::drivers::rdma
