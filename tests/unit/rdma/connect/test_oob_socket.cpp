// The TCP exchange (drivers/rdma/connect/oob_socket.hpp) on loopback with
// ephemeral ports: both directions, timeouts, refusals, a peer that dies
// mid-message or speaks garbage, and the liveness check. Threads meet only
// through sockets and join(); waits are poll(2) on conditions, bounded.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "drivers/rdma/connect/oob_socket.hpp"

namespace {

using namespace sluice::drivers::rdma;

constexpr int kTimeoutMs = 5000;  // generous: only a broken test waits this long

EndpointInfo endpoint(uint32_t qpn, const char* name) {
    EndpointInfo e;
    e.link_layer = LinkLayer::ethernet;
    e.active_mtu = 5;
    e.gid = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, static_cast<uint8_t>(qpn)};
    e.gid_index = 3;
    e.qpn = qpn;
    e.psn = qpn * 7;
    e.recv_credits = 256;
    e.max_frame = 9216;
    e.instance = 0xfeedull << 20 | qpn;
    e.mac = {0x02, 0, 0, 0, 0, static_cast<uint8_t>(qpn)};
    e.name = name;
    return e;
}

// A listening socket on 127.0.0.1 with an ephemeral port, closed at scope end.
struct Listener {
    int fd = -1;
    uint16_t port = 0;
    Listener() {
        std::string err;
        fd = oob_listen("127.0.0.1:0", &err);
        EXPECT_GE(fd, 0) << err;
        port = oob_local_port(fd);
        EXPECT_NE(port, 0);
    }
    ~Listener() {
        if (fd >= 0) ::close(fd);
    }
    std::string addr() const { return "127.0.0.1:" + std::to_string(port); }
};

// A connected pair: `client` from oob_connect, `server` from oob_accept.
struct Pair {
    int client = -1;
    int server = -1;
    explicit Pair(Listener& l) {
        std::string err;
        client = oob_connect(l.addr(), kTimeoutMs, &err);
        EXPECT_GE(client, 0) << err;
        // The kernel completes the handshake on loopback before accept().
        server = oob_accept(l.fd, kTimeoutMs, &err);
        EXPECT_GE(server, 0) << err;
    }
    ~Pair() {
        if (client >= 0) ::close(client);
        if (server >= 0) ::close(server);
    }
};

void send_raw(int fd, const void* p, size_t n) {
    ASSERT_EQ(::send(fd, p, n, MSG_NOSIGNAL), static_cast<ssize_t>(n));
}

// Waits (bounded) until the other side's close has reached `fd`.
bool wait_closed(int fd) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    while (std::chrono::steady_clock::now() < end) {
        if (oob_peer_closed(fd)) return true;
        pollfd p{fd, static_cast<short>(POLLRDHUP), 0};
        (void)::poll(&p, 1, 100);
    }
    return oob_peer_closed(fd);
}

TEST(OobParse, Accepts) {
    sockaddr_storage a{};
    socklen_t len = 0;
    std::string err;
    ASSERT_TRUE(oob_parse_host_port("198.18.0.1:18515", &a, &len, &err)) << err;
    EXPECT_EQ(a.ss_family, AF_INET);
    EXPECT_EQ(len, sizeof(sockaddr_in));
    EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port), 18515);
    ASSERT_TRUE(oob_parse_host_port("[2001:db8::1]:18515", &a, &len, &err)) << err;
    EXPECT_EQ(a.ss_family, AF_INET6);
    EXPECT_EQ(len, sizeof(sockaddr_in6));
    EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in6*>(&a)->sin6_port), 18515);
    EXPECT_TRUE(oob_parse_host_port("0.0.0.0:0", &a, &len, &err)) << err;
    EXPECT_TRUE(oob_parse_host_port("[::]:65535", &a, &len, &err)) << err;
}

TEST(OobParse, Rejects) {
    sockaddr_storage a{};
    socklen_t len = 0;
    for (const char* bad : {"", "198.18.0.1", "198.18.0.1:", "198.18.0.1:65536", "198.18.0.1:12a",
                            "198.18.0.1:123456", "2001:db8::1:18515", "[2001:db8::1]", "[2001:db8::1]18515",
                            "[2001:db8::1:18515", "[198.18.0.1]:1", "[]:1", "host.example:80", "198.18.0.256:1",
                            ":80", "198.18.0.1:-1"}) {
        std::string err;
        EXPECT_FALSE(oob_parse_host_port(bad, &a, &len, &err)) << bad;
        EXPECT_NE(err.find("address"), std::string::npos) << bad << ": " << err;
    }
}

TEST(OobSocket, ListenErrors) {
    std::string err;
    EXPECT_EQ(oob_listen("nope", &err), -1);
    EXPECT_FALSE(err.empty());
    // 198.18.0.1 is not ours: bind fails with EADDRNOTAVAIL.
    err.clear();
    EXPECT_EQ(oob_listen("198.18.0.1:0", &err), -1);
    EXPECT_NE(err.find("bind"), std::string::npos) << err;
}

TEST(OobSocket, FdsAreCloexecAndNonBlocking) {
    Listener l;
    Pair p(l);
    for (int fd : {l.fd, p.client, p.server}) {
        EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC) << fd;
        EXPECT_TRUE(::fcntl(fd, F_GETFL) & O_NONBLOCK) << fd;
    }
}

TEST(OobSocket, ExchangeBothDirections) {
    Listener l;
    const EndpointInfo a = endpoint(0x101, "node-a");
    const EndpointInfo b = endpoint(0x202, "node-b");
    std::optional<EndpointInfo> got_by_client;
    std::string client_err;
    std::thread client([&] {
        const int fd = oob_connect(l.addr(), kTimeoutMs, &client_err);
        if (fd < 0) return;
        if (oob_send(fd, a, kTimeoutMs, &client_err)) got_by_client = oob_recv(fd, kTimeoutMs, &client_err);
        ::close(fd);
    });
    std::string err;
    std::optional<EndpointInfo> got;
    const int fd = oob_accept(l.fd, kTimeoutMs, &err);
    EXPECT_GE(fd, 0) << err;
    if (fd >= 0) {
        got = oob_recv(fd, kTimeoutMs, &err);
        EXPECT_TRUE(oob_send(fd, b, kTimeoutMs, &err)) << err;
    }
    client.join();  // before any ASSERT: never leave the thread joinable
    if (fd >= 0) ::close(fd);
    ASSERT_TRUE(got.has_value()) << err;
    EXPECT_EQ(*got, a);
    ASSERT_TRUE(got_by_client.has_value()) << client_err;
    EXPECT_EQ(*got_by_client, b);
}

TEST(OobSocket, ExchangeOverIpv6Loopback) {
    std::string err;
    const int lfd = oob_listen("[::1]:0", &err);
    if (lfd < 0) GTEST_SKIP() << "no IPv6 loopback here: " << err;
    const std::string addr = "[::1]:" + std::to_string(oob_local_port(lfd));
    const int c = oob_connect(addr, kTimeoutMs, &err);
    ASSERT_GE(c, 0) << err;
    const int s = oob_accept(lfd, kTimeoutMs, &err);
    ASSERT_GE(s, 0) << err;
    const EndpointInfo a = endpoint(0x303, "v6");
    EXPECT_TRUE(oob_send(c, a, kTimeoutMs, &err)) << err;
    const auto got = oob_recv(s, kTimeoutMs, &err);
    ASSERT_TRUE(got.has_value()) << err;
    EXPECT_EQ(*got, a);
    ::close(c);
    ::close(s);
    ::close(lfd);
}

TEST(OobSocket, BackToBackMessagesFramedExactly) {
    Listener l;
    Pair p(l);
    std::string err;
    // Two messages in one write: the first recv must not swallow the second.
    std::vector<uint8_t> both = encode(endpoint(1, "one"));
    const std::vector<uint8_t> second = encode(endpoint(2, "two"));
    both.insert(both.end(), second.begin(), second.end());
    send_raw(p.client, both.data(), both.size());
    const auto m1 = oob_recv(p.server, kTimeoutMs, &err);
    ASSERT_TRUE(m1.has_value()) << err;
    EXPECT_EQ(m1->qpn, 1u);
    const auto m2 = oob_recv(p.server, kTimeoutMs, &err);
    ASSERT_TRUE(m2.has_value()) << err;
    EXPECT_EQ(m2->qpn, 2u);
}

TEST(OobSocket, LongerMessageFromLaterSender) {
    Listener l;
    Pair p(l);
    const EndpointInfo a = endpoint(0x404, "later");
    std::vector<uint8_t> m = encode(a);
    m.insert(m.end() - 4, 40, 0x5A);
    m[6] = 0;
    m[7] = static_cast<uint8_t>(m.size());
    const uint32_t c = crc32c(m.data(), m.size() - 4);
    for (int i = 0; i < 4; ++i) m[m.size() - 4 + i] = static_cast<uint8_t>(c >> (24 - 8 * i));
    send_raw(p.client, m.data(), m.size());
    std::string err;
    const auto got = oob_recv(p.server, kTimeoutMs, &err);
    ASSERT_TRUE(got.has_value()) << err;
    EXPECT_EQ(*got, a);
}

TEST(OobSocket, AcceptTimeout) {
    Listener l;
    std::string err;
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(oob_accept(l.fd, 50, &err), kOobTimeout);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(50));
    EXPECT_NE(err.find("timeout"), std::string::npos) << err;
    EXPECT_EQ(oob_accept(l.fd, 0, &err), kOobTimeout);
}

TEST(OobSocket, AcceptOnBadFd) {
    std::string err;
    EXPECT_EQ(oob_accept(-1, 10, &err), -1);
    EXPECT_NE(err.find("accept"), std::string::npos) << err;
}

TEST(OobSocket, ConnectRefused) {
    uint16_t port = 0;
    {
        Listener l;  // take a free port, then give it back
        port = l.port;
    }
    std::string err;
    EXPECT_EQ(oob_connect("127.0.0.1:" + std::to_string(port), kTimeoutMs, &err), -1);
    EXPECT_NE(err.find("refused"), std::string::npos) << err;
}

TEST(OobSocket, ConnectBadAddress) {
    std::string err;
    EXPECT_EQ(oob_connect("127.0.0.1:0", kTimeoutMs, &err), -1);
    EXPECT_NE(err.find("port 0"), std::string::npos) << err;
    EXPECT_EQ(oob_connect("localhost:80", kTimeoutMs, &err), -1);
    EXPECT_NE(err.find("numeric"), std::string::npos) << err;
}

TEST(OobSocket, RecvTimeoutNamesProgress) {
    Listener l;
    Pair p(l);
    const std::vector<uint8_t> m = encode(endpoint(5, "slow"));
    send_raw(p.client, m.data(), 20);
    std::string err;
    EXPECT_FALSE(oob_recv(p.server, 50, &err).has_value());
    EXPECT_NE(err.find("timeout: got 20 of 79 bytes"), std::string::npos) << err;
}

TEST(OobSocket, PeerClosesMidMessage) {
    Listener l;
    Pair p(l);
    const std::vector<uint8_t> m = encode(endpoint(6, "dies"));
    send_raw(p.client, m.data(), 39);
    ::close(p.client);
    p.client = -1;
    std::string err;
    EXPECT_FALSE(oob_recv(p.server, kTimeoutMs, &err).has_value());
    EXPECT_EQ(err, "peer closed after 39 of 79 bytes");
}

TEST(OobSocket, PeerClosesInsideHeader) {
    Listener l;
    Pair p(l);
    send_raw(p.client, "SLR", 3);
    ::close(p.client);
    p.client = -1;
    std::string err;
    EXPECT_FALSE(oob_recv(p.server, kTimeoutMs, &err).has_value());
    EXPECT_EQ(err, "peer closed after 3 of 8 bytes");
}

TEST(OobSocket, PeerClosesBeforeSending) {
    Listener l;
    Pair p(l);
    ::close(p.client);
    p.client = -1;
    std::string err;
    EXPECT_FALSE(oob_recv(p.server, kTimeoutMs, &err).has_value());
    EXPECT_EQ(err, "peer closed after 0 of 8 bytes");
}

TEST(OobSocket, GarbageBytesFailFast) {
    Listener l;
    Pair p(l);
    const char garbage[] = "GET / HTTP/1.1\r\nHost: 198.18.0.1\r\n\r\n";
    send_raw(p.client, garbage, sizeof garbage - 1);
    std::string err;
    EXPECT_FALSE(oob_recv(p.server, kTimeoutMs, &err).has_value());
    EXPECT_NE(err.find("magic"), std::string::npos) << err;
}

TEST(OobSocket, OversizeLengthRejectedBeforeWaiting) {
    Listener l;
    Pair p(l);
    std::vector<uint8_t> m = encode(endpoint(7, "big"));
    m[6] = 0x10;  // 4096 + 79
    send_raw(p.client, m.data(), kOobHeaderSize);
    std::string err;
    EXPECT_FALSE(oob_recv(p.server, kTimeoutMs, &err).has_value());
    EXPECT_NE(err.find("4175"), std::string::npos) << err;
    EXPECT_NE(err.find("4096"), std::string::npos) << err;
}

TEST(OobSocket, WrongVersionRejectedFromHeader) {
    Listener l;
    Pair p(l);
    std::vector<uint8_t> m = encode(endpoint(7, "v2"));
    m[5] = 2;
    m[6] = 0x20;  // a v2 peer with a big message: the version is the news
    send_raw(p.client, m.data(), kOobHeaderSize);
    std::string err;
    EXPECT_FALSE(oob_recv(p.server, kTimeoutMs, &err).has_value());
    EXPECT_EQ(err, "version 2 not supported, this build speaks 1");
}

TEST(OobSocket, UndersizeLengthRejected) {
    Listener l;
    Pair p(l);
    std::vector<uint8_t> m = encode(endpoint(7, "small"));
    m[7] = 10;
    send_raw(p.client, m.data(), kOobHeaderSize);
    std::string err;
    EXPECT_FALSE(oob_recv(p.server, kTimeoutMs, &err).has_value());
    EXPECT_NE(err.find("length 10"), std::string::npos) << err;
}

TEST(OobSocket, CorruptedMessageRejected) {
    Listener l;
    Pair p(l);
    std::vector<uint8_t> m = encode(endpoint(8, "flip"));
    m[40] ^= 0x10;
    send_raw(p.client, m.data(), m.size());
    std::string err;
    EXPECT_FALSE(oob_recv(p.server, kTimeoutMs, &err).has_value());
    EXPECT_NE(err.find("CRC"), std::string::npos) << err;
}

TEST(OobSocket, SendRefusesInvalidEndpoint) {
    Listener l;
    Pair p(l);
    EndpointInfo e = endpoint(9, "ok");
    e.qpn = 0;
    std::string err;
    EXPECT_FALSE(oob_send(p.client, e, kTimeoutMs, &err));
    EXPECT_NE(err.find("qpn 0"), std::string::npos) << err;
}

TEST(OobSocket, SendToClosedPeerFailsWithoutSigpipe) {
    Listener l;
    Pair p(l);
    // Reset the server side so the client's sends hit a dead connection.
    linger lg{1, 0};
    ASSERT_EQ(::setsockopt(p.server, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    ::close(p.server);
    p.server = -1;
    ASSERT_TRUE(wait_closed(p.client));
    std::string err;
    bool ok = true;
    for (int i = 0; i < 10 && ok; ++i) ok = oob_send(p.client, endpoint(10, "x"), kTimeoutMs, &err);
    EXPECT_FALSE(ok);  // the process is still alive: no SIGPIPE
    EXPECT_NE(err.find("send"), std::string::npos) << err;
}

TEST(OobSocket, PeerClosedBeforeAndAfterClose) {
    Listener l;
    Pair p(l);
    EXPECT_FALSE(oob_peer_closed(p.server));
    EXPECT_FALSE(oob_peer_closed(p.client));
    ::close(p.client);
    p.client = -1;
    EXPECT_TRUE(wait_closed(p.server));
}

TEST(OobSocket, PeerClosedIgnoresPendingData) {
    Listener l;
    Pair p(l);
    const std::vector<uint8_t> m = encode(endpoint(11, "pending"));
    send_raw(p.client, m.data(), m.size());
    // Wait (bounded) for the bytes to arrive, then ask: still open.
    pollfd pf{p.server, POLLIN, 0};
    ASSERT_EQ(::poll(&pf, 1, kTimeoutMs), 1);
    EXPECT_FALSE(oob_peer_closed(p.server));
    // Data pending and then a FIN: closed.
    ::close(p.client);
    p.client = -1;
    EXPECT_TRUE(wait_closed(p.server));
}

TEST(OobSocket, PeerClosedOnReset) {
    Listener l;
    Pair p(l);
    linger lg{1, 0};
    ASSERT_EQ(::setsockopt(p.client, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    ::close(p.client);
    p.client = -1;
    EXPECT_TRUE(wait_closed(p.server));
}

TEST(OobSocket, PeerClosedOnBadFd) { EXPECT_TRUE(oob_peer_closed(-1)); }

}  // namespace
