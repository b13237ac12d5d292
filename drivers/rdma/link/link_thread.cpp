#include "drivers/rdma/link/link_thread.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "drivers/rdma/connect/oob_socket.hpp"
#include "drivers/rdma/transport/peer.hpp"

namespace sluice::drivers::rdma {

namespace {

using Clock = std::chrono::steady_clock;

// One byte after both sides reached RTS: "my queue pair takes your SENDs".
// Without it the faster side's first SENDs could reach a queue pair still in
// INIT, which drops them; the HCA would retry, the stand-in would not.
constexpr uint8_t kReady = 'R';

bool send_byte(int fd, uint8_t b) { return ::send(fd, &b, 1, MSG_NOSIGNAL) == 1; }

bool recv_byte(int fd, int timeout_ms, uint8_t* b, std::string* err) {
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, timeout_ms);
    if (r == 0) {
        *err = "no ready signal within " + std::to_string(timeout_ms) + " ms";
        return false;
    }
    ssize_t n = r > 0 ? ::recv(fd, b, 1, 0) : -1;
    if (n == 1) return true;
    *err = n == 0 ? "the peer closed the exchange before it was ready" : std::string("recv: ") + std::strerror(errno);
    return false;
}

}  // namespace

struct LinkThread::Link {
    LinkSpec spec;
    enum class Phase { waiting, up, resetting } phase = Phase::waiting;
    int listen_fd = -1;
    int fd = -1;               // the exchange connection, kept open while up (liveness)
    Clock::time_point next_try{};
    int backoff_ms = 0;
    Clock::time_point reset_since{};
    bool reset_logged = false;
    LinkStatus status;         // guarded by status_mu_
};

LinkThread::LinkThread(std::vector<LinkSpec> links) {
    for (auto& s : links) {
        auto* l = new Link;
        l->spec = std::move(s);
        l->status.phase = "waiting";
        links_.push_back(l);
    }
}

LinkThread::~LinkThread() {
    stop();
    for (Link* l : links_) {
        if (l->fd >= 0) ::close(l->fd);
        if (l->listen_fd >= 0) ::close(l->listen_fd);
        delete l;
    }
}

bool LinkThread::start(std::function<void()> on_thread_start, std::string* err) {
    for (Link* l : links_) {
        if (l->spec.listen.empty()) continue;
        l->listen_fd = oob_listen(l->spec.listen, err);
        if (l->listen_fd < 0) {
            *err = "rdma peer " + l->spec.name + ": listen on " + l->spec.listen + ": " + *err;
            return false;
        }
    }
    on_start_ = std::move(on_thread_start);
    stop_.store(false);
    for (Link* l : links_) threads_.emplace_back([this, l] { run(*l); });
    return true;
}

void LinkThread::stop() {
    stop_.store(true);
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
}

LinkStatus LinkThread::status(size_t i) const {
    std::lock_guard<std::mutex> g(status_mu_);
    return links_.at(i)->status;
}

void LinkThread::set_error(Link& l, const std::string& e) {
    bool fresh;
    {
        std::lock_guard<std::mutex> g(status_mu_);
        fresh = l.status.last_error != e;
        l.status.last_error = e;
    }
    // One line per distinct failure: a peer that is simply not there yet
    // does not fill the log at the retry rate.
    if (fresh) {
        std::printf("rdma: %s: %s\n", l.spec.name.c_str(), e.c_str());
        std::fflush(stdout);
    }
}

void LinkThread::run(Link& l) {
    if (on_start_) on_start_();
    while (!stop_.load(std::memory_order_relaxed)) {
        step(l);
        // Nothing here is urgent: a 20 ms tick bounds how late a failure is
        // noticed (the workers keep dropping to a failed peer meanwhile,
        // counted as rdma_peer_down); a new connection or a close wakes us.
        pollfd p{-1, POLLIN, 0};
        if (l.phase == Link::Phase::waiting && l.listen_fd >= 0) p.fd = l.listen_fd;
        if (l.phase == Link::Phase::up && l.fd >= 0) p.fd = l.fd;
        ::poll(&p, 1, 20);
    }
}

void LinkThread::give_up(Link& l, const std::string& why) {
    if (l.fd >= 0) ::close(l.fd);
    l.fd = -1;
    l.spec.peer->teardown();
    l.phase = Link::Phase::waiting;
    l.backoff_ms = std::clamp(l.backoff_ms * 2, retry_min_ms, retry_max_ms);
    l.next_try = Clock::now() + std::chrono::milliseconds(l.backoff_ms);
    {
        std::lock_guard<std::mutex> g(status_mu_);
        l.status.phase = "waiting";
    }
    if (!why.empty()) set_error(l, why);
}

void LinkThread::step(Link& l) {
    Peer& peer = *l.spec.peer;
    switch (l.phase) {
    case Link::Phase::waiting: {
        int fd = -1;
        std::string err;
        if (l.listen_fd >= 0) {
            fd = oob_accept(l.listen_fd, 0, &err);
            if (fd < 0) {
                if (fd != -2) set_error(l, "accept: " + err);
                return;
            }
        } else {
            if (Clock::now() < l.next_try) return;
            fd = oob_connect(l.spec.connect, 200, &err);
            if (fd < 0) {
                give_up(l, "connect to " + l.spec.connect + ": " + err + " (retrying)");
                return;
            }
        }
        l.fd = fd;
        {
            std::lock_guard<std::mutex> g(status_mu_);
            l.status.phase = "exchanging";
        }
        if (!exchange(l, fd, &err)) {
            {
                std::lock_guard<std::mutex> g(status_mu_);
                ++l.status.failed_exchanges;
            }
            give_up(l, "exchange: " + err);
            return;
        }
        l.phase = Link::Phase::up;
        l.backoff_ms = 0;
        return;
    }
    case Link::Phase::up:
        if (peer.state() == PeerState::failed) {
            // The worker saw a completion error and let go: close the
            // exchange so the other side resets too, then rebuild.
            give_up(l, "queue pair failed (completion error); reconnecting");
            return;
        }
        if (oob_peer_closed(l.fd)) {
            // The other process is gone or rebuilding: its queue pair is
            // not coming back. Ask the worker to let go first.
            peer.request_reset();
            l.phase = Link::Phase::resetting;
            l.reset_since = Clock::now();
            l.reset_logged = false;
            {
                std::lock_guard<std::mutex> g(status_mu_);
                l.status.phase = "resetting";
            }
            set_error(l, "the peer closed the exchange connection; resetting the queue pair");
            return;
        }
        // Nothing more is expected on the exchange once up: bytes that
        // arrive anyway are read and ignored (else poll() would wake this
        // thread forever).
        for (int i = 0; i < 16; ++i) {
            uint8_t junk[256];
            if (::recv(l.fd, junk, sizeof junk, MSG_DONTWAIT) <= 0) break;
        }
        return;
    case Link::Phase::resetting:
        if (peer.state() == PeerState::failed || peer.state() == PeerState::down) {
            give_up(l, "");
            return;
        }
        // The owning worker acknowledges at its next poll; if it is not
        // polling (stopped) the peer stays until shutdown tears it down.
        if (!l.reset_logged && Clock::now() - l.reset_since > std::chrono::seconds(2)) {
            l.reset_logged = true;
            set_error(l, "waiting for the owning worker to release the queue pair");
        }
        return;
    }
}

bool LinkThread::exchange(Link& l, int fd, std::string* err) {
    Peer& peer = *l.spec.peer;
    if (peer.state() != PeerState::down) peer.teardown();
    EndpointInfo local;
    if (!peer.prepare(&local, err)) return false;
    local.mac = l.spec.mac;
    local.name = l.spec.name.substr(0, 15);
    if (!oob_send(fd, local, step_timeout_ms, err)) return false;
    auto remote = oob_recv(fd, step_timeout_ms, err);
    if (!remote) return false;
    {
        std::lock_guard<std::mutex> g(status_mu_);
        l.status.remote = *remote;
        l.status.have_remote = true;
    }
    if (!peer.connect(*remote, err)) return false;
    uint8_t b = 0;
    if (!send_byte(fd, kReady)) {
        *err = std::string("sending the ready signal: ") + std::strerror(errno);
        return false;
    }
    if (!recv_byte(fd, step_timeout_ms, &b, err)) return false;
    if (b != kReady) {
        *err = "unexpected byte " + std::to_string(b) + " instead of the ready signal";
        return false;
    }
    peer.activate();
    uint64_t n;
    {
        std::lock_guard<std::mutex> g(status_mu_);
        l.status.phase = "up";
        n = ++l.status.connects;
        l.status.last_error.clear();
    }
    std::printf("rdma: %s: up (local qpn %u, remote %s qpn %u, credits %u, connect #%lu)\n", l.spec.name.c_str(),
                local.qpn, remote->name.c_str(), remote->qpn, remote->recv_credits, (unsigned long)n);
    std::fflush(stdout);
    return true;
}

}  // namespace sluice::drivers::rdma
