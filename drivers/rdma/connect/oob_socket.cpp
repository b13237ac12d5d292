// TCP for the out-of-band exchange (oob_socket.hpp). Each blocking call
// runs against one deadline: poll(2) for readiness with the time left, then
// a non-blocking syscall; EINTR and spurious wake-ups just loop.
#include "drivers/rdma/connect/oob_socket.hpp"

#include "drivers/rdma/connect/fail.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

namespace sluice::drivers::rdma {

namespace {

using Clock = std::chrono::steady_clock;

struct Deadline {
    bool forever;
    Clock::time_point end;
    explicit Deadline(int timeout_ms)
        : forever(timeout_ms < 0), end(Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms)) {}
    // Milliseconds for poll(2): -1 forever, 0 when expired, rounded up so we
    // never spin on a sub-millisecond remainder.
    int left_ms() const {
        if (forever) return -1;
        const auto now = Clock::now();
        if (now >= end) return 0;
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(end - now).count();
        return static_cast<int>((us + 999) / 1000);
    }
    bool expired() const { return !forever && Clock::now() >= end; }
};

std::string errno_text(int e) { return std::strerror(e); }

// Waits for `events` on fd. 1 ready, 0 timed out, -1 error (*err set).
int wait_for(int fd, short events, const Deadline& dl, std::string* err) {
    for (;;) {
        pollfd p{fd, events, 0};
        const int left = dl.left_ms();
        const int r = ::poll(&p, 1, left);
        if (r > 0) return 1;
        if (r == 0) {
            if (left == 0 || dl.expired()) return 0;
            continue;  // poll rounds down internally: try again until the deadline
        }
        if (errno == EINTR) continue;
        fail(err, "poll: " + errno_text(errno));
        return -1;
    }
}

void set_nodelay(int fd) {
    // The exchange is one small message each way: no Nagle delay.
    int one = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Reads exactly n bytes into p. `got` counts bytes already in the message
// before p (for the error text), `total` is the message size so far known.
bool read_exact(int fd, uint8_t* p, size_t n, size_t got, size_t total, const Deadline& dl, std::string* err) {
    size_t done = 0;
    while (done < n) {
        const ssize_t r = ::recv(fd, p + done, n - done, MSG_DONTWAIT);
        if (r > 0) {
            done += static_cast<size_t>(r);
            continue;
        }
        if (r == 0)
            return fail(err, "peer closed after " + std::to_string(got + done) + " of " + std::to_string(total) +
                                 " bytes");
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return fail(err, "recv: " + errno_text(errno));
        const int w = wait_for(fd, POLLIN, dl, err);
        if (w < 0) return false;
        if (w == 0)
            return fail(err, "timeout: got " + std::to_string(got + done) + " of " + std::to_string(total) +
                                 " bytes");
    }
    return true;
}

}  // namespace

bool oob_parse_host_port(const std::string& host_port, sockaddr_storage* addr, socklen_t* len, std::string* err) {
    if (addr == nullptr || len == nullptr) return fail(err, "oob_parse_host_port: no output");
    std::string host;
    std::string port;
    bool v6 = false;
    if (!host_port.empty() && host_port[0] == '[') {
        const size_t close = host_port.find(']');
        if (close == std::string::npos)
            return fail(err, "address \"" + host_port + "\": '[' without ']' (expected [v6-address]:port)");
        if (close + 1 >= host_port.size() || host_port[close + 1] != ':')
            return fail(err, "address \"" + host_port + "\": expected ':port' after ']'");
        host = host_port.substr(1, close - 1);
        port = host_port.substr(close + 2);
        v6 = true;
    } else {
        const size_t colon = host_port.rfind(':');
        if (colon == std::string::npos)
            return fail(err, "address \"" + host_port + "\": expected host:port");
        host = host_port.substr(0, colon);
        port = host_port.substr(colon + 1);
        if (host.find(':') != std::string::npos)
            return fail(err, "address \"" + host_port + "\": an IPv6 address needs brackets, [addr]:port");
    }
    if (port.empty() || port.size() > 5)
        return fail(err, "address \"" + host_port + "\": port \"" + port + "\" is not 0..65535");
    unsigned long pv = 0;
    for (char c : port) {
        if (c < '0' || c > '9')
            return fail(err, "address \"" + host_port + "\": port \"" + port + "\" is not a decimal number");
        pv = pv * 10 + static_cast<unsigned long>(c - '0');
    }
    if (pv > 65535) return fail(err, "address \"" + host_port + "\": port " + port + " is not 0..65535");

    std::memset(addr, 0, sizeof *addr);
    if (v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(addr);
        if (::inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) != 1)
            return fail(err, "address \"" + host_port + "\": \"" + host + "\" is not a numeric IPv6 address");
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(static_cast<uint16_t>(pv));
        *len = sizeof(sockaddr_in6);
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(addr);
        if (::inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1)
            return fail(err, "address \"" + host_port + "\": \"" + host +
                                 "\" is not a numeric IPv4 address (no name lookup)");
        a->sin_family = AF_INET;
        a->sin_port = htons(static_cast<uint16_t>(pv));
        *len = sizeof(sockaddr_in);
    }
    return true;
}

int oob_listen(const std::string& host_port, std::string* err) {
    sockaddr_storage addr{};
    socklen_t len = 0;
    if (!oob_parse_host_port(host_port, &addr, &len, err)) return -1;
    const int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail(err, "socket for " + host_port + ": " + errno_text(errno));
        return -1;
    }
    int one = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (addr.ss_family == AF_INET6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)) {
        fail(err, "setsockopt on " + host_port + ": " + errno_text(errno));
        ::close(fd);
        return -1;
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
        fail(err, "bind " + host_port + ": " + errno_text(errno));
        ::close(fd);
        return -1;
    }
    if (::listen(fd, 16) != 0) {
        fail(err, "listen on " + host_port + ": " + errno_text(errno));
        ::close(fd);
        return -1;
    }
    return fd;
}

uint16_t oob_local_port(int fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
    if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
    return 0;
}

int oob_accept(int listen_fd, int timeout_ms, std::string* err) {
    const Deadline dl(timeout_ms);
    for (;;) {
        const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            set_nodelay(fd);
            return fd;
        }
        // ECONNABORTED: a client gave up between SYN and accept; wait for the next.
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            fail(err, "accept: " + errno_text(errno));
            return -1;
        }
        const int w = wait_for(listen_fd, POLLIN, dl, err);
        if (w < 0) return -1;
        if (w == 0) {
            fail(err, "timeout: no connection within " + std::to_string(timeout_ms) + " ms");
            return kOobTimeout;
        }
    }
}

int oob_connect(const std::string& host_port, int timeout_ms, std::string* err) {
    sockaddr_storage addr{};
    socklen_t len = 0;
    if (!oob_parse_host_port(host_port, &addr, &len, err)) return -1;
    const uint16_t port = addr.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port)
                                                    : ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    if (port == 0) {
        fail(err, "connect " + host_port + ": port 0 is not a destination");
        return -1;
    }
    const int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail(err, "socket for " + host_port + ": " + errno_text(errno));
        return -1;
    }
    const Deadline dl(timeout_ms);
    int r = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len);
    if (r != 0 && errno != EINPROGRESS && errno != EINTR) {
        fail(err, "connect " + host_port + ": " + errno_text(errno));
        ::close(fd);
        return -1;
    }
    if (r != 0) {
        // Handshake under way (EINTR on a non-blocking connect also leaves it
        // running): writable means finished, SO_ERROR says how.
        const int w = wait_for(fd, POLLOUT, dl, err);
        if (w <= 0) {
            if (w == 0) fail(err, "timeout: connect " + host_port + " not finished within " +
                                      std::to_string(timeout_ms) + " ms");
            ::close(fd);
            return w == 0 ? kOobTimeout : -1;
        }
        int so_error = 0;
        socklen_t sl = sizeof so_error;
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &sl) != 0) so_error = errno;
        if (so_error != 0) {
            fail(err, "connect " + host_port + ": " + errno_text(so_error));
            ::close(fd);
            return -1;
        }
    }
    set_nodelay(fd);
    return fd;
}

bool oob_send(int fd, const EndpointInfo& info, int timeout_ms, std::string* err) {
    std::string why;
    if (!check_endpoint(info, &why)) return fail(err, "not sending an invalid endpoint: " + why);
    const std::vector<uint8_t> msg = encode(info);
    const Deadline dl(timeout_ms);
    size_t done = 0;
    while (done < msg.size()) {
        const ssize_t r = ::send(fd, msg.data() + done, msg.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r >= 0) {
            done += static_cast<size_t>(r);
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return fail(err, "send after " + std::to_string(done) + " of " + std::to_string(msg.size()) +
                                 " bytes: " + errno_text(errno));
        const int w = wait_for(fd, POLLOUT, dl, err);
        if (w < 0) return false;
        if (w == 0)
            return fail(err, "timeout: sent " + std::to_string(done) + " of " + std::to_string(msg.size()) +
                                 " bytes");
    }
    return true;
}

std::optional<EndpointInfo> oob_recv(int fd, int timeout_ms, std::string* err) {
    const Deadline dl(timeout_ms);
    uint8_t buf[kOobMaxSize];
    if (!read_exact(fd, buf, kOobHeaderSize, 0, kOobHeaderSize, dl, err)) return std::nullopt;
    // Judge the header before waiting for the body: garbage (or another
    // protocol) fails now instead of after a timeout on a made-up length.
    const size_t size = message_size(buf, kOobHeaderSize);
    const uint16_t version = static_cast<uint16_t>((buf[4] << 8) | buf[5]);
    if (std::memcmp(buf, "SLRD", 4) != 0 || version != kOobVersion || size < kOobV1Size) {
        std::string why;
        (void)decode(buf, kOobHeaderSize, &why);  // names magic, version or length
        fail(err, why);
        return std::nullopt;
    }
    if (size > kOobMaxSize) {
        fail(err, "length " + std::to_string(size) + ": larger than the " + std::to_string(kOobMaxSize) +
                      "-byte limit of an exchange message");
        return std::nullopt;
    }
    if (!read_exact(fd, buf + kOobHeaderSize, size - kOobHeaderSize, kOobHeaderSize, size, dl, err))
        return std::nullopt;
    return decode(buf, size, err);
}

bool oob_peer_closed(int fd) {
    if (fd < 0) return true;  // poll(2) would skip a negative fd and report "nothing"
    pollfd p{fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
    int r = 0;
    do {
        r = ::poll(&p, 1, 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0) return true;  // EBADF and friends: no usable connection
    if (r == 0) return false;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
    if (p.revents & POLLIN) {
        uint8_t b = 0;
        const ssize_t n = ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0) return true;
        if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    }
    return false;
}

}  // namespace sluice::drivers::rdma
