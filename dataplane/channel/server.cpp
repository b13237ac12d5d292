#include "dataplane/channel/server.hpp"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "dataplane/channel/state.hpp"

namespace sluice::dp {

using channel::ErrorCode;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kReadChunk = 64 * 1024;
// Below this much pending output a connection's next request is read.
constexpr size_t kOutLow = 256 * 1024;
// Bytes read from one connection per readiness event (fairness).
constexpr size_t kReadBudget = 1 << 20;
constexpr uint32_t kLogBurst = 20;
constexpr auto kLogWindow = std::chrono::seconds(10);

// epoll data: the listening socket, the wake-up eventfd, else a connection id.
constexpr uint64_t kListenTag = 0;
constexpr uint64_t kWakeTag = UINT64_MAX;

void wake(int efd) {
    uint64_t one = 1;
    ssize_t n = ::write(efd, &one, sizeof one);
    (void)n;  // EAGAIN: the counter is already non-zero, the loop will wake
}

}  // namespace

struct ChannelServer::Conn {
    Conn(uint64_t id_, int fd_, uint32_t max, Backend& b, ControlState& st, SyncLock& lock)
        : id(id_), fd(fd_), reader(max), session(id_, b, st, lock, max) {}
    uint64_t id;
    int fd;
    channel::PeerCred cred;
    channel::FrameReader reader;
    Session session;
    std::string out;
    size_t out_off = 0;
    bool awaiting = false;  // a request's reply has not come back yet
    bool closing = false;   // close once `out` is written
    bool eof = false;       // the peer closed its side
    uint32_t events = 0;    // epoll interest now
    Clock::time_point stalled_since{};  // output pending and nothing written since
    size_t pending() const { return out.size() - out_off; }
};

void ChannelServer::Outbox::push(uint64_t conn, std::string bytes, bool close) {
    std::lock_guard<std::mutex> g(mu);
    if (closed) return;
    items.emplace_back(conn, std::move(bytes), close);
    wake(efd);
}

ChannelServer::ChannelServer(Backend& backend, ControlState& state) : backend_(backend), state_(state) {}

ChannelServer::~ChannelServer() { stop(); }

bool ChannelServer::start(const ServerOptions& opt, std::string* err) {
    if (thread_.joinable()) {
        *err = "already started";
        return false;
    }
    opt_ = opt;
    policy_ = {};
    policy_.owner = ::geteuid();
    if (!channel::resolve_group(opt.group, &policy_, err)) {
        *err = "control.group: " + *err;
        return false;
    }
    listen_fd_ = channel::listen_unix(opt.path, policy_, err);
    if (listen_fd_ < 0) return false;
    struct stat st{};
    if (::stat(opt.path.c_str(), &st) == 0) {
        sock_dev_ = st.st_dev;
        sock_ino_ = st.st_ino;
    }
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || stop_fd_ < 0) {
        *err = std::string("epoll/eventfd: ") + std::strerror(errno);
        stop();
        return false;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenTag;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
    ev.data.u64 = kWakeTag;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &ev);
    outbox_ = std::make_shared<Outbox>();
    outbox_->efd = stop_fd_;
    stop_.store(false);
    thread_ = std::thread([this] { run(); });
    pthread_setname_np(thread_.native_handle(), "sluice-channel");
    return true;
}

void ChannelServer::stop() {
    if (outbox_) {
        std::lock_guard<std::mutex> g(outbox_->mu);
        outbox_->closed = true;
        outbox_->items.clear();
    }
    stop_.store(true);
    if (stop_fd_ >= 0) wake(stop_fd_);
    if (thread_.joinable()) thread_.join();
    while (!conns_.empty()) close_conn(conns_.begin()->first);
    if (listen_fd_ >= 0) {
        ::close(listen_fd_);
        listen_fd_ = -1;
        // Remove the socket file, unless someone replaced it meanwhile.
        struct stat st{};
        if (::lstat(opt_.path.c_str(), &st) == 0 && st.st_dev == sock_dev_ && st.st_ino == sock_ino_)
            ::unlink(opt_.path.c_str());
    }
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
    epoll_fd_ = -1;
    if (stop_fd_ >= 0) {
        // The outbox may still be referenced by a reply being computed: it
        // is closed, so it never writes to the fd again.
        ::close(stop_fd_);
        stop_fd_ = -1;
    }
}

void ChannelServer::log(const std::string& line) {
    if (!opt_.log) return;
    auto now = Clock::now();
    if (now - log_window_ > kLogWindow) {
        if (log_suppressed_)
            std::printf("channel: %u more lines like these were not printed\n", log_suppressed_);
        log_window_ = now;
        log_lines_ = 0;
        log_suppressed_ = 0;
    }
    if (++log_lines_ > kLogBurst) {
        ++log_suppressed_;
        return;
    }
    std::printf("channel: %s\n", line.c_str());
    std::fflush(stdout);
}

void ChannelServer::run() {
    if (opt_.on_thread_start) opt_.on_thread_start();
    while (!stop_.load()) {
        // Nothing may end this thread: an exception (bad_alloc) costs the
        // connections being served at most, never the channel.
        try {
            loop_once();
        } catch (const std::exception& e) {
            log(std::string("internal error: ") + e.what());
        }
    }
}

void ChannelServer::loop_once() {
    epoll_event evs[64];
    int n = ::epoll_wait(epoll_fd_, evs, 64, 500);
    if (n < 0) {
        if (errno != EINTR) {
            log(std::string("epoll_wait: ") + std::strerror(errno));
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return;
    }
    for (int i = 0; i < n && !stop_.load(); ++i) {
        const uint64_t tag = evs[i].data.u64;
        const uint32_t e = evs[i].events;
        if (tag == kListenTag) {
            accept_all();
            continue;
        }
        if (tag == kWakeTag) {
            uint64_t v = 0;
            ssize_t r = ::read(stop_fd_, &v, sizeof v);
            (void)r;
            continue;
        }
        auto it = conns_.find(tag);
        if (it == conns_.end()) continue;
        Conn& c = *it->second;
        if (e & (EPOLLERR | EPOLLHUP)) {
            // The peer is gone both ways: nothing owed can be written.
            if (c.reader.partial())
                log("connection " + std::to_string(c.id) + " (pid " + std::to_string(c.cred.pid) +
                    "): closed in the middle of a frame (truncated)");
            close_conn(tag);
            continue;
        }
        if (e & EPOLLIN) on_readable(c);
        flush(c);  // may close it
        if (auto again = conns_.find(tag); again != conns_.end()) update(*again->second);
    }
    drain_outbox();
    serve_ready();
    check_stalls();
}

void ChannelServer::serve_ready() {
    // process() may make more connections ready (replies computed inline):
    // loop until none is left.
    while (!ready_.empty()) {
        uint64_t id = *ready_.begin();
        ready_.erase(ready_.begin());
        auto it = conns_.find(id);
        if (it == conns_.end()) continue;
        process(*it->second);
        flush(*it->second);  // may close it
        if (auto again = conns_.find(id); again != conns_.end()) update(*again->second);
    }
}

void ChannelServer::accept_all() {
    for (int k = 0; k < 64; ++k) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                log(std::string("accept: ") + std::strerror(errno));
            return;
        }
        channel::PeerCred cred;
        if (!channel::peer_cred(fd, &cred)) {
            log(std::string("cannot read a peer's credentials (SO_PEERCRED): ") + std::strerror(errno));
            ::close(fd);
            continue;
        }
        uint64_t id = next_id_++;
        auto c = std::make_unique<Conn>(id, fd, opt_.max_message, backend_, state_, lock_);
        c->cred = cred;
        Conn& conn = *c;
        conns_.emplace(id, std::move(c));
        if (!policy_.allows(cred)) {
            log("refused pid " + std::to_string(cred.pid) + " uid " + std::to_string(cred.uid) + " gid " +
                std::to_string(cred.gid) + ": not permitted");
            conn.out = Session::error_frame(make_error(
                ErrorCode::not_permitted, "not permitted: uid " + std::to_string(cred.uid) + " gid " +
                                              std::to_string(cred.gid) +
                                              " may not use this socket (root, the data plane's uid" +
                                              (policy_.group_set ? ", and peers whose primary group is control.group"
                                                                 : std::string()) +
                                              " may)"));
            conn.closing = true;
        } else if (conns_.size() > opt_.max_connections) {
            log("refused pid " + std::to_string(cred.pid) + ": more than " + std::to_string(opt_.max_connections) +
                " connections");
            conn.out = Session::error_frame(
                make_error(ErrorCode::busy, "too many connections (" + std::to_string(opt_.max_connections) + ")"));
            conn.closing = true;
        } else {
            state_.opened(id, cred.pid, cred.uid);
        }
        conn.stalled_since = Clock::now();
        epoll_event ev{};
        ev.events = 0;
        ev.data.u64 = id;
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close_conn(id);
            continue;
        }
        flush(conn);  // may close it
        if (auto again = conns_.find(id); again != conns_.end()) update(*again->second);
    }
}

// Reads what is there (never closes: flush() does).
void ChannelServer::on_readable(Conn& c) {
    char buf[kReadChunk];
    size_t got = 0;
    while (got < kReadBudget && !c.closing && !c.awaiting && !c.eof && c.pending() < kOutLow) {
        ssize_t n = ::read(c.fd, buf, sizeof buf);
        if (n > 0) {
            c.reader.feed(buf, size_t(n));
            got += size_t(n);
            process(c);  // parse as we go: a frame error stops reading at once
            continue;
        }
        if (n == 0) {
            c.eof = true;
            process(c);
            return;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            c.closing = true;  // ECONNRESET: flush() closes it
            c.out.clear();
            c.out_off = 0;
        }
        return;
    }
}

// Answers the buffered requests, one at a time (never closes).
void ChannelServer::process(Conn& c) {
    while (!c.closing && !c.awaiting && c.pending() < kOutLow) {
        std::string body;
        auto st = c.reader.next(&body);
        if (st == channel::FrameReader::Status::need_more) {
            if (c.eof) {
                // Nothing more will come: what is owed is still written.
                if (c.reader.partial())
                    log("connection " + std::to_string(c.id) + " (pid " + std::to_string(c.cred.pid) +
                        "): closed in the middle of a frame (truncated, " + std::to_string(c.reader.buffered()) +
                        " bytes)");
                c.closing = true;
                c.session.end();
            }
            return;
        }
        if (st == channel::FrameReader::Status::error) {
            const std::string& why = c.reader.error();
            ErrorCode code =
                why.find("above the limit") != std::string::npos ? ErrorCode::too_large : ErrorCode::bad_frame;
            log("connection " + std::to_string(c.id) + " (pid " + std::to_string(c.cred.pid) + "): " + why);
            c.out += Session::error_frame(make_error(code, why));
            c.closing = true;
            c.session.end();
            return;
        }
        c.awaiting = true;
        const uint64_t id = c.id;
        std::shared_ptr<Outbox> box = outbox_;
        c.session.handle(body, [box, id](std::string bytes, bool close) { box->push(id, std::move(bytes), close); });
        // Most replies are ready now: take them without a trip through epoll.
        drain_outbox();
    }
}

// Moves replies computed elsewhere to their connections (never closes).
void ChannelServer::drain_outbox() {
    std::vector<std::tuple<uint64_t, std::string, bool>> items;
    {
        std::lock_guard<std::mutex> g(outbox_->mu);
        items.swap(outbox_->items);
    }
    for (auto& [id, bytes, close] : items) {
        auto it = conns_.find(id);
        if (it == conns_.end()) continue;
        Conn& c = *it->second;
        if (c.pending() == 0) {
            c.out.clear();
            c.out_off = 0;
            c.stalled_since = Clock::now();
        }
        c.out += bytes;
        c.awaiting = false;
        if (close) {
            c.closing = true;
            c.session.end();
        }
        ready_.insert(id);
    }
}

void ChannelServer::flush(Conn& c) {
    while (c.pending() > 0) {
        ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.pending(), MSG_NOSIGNAL);
        if (n > 0) {
            c.out_off += size_t(n);
            c.stalled_since = Clock::now();
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        // EPIPE, ECONNRESET: the peer is gone.
        close_conn(c.id);
        return;
    }
    if (c.pending() == 0) {
        c.out.clear();
        c.out_off = 0;
        if (c.closing && !c.awaiting) {
            close_conn(c.id);
            return;
        }
    } else if (c.out_off > (1u << 20) && c.out_off > c.out.size() / 2) {
        c.out.erase(0, c.out_off);
        c.out_off = 0;
    }
    if (c.pending() > kMaxOutput) {
        log("connection " + std::to_string(c.id) + " (pid " + std::to_string(c.cred.pid) +
            "): dropped, it does not read its replies (" + std::to_string(c.pending()) + " bytes unread)");
        close_conn(c.id);
    }
}

void ChannelServer::update(Conn& c) {
    uint32_t want = 0;
    if (!c.closing && !c.awaiting && !c.eof && c.pending() < kOutLow) want |= EPOLLIN;
    if (c.pending() > 0) want |= EPOLLOUT;
    if (want == c.events) return;
    epoll_event ev{};
    ev.events = want;
    ev.data.u64 = c.id;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
    c.events = want;
}

void ChannelServer::check_stalls() {
    auto now = Clock::now();
    std::vector<uint64_t> drop;
    for (auto& [id, c] : conns_)
        if (c->pending() > 0 && now - c->stalled_since > kWriteStall) drop.push_back(id);
    for (uint64_t id : drop) {
        Conn& c = *conns_.at(id);
        log("connection " + std::to_string(id) + " (pid " + std::to_string(c.cred.pid) + "): dropped, it read nothing for " +
            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kWriteStall).count()) + " s");
        close_conn(id);
    }
}

void ChannelServer::close_conn(uint64_t id) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    Conn& c = *it->second;
    c.session.end();
    state_.closed(id);
    if (epoll_fd_ >= 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    conns_.erase(it);
}

}  // namespace sluice::dp
