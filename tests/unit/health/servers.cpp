#include "servers.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>

namespace sluice::health::test {

namespace {

int bind_socket(bool v6, int type, uint16_t port, uint16_t* bound) {
    int fd = ::socket(v6 ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage ss{};
    socklen_t len;
    if (v6) {
        auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
        s->sin6_family = AF_INET6;
        s->sin6_addr = in6addr_loopback;
        s->sin6_port = htons(port);
        len = sizeof *s;
    } else {
        auto* s = reinterpret_cast<sockaddr_in*>(&ss);
        s->sin_family = AF_INET;
        s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        s->sin_port = htons(port);
        len = sizeof *s;
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
        ::close(fd);
        return -1;
    }
    len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    *bound = v6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    return fd;
}

net::IpAddr loopback(bool v6) { return *net::parse_ip(v6 ? "::1" : "127.0.0.1"); }

}  // namespace

// ---- TCP -------------------------------------------------------------------

TcpServer::TcpServer(bool v6, Handler handler) : v6_(v6), handler_(std::move(handler)) {
    lfd_ = listen_on(0);
    wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (lfd_ < 0 || wake_ < 0) {
        port_ = 0;
        return;
    }
    thread_ = std::thread([this] { run(); });
}

TcpServer::~TcpServer() {
    stop_ = true;
    if (wake_ >= 0) {
        uint64_t one = 1;
        (void)!::write(wake_, &one, sizeof one);
    }
    if (thread_.joinable()) thread_.join();
    if (lfd_ >= 0) ::close(lfd_);
    if (wake_ >= 0) ::close(wake_);
}

int TcpServer::listen_on(uint16_t port) {
    uint16_t bound = 0;
    int fd = bind_socket(v6_, SOCK_STREAM | SOCK_NONBLOCK, port, &bound);
    if (fd < 0) return -1;
    if (::listen(fd, 4096) < 0) {
        ::close(fd);
        return -1;
    }
    port_ = bound;
    return fd;
}

net::IpAddr TcpServer::address() const { return loopback(v6_); }

std::vector<std::string> TcpServer::requests() const {
    std::lock_guard lk(mu_);
    return requests_;
}

void TcpServer::call(std::function<void()> fn) {
    uint64_t seq;
    {
        std::lock_guard lk(mu_);
        pending_ = std::move(fn);
        seq = ++pending_seq_;
    }
    uint64_t one = 1;
    (void)!::write(wake_, &one, sizeof one);
    for (;;) {
        {
            std::lock_guard lk(mu_);
            if (done_seq_ >= seq) return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

void TcpServer::close_listener() {
    call([this] {
        if (lfd_ >= 0) ::close(lfd_);
        lfd_ = -1;
    });
}

bool TcpServer::reopen() {
    bool ok = false;
    call([this, &ok] {
        if (lfd_ < 0) lfd_ = listen_on(port_);
        ok = lfd_ >= 0;
    });
    return ok;
}

void TcpServer::run() {
    struct Conn {
        std::string in;
        bool answered = false;
    };
    std::map<int, Conn> conns;
    std::vector<pollfd> pfds;
    while (!stop_) {
        pfds.clear();
        pfds.push_back({wake_, POLLIN, 0});
        for (auto& [fd, c] : conns) pfds.push_back({fd, POLLIN, 0});
        if (lfd_ >= 0) pfds.push_back({lfd_, POLLIN, 0});  // last: closes are seen before new accepts
        if (::poll(pfds.data(), pfds.size(), 100) < 0) continue;
        if (pfds[0].revents) {
            uint64_t v;
            (void)!::read(wake_, &v, sizeof v);
            std::function<void()> fn;
            uint64_t seq;
            {
                std::lock_guard lk(mu_);
                fn.swap(pending_);
                seq = pending_seq_;
            }
            if (fn) fn();
            std::lock_guard lk(mu_);
            done_seq_ = seq;
            continue;  // the fd set may have changed
        }
        for (size_t i = 1; i < pfds.size(); ++i) {
            if (!pfds[i].revents) continue;
            const int fd = pfds[i].fd;
            if (fd == lfd_) {
                for (;;) {
                    int c = ::accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0) break;
                    conns[c];
                    ++accepted_;
                    ++open_;
                }
                continue;
            }
            Conn& c = conns[fd];
            bool closed = false;
            for (;;) {
                char buf[4096];
                ssize_t n = ::recv(fd, buf, sizeof buf, 0);
                if (n > 0) {
                    c.in.append(buf, size_t(n));
                    continue;
                }
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                closed = true;  // EOF or reset: the checker is done with it
                break;
            }
            if (!closed && handler_ && !c.answered) {
                const size_t end = c.in.find("\r\n\r\n");
                if (end != std::string::npos) {
                    c.answered = true;
                    const std::string req = c.in.substr(0, end + 4);
                    {
                        std::lock_guard lk(mu_);
                        requests_.push_back(req);
                    }
                    if (auto answer = handler_(req)) {
                        (void)!::send(fd, answer->data(), answer->size(), MSG_NOSIGNAL);
                        closed = true;
                    }
                }
            }
            if (closed) {
                ::close(fd);
                conns.erase(fd);
                --open_;
            }
        }
    }
    for (auto& [fd, c] : conns) ::close(fd);
}

// ---- UDP -------------------------------------------------------------------

UdpServer::UdpServer(Handler handler, bool v6) : handler_(std::move(handler)) {
    fd_ = bind_socket(v6, SOCK_DGRAM, 0, &port_);
    if (fd_ < 0) {
        port_ = 0;
        return;
    }
    thread_ = std::thread([this] {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            char buf[2048];
            sockaddr_storage from{};
            socklen_t len = sizeof from;
            ssize_t n = ::recvfrom(fd_, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
            if (n < 0) continue;
            ++received_;
            if (auto answer = handler_(std::string(buf, size_t(n))))
                ::sendto(fd_, answer->data(), answer->size(), 0, reinterpret_cast<sockaddr*>(&from), len);
        }
    });
}

UdpServer::~UdpServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
}

uint16_t closed_udp_port(bool v6) {
    uint16_t port = 0;
    int fd = bind_socket(v6, SOCK_DGRAM, 0, &port);
    if (fd >= 0) ::close(fd);
    return port;
}

}  // namespace sluice::health::test
