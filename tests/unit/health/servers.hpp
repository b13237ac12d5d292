// Loopback servers for the checker's end-to-end tests, each on its own
// thread and an ephemeral port: a TCP server that accepts and then answers
// (or not) through a handler, and a UDP server that replies through one.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/net.hpp"

namespace sluice::health::test {

// TCP: every connection is accepted and kept until the peer closes it. With
// a handler, the bytes up to the end of the request head ("\r\n\r\n") are
// recorded and passed to it; its answer is sent and the connection closed;
// nullopt: never answered (held open).
class TcpServer {
public:
    using Handler = std::function<std::optional<std::string>(const std::string& request)>;
    explicit TcpServer(bool v6 = false, Handler handler = {});
    ~TcpServer();
    TcpServer(const TcpServer&) = delete;
    TcpServer& operator=(const TcpServer&) = delete;

    bool ok() const { return port_ != 0; }
    uint16_t port() const { return port_; }
    net::IpAddr address() const;
    // Closes the listening socket (connects are then refused) / listens
    // again on the same port. Run on the server's thread; they return when done.
    void close_listener();
    bool reopen();

    size_t accepted() const { return accepted_.load(); }
    size_t open_now() const { return open_.load(); }
    std::vector<std::string> requests() const;

private:
    void run();
    void call(std::function<void()> fn);  // on the server's thread, waited for
    int listen_on(uint16_t port);

    bool v6_;
    Handler handler_;
    uint16_t port_ = 0;
    int lfd_ = -1, wake_ = -1;
    std::atomic<bool> stop_{false};
    std::atomic<size_t> accepted_{0}, open_{0};
    mutable std::mutex mu_;
    std::vector<std::string> requests_;
    std::function<void()> pending_;
    uint64_t pending_seq_ = 0, done_seq_ = 0;
    std::thread thread_;
};

// UDP: each datagram goes to the handler; its answer (if any) goes back.
class UdpServer {
public:
    using Handler = std::function<std::optional<std::string>(const std::string& datagram)>;
    explicit UdpServer(Handler handler, bool v6 = false);
    ~UdpServer();
    UdpServer(const UdpServer&) = delete;
    UdpServer& operator=(const UdpServer&) = delete;
    bool ok() const { return port_ != 0; }
    uint16_t port() const { return port_; }
    size_t received() const { return received_.load(); }

private:
    Handler handler_;
    uint16_t port_ = 0;
    int fd_ = -1;
    std::atomic<bool> stop_{false};
    std::atomic<size_t> received_{0};
    std::thread thread_;
};

// A UDP port with nothing bound (bound, read, closed): datagrams to it draw
// ICMP port unreachable.
uint16_t closed_udp_port(bool v6 = false);

}  // namespace sluice::health::test
