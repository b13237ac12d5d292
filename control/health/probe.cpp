#include "control/health/probe.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::health {

namespace {

using Type = config::HealthCheckConfig::Type;

// The most an HTTP probe reads looking for the end of the status line: a
// status line is "HTTP/1.1 200 OK\r\n" plus a reason phrase; a backend that
// sends more than this without a line break is not speaking HTTP/1.x.
constexpr size_t max_status_line = 1024;

std::string errno_text(const char* what, int err) {
    std::string s = what;
    s += ": ";
    s += std::strerror(err);
    return s;
}

// Errors of socket() and connect() that say nothing about the backend: this
// process or host is out of something (fds, local ports, memory).
bool is_local_error(int err) {
    switch (err) {
    case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM: case EADDRNOTAVAIL: case EAGAIN:
        return true;
    default:
        return false;
    }
}

// Closes a TCP probe's socket with an RST (SO_LINGER {1, 0}) rather than a
// FIN. At 10 000 backends a second, every FIN close on our side would leave
// a socket in TIME_WAIT for 60 s: 600 000 of them, far past
// net.ipv4.tcp_max_tw_buckets, and the local ports of a check target pinned
// meanwhile. HAProxy's checks do the same after a successful check (they
// carry no data worth a graceful shutdown); the backend sees a connection
// that was accepted and reset, which every server handles.
void close_reset(int fd) {
    linger lg{1, 0};
    (void)::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    ::close(fd);
}

bool readable(uint32_t events) { return events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP); }

}  // namespace

Endpoint make_endpoint(const net::IpAddr& address, uint16_t port) {
    Endpoint e;
    if (address.is_v4()) {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(port);
        std::memcpy(&sin.sin_addr, address.bytes.data(), 4);
        std::memcpy(&e.addr, &sin, sizeof sin);
        e.len = sizeof sin;
    } else {
        sockaddr_in6 sin6{};
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(port);
        std::memcpy(&sin6.sin6_addr, address.bytes.data(), 16);
        std::memcpy(&e.addr, &sin6, sizeof sin6);
        e.len = sizeof sin6;
    }
    return e;
}

std::string http_request(const config::HealthCheckConfig& spec, const net::IpAddr& address, uint16_t port) {
    std::string host = spec.host;
    if (host.empty()) {
        // The backend's address, with the port unless it is HTTP's default
        // (RFC 9110 7.2: Host = uri-host [ ":" port ]; IPv6 in brackets).
        host = address.is_v6() ? "[" + net::to_string(address) + "]" : net::to_string(address);
        if (port != 80) host += ":" + std::to_string(port);
    }
    std::string req = "GET ";
    req += spec.path.empty() ? "/" : spec.path;
    req += " HTTP/1.1\r\nHost: ";
    req += host;
    req += "\r\nConnection: close\r\nUser-Agent: sluice-health/1\r\n\r\n";
    return req;
}

int parse_status_line(std::string_view line) {
    // "HTTP/1.x SP 3DIGIT [SP reason]" (RFC 9112 4); anything else is not an
    // HTTP/1.x answer. The line has no CR LF here.
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[7] < '0' || line[7] > '9' || line[8] != ' ')
        return -1;
    int code = 0;
    for (size_t i = 9; i < 12; ++i) {
        if (line[i] < '0' || line[i] > '9') return -1;
        code = code * 10 + (line[i] - '0');
    }
    if (line.size() > 12 && line[12] != ' ') return -1;
    if (code < 100) return -1;
    return code;
}

uint32_t Probe::epoll_events() const {
    // Edge triggered, registered once per probe (no EPOLL_CTL_MOD between
    // phases): each event makes all the progress it can, until EAGAIN.
    if (type_ == Type::udp) return EPOLLIN | EPOLLET;
    if (type_ == Type::tcp) return EPOLLOUT | EPOLLET;
    return EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
}

ProbeStep Probe::start(const Endpoint& to, const config::HealthCheckConfig& spec, const std::string* request,
                       uint64_t now_ns) {
    close();
    type_ = spec.type;
    start_ns_ = now_ns;
    sent_ = 0;
    in_.clear();
    result_ = ProbeResult{};
    local_error_.clear();
    expect_status_ = spec.expect_status;
    expect_ = &spec.expect;
    out_ = type_ == Type::udp ? &spec.send : request;

    const int family = to.addr.ss_family;
    const int kind = type_ == Type::udp ? SOCK_DGRAM : SOCK_STREAM;
    fd_ = ::socket(family, kind | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        local_error_ = errno_text("socket", errno);
        return ProbeStep::local_error;
    }
    if (type_ == Type::http) {
        // The request goes out at once (no Nagle wait behind the
        // handshake's last ACK). A TCP check sends nothing.
        int one = 1;
        (void)::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    phase_ = Phase::connecting;
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&to.addr), to.len) < 0) {
        const int err = errno;
        if (err == EINPROGRESS) return ProbeStep::pending;
        if (is_local_error(err)) {
            local_error_ = errno_text("connect", err);
            ::close(fd_);
            fd_ = -1;
            phase_ = Phase::idle;
            return ProbeStep::local_error;
        }
        return sys_failure("connect", err, now_ns);
    }
    // Connected at once (UDP always; TCP to a local address may). Nothing
    // can have been read yet: the edge-triggered registration that follows
    // reports an answer already there.
    return connected(false, now_ns);
}

ProbeStep Probe::on_event(uint32_t events, uint64_t now_ns) {
    if (fd_ < 0) return ProbeStep::done;
    if (phase_ == Phase::connecting) {
        // Writable (or an error) after a non-blocking connect: SO_ERROR says
        // which (connect(2), EINPROGRESS).
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return ProbeStep::pending;
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        if (err) return sys_failure("connect", err, now_ns);
        return connected(readable(events), now_ns);
    }
    if (phase_ == Phase::sending) {
        ProbeStep s = send_more(now_ns);
        if (s != ProbeStep::pending || phase_ == Phase::sending) return s;
    }
    // Edge triggered: an edge that says readable is not repeated, so read
    // now; without one there is nothing to read (saves a recv per probe).
    if (phase_ == Phase::receiving && readable(events)) return receive(now_ns);
    return ProbeStep::pending;
}

ProbeStep Probe::connected(bool may_read, uint64_t now_ns) {
    established_ = type_ != Type::udp;
    switch (type_) {
    case Type::tcp:
        // A completed handshake is the whole TCP check (HAProxy's plain
        // `check`, GLB's tcp check).
        return finish(true, {}, now_ns);
    case Type::http:
    case Type::udp:
        phase_ = Phase::sending;
        {
            ProbeStep s = send_more(now_ns);
            if (s != ProbeStep::pending || phase_ == Phase::sending) return s;
        }
        // The event that completed the connect may also have said readable.
        return may_read ? receive(now_ns) : ProbeStep::pending;
    }
    return finish(false, "unknown check type", now_ns);
}

ProbeStep Probe::send_more(uint64_t now_ns) {
    static const std::string empty;
    const std::string& out = out_ ? *out_ : empty;
    if (type_ == Type::udp) {
        // One datagram (an empty `send` is an empty datagram). An ICMP error
        // left by an earlier probe cannot be pending: the socket is new.
        if (::send(fd_, out.data(), out.size(), MSG_NOSIGNAL) < 0) {
            const int err = errno;
            // EAGAIN too: a probe's one datagram not fitting the send
            // buffer is not worth a retry (the socket waits for EPOLLIN only).
            return sys_failure("send", err, now_ns);
        }
        phase_ = Phase::receiving;
        return ProbeStep::pending;
    }
    while (sent_ < out.size()) {
        ssize_t n = ::send(fd_, out.data() + sent_, out.size() - sent_, MSG_NOSIGNAL);
        if (n < 0) {
            const int err = errno;
            if (err == EINTR) continue;
            return io_failure("send", err, now_ns);  // EAGAIN: EPOLLOUT resumes
        }
        sent_ += size_t(n);
    }
    phase_ = Phase::receiving;
    return ProbeStep::pending;
}

ProbeStep Probe::receive(uint64_t now_ns) {
    if (type_ == Type::udp) {
        char buf[2048];
        for (;;) {
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n < 0) {
                const int err = errno;
                if (err == EINTR) continue;
                // ECONNREFUSED: the backend's host answered ICMP port
                // unreachable; on a connected UDP socket that is a definite
                // answer, no need to wait for the timeout (HAProxy and
                // GLB treat it as a failed check too).
                return io_failure("recv", err, now_ns);
            }
            // A connected UDP socket only receives from the backend, so the
            // first datagram is its answer: it matches or the check failed.
            static const std::string none;
            const std::string& expect = expect_ ? *expect_ : none;
            if (size_t(n) >= expect.size() && std::memcmp(buf, expect.data(), expect.size()) == 0)
                return finish(true, {}, now_ns);
            return finish(false, "unexpected reply", now_ns);
        }
    }
    // HTTP: read until the status line is complete; the rest of the answer
    // is not needed (the socket is reset on close).
    for (;;) {
        char buf[512];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0) {
            const int err = errno;
            if (err == EINTR) continue;
            return io_failure("recv", err, now_ns);
        }
        if (n == 0 && in_.empty()) return finish(false, "connection closed without a response", now_ns);
        const size_t old = in_.size();
        in_.append(buf, size_t(n));
        // The line ends at LF, or where the backend closed the connection.
        const size_t eol = n == 0 ? in_.size() : in_.find('\n', old);
        if (eol != std::string::npos) {
            std::string_view line(in_.data(), eol);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            const int code = parse_status_line(line);
            if (code < 0) return finish(false, "bad status line", now_ns);
            if (code == expect_status_) return finish(true, {}, now_ns);
            return finish(false, "status " + std::to_string(code), now_ns);
        }
        if (in_.size() > max_status_line) return finish(false, "bad status line", now_ns);
    }
}

ProbeStep Probe::sys_failure(const char* what, int err, uint64_t now_ns) {
    return finish(false, errno_text(what, err), now_ns);
}

ProbeStep Probe::io_failure(const char* what, int err, uint64_t now_ns) {
    if (err == EAGAIN || err == EWOULDBLOCK) return ProbeStep::pending;
    return sys_failure(what, err, now_ns);
}

ProbeStep Probe::finish(bool ok, std::string error, uint64_t now_ns) {
    result_.ok = ok;
    result_.error = std::move(error);
    const uint64_t us = now_ns > start_ns_ ? (now_ns - start_ns_) / 1000 : 0;
    result_.latency_us = us > UINT32_MAX ? UINT32_MAX : uint32_t(us);
    close();
    return ProbeStep::done;
}

void Probe::fail(std::string error, uint64_t now_ns) {
    finish(false, std::move(error), now_ns);
}

void Probe::close() {
    if (fd_ < 0) return;
    if (established_)
        close_reset(fd_);
    else
        ::close(fd_);  // UDP, or a TCP connect not (yet) established: nothing to linger
    fd_ = -1;
    established_ = false;
    phase_ = Phase::idle;
}

}  // namespace sluice::health
