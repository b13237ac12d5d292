// Two processes on one fabric: a forked child opens its own device,
// exchanges addresses with the parent over a socketpair (as the TCP
// exchange would), echoes what it receives, then dies; the parent's next
// send ends in IBV_WC_RETRY_EXC_ERR.
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "tests/unit/rdma/standin/helpers.hpp"

namespace sluice::drivers::rdma::standin::testing {
namespace {

constexpr int kMessages = 32;

bool write_all(int fd, const void* p, size_t n) {
    auto* c = static_cast<const char*>(p);
    while (n > 0) {
        ssize_t w = ::write(fd, c, n);
        if (w <= 0) return false;
        c += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

bool read_all(int fd, void* p, size_t n) {
    auto* c = static_cast<char*>(p);
    while (n > 0) {
        ssize_t r = ::read(fd, c, n);
        if (r <= 0) return false;
        c += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

// The child: no gtest assertions (its exit status is the verdict), no
// cleanup at the end (it vanishes as a crashed process would).
[[noreturn]] void child_main(int sock, const std::string& fabric) {
    DeviceSpec s;
    s.fabric = fabric;
    s.name = "child0";
    add_device(s);
    ibv_context* ctx = open_named("child0");
    Endpoint e;
    if (!ctx || !e.init(ctx)) _exit(10);
    e.psn = 0x4242;
    if (post_recvs(e, kMessages, 256) != 0 || to_init(e.qp) != 0) _exit(11);
    Addr mine = e.addr(), peer{};
    if (!write_all(sock, &mine, sizeof(mine)) || !read_all(sock, &peer, sizeof(peer))) _exit(12);
    if (bring_up(e, peer) != 0) _exit(13);
    char ready = 'r';
    if (!write_all(sock, &ready, 1)) _exit(14);

    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int received = 0, sent_done = 0;
    while ((received < kMessages || sent_done < kMessages) && std::chrono::steady_clock::now() < deadline) {
        ibv_wc wc[8];
        int n = V().poll_cq(e.rcq, 8, wc);
        if (n < 0) _exit(15);
        for (int i = 0; i < n; ++i) {
            if (wc[i].status != IBV_WC_SUCCESS) _exit(16);
            // Echo from the second half of the buffer, immediate data kept.
            size_t off = 256 * static_cast<size_t>(wc[i].wr_id - 1000);
            std::memcpy(e.buf.data() + 65536 + off, e.buf.data() + off, wc[i].byte_len);
            if (send(e, wc[i].wr_id, 65536 + off, wc[i].byte_len, IBV_SEND_SIGNALED, true, wc[i].imm_data) != 0)
                _exit(17);
            ++received;
        }
        int m = V().poll_cq(e.scq, 8, wc);
        if (m < 0) _exit(18);
        if (n == 0 && m == 0) std::this_thread::yield();
        n = m;
        for (int i = 0; i < n; ++i) {
            if (wc[i].status != IBV_WC_SUCCESS) _exit(19);
            ++sent_done;
        }
    }
    _exit(received == kMessages && sent_done == kMessages ? 0 : 20);
}

TEST(StandinCrossProcess, EchoThenPeerDeath) {
    std::string fabric = unique_fabric("x");
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(sv[0]);
        child_main(sv[1], fabric);
    }
    ::close(sv[1]);
    int sock = sv[0];

    DeviceSpec s;
    s.fabric = fabric;
    s.name = "parent0";
    add_device(s);
    ibv_context* ctx = open_named("parent0");
    ASSERT_NE(ctx, nullptr);
    Endpoint p;
    ASSERT_TRUE(p.init(ctx));
    p.psn = 0x777;
    ASSERT_EQ(post_recvs(p, kMessages, 256), 0);
    ASSERT_EQ(to_init(p.qp), 0);
    Addr peer{}, mine = p.addr();
    ASSERT_TRUE(read_all(sock, &peer, sizeof(peer)));
    ASSERT_TRUE(write_all(sock, &mine, sizeof(mine)));
    ASSERT_EQ(bring_up(p, peer), 0);
    char ready = 0;
    ASSERT_TRUE(read_all(sock, &ready, 1));

    for (int i = 0; i < kMessages; ++i) {
        size_t off = 256 * static_cast<size_t>(i);
        std::snprintf(reinterpret_cast<char*>(p.buf.data() + 65536 + off), 64, "message %d", i);
        ASSERT_EQ(send(p, static_cast<uint64_t>(i), 65536 + off, 40, IBV_SEND_SIGNALED, true, static_cast<uint32_t>(i)),
                  0);
    }
    auto rx = poll_n(p.rcq, kMessages);
    auto tx = poll_n(p.scq, kMessages);
    ASSERT_EQ(rx.size(), static_cast<size_t>(kMessages));
    ASSERT_EQ(tx.size(), static_cast<size_t>(kMessages));
    for (int i = 0; i < kMessages; ++i) {
        const ibv_wc& wc = rx[static_cast<size_t>(i)];
        EXPECT_EQ(wc.status, IBV_WC_SUCCESS);
        EXPECT_EQ(wc.byte_len, 40u);
        EXPECT_EQ(wc.imm_data, static_cast<uint32_t>(i));
        EXPECT_EQ(wc.src_qp, peer.qpn);
        char want[64];
        std::snprintf(want, sizeof(want), "message %d", i);
        EXPECT_STREQ(reinterpret_cast<const char*>(p.buf.data() + 256 * static_cast<size_t>(i)), want);
        EXPECT_EQ(tx[static_cast<size_t>(i)].status, IBV_WC_SUCCESS);
    }

    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    ::close(sock);

    // The child is gone (its files left behind, alive flag still set): the
    // next send finds no one answering.
    auto retries = stats().retry_exceeded;
    ASSERT_EQ(send(p, 99, 0, 8), 0);
    auto fail = poll_n(p.scq, 1);
    ASSERT_EQ(fail.size(), 1u);
    EXPECT_EQ(fail[0].status, IBV_WC_RETRY_EXC_ERR);
    EXPECT_EQ(fail[0].wr_id, 99u);
    EXPECT_EQ(p.qp->state, IBV_QPS_ERR);
    EXPECT_EQ(stats().retry_exceeded, retries + 1);

    p.destroy();
    EXPECT_EQ(V().close_device(ctx), 0);
    remove_devices();
    // The next device added sweeps what the dead child left in /dev/shm.
    s.name = "sweeper0";
    add_device(s);
    remove_devices();
}

}  // namespace
}  // namespace sluice::drivers::rdma::standin::testing
