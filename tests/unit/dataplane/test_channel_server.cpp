// The control channel's server (dataplane/channel/server.hpp) on a real
// Unix socket with a fake backend, no DPDK: the socket's mode, hello and
// shows through the channel library's client, frame errors (length 0,
// above the limit, truncated) answered and closed, replies in order when
// they come later from another thread, a client that never reads its
// replies, and the socket file gone after stop().
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <thread>

#include "control/api/client.hpp"
#include "control/api/frame.hpp"
#include "control/api/unix_socket.hpp"
#include "dataplane/channel/server.hpp"
#include "dataplane/channel/state.hpp"
#include "tests/unit/dataplane/channel_fake.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using channel::Json;

struct ServerRig {
    std::filesystem::path dir;
    FakeBackend backend;
    dp::ControlState state;
    dp::ChannelServer server{backend, state};
    std::string path;

    explicit ServerRig(uint32_t max_message = 1 << 20) {
        char tmpl[] = "/tmp/sluice-chan-XXXXXX";
        dir = ::mkdtemp(tmpl);
        path = (dir / "run" / "dp.sock").string();
        dp::ServerOptions o;
        o.path = path;
        o.max_message = max_message;
        o.log = false;
        std::string err;
        EXPECT_TRUE(server.start(o, &err)) << err;
    }
    ~ServerRig() {
        server.stop();
        std::filesystem::remove_all(dir);
    }
    int raw() {
        std::string err;
        int fd = channel::connect_unix(path, false, &err);
        EXPECT_GE(fd, 0) << err;
        timeval tv{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        return fd;
    }
};

void send_all(int fd, const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
        ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return;
        off += size_t(n);
    }
}

// Reads replies until `n` came or the server closed; `closed` says whether it did.
std::vector<channel::Reply> read_replies(int fd, size_t n, bool* closed) {
    std::vector<channel::Reply> out;
    channel::FrameReader r(1u << 30);
    char buf[65536];
    *closed = false;
    while (out.size() < n) {
        std::string body;
        auto st = r.next(&body);
        if (st == channel::FrameReader::Status::frame) {
            auto p = channel::parse_reply(body);
            EXPECT_TRUE(std::holds_alternative<channel::Reply>(p));
            if (auto* rep = std::get_if<channel::Reply>(&p)) out.push_back(*rep);
            continue;
        }
        ssize_t k = ::recv(fd, buf, sizeof buf, 0);
        if (k <= 0) {
            *closed = true;
            return out;
        }
        r.feed(buf, size_t(k));
    }
    return out;
}

// True when the server closes the connection (EOF) within the timeout.
bool closed_by_server(int fd) {
    char c;
    ssize_t k = ::recv(fd, &c, 1, 0);
    return k == 0;
}

TEST(ChannelServer, SocketModeHelloAndShow) {
    ServerRig rig;
    struct stat st{};
    ASSERT_EQ(::stat(rig.path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    channel::Client c;
    ASSERT_TRUE(c.connect(rig.path, "sluice-control", 2000ms)) << c.error();
    EXPECT_EQ(c.hello_result()["server"], "fake");
    channel::Reply r = c.call("show", {{"what", "status"}}, 2000ms);
    ASSERT_TRUE(r.ok) << r.error.message;
    EXPECT_EQ(r.result["what"], "status");
    dp::ControlView v = rig.state.view();
    EXPECT_TRUE(v.connected);
    EXPECT_EQ(v.peer_pid, ::getpid());
}

TEST(ChannelServer, FrameErrorsAreAnsweredThenClosed) {
    ServerRig rig(4096);
    struct Case {
        std::string bytes;
        const char* code;
    } cases[] = {
        {std::string("\0\0\0\0", 4), "bad_frame"},
        {std::string("\x00\x00\x10\x01", 4) + std::string(10, 'x'), "too_large"},
        {std::string("\xff\xff\xff\xff", 4), "too_large"},
        {channel::frame("{\"v\":1,\"id\":1,\"type\":\"show\"}"), "not_permitted"},
        {channel::frame("garbage"), "malformed"},
        {channel::frame("{\"v\":9,\"id\":1,\"type\":\"hello\"}"), "bad_version"},
    };
    for (const auto& cs : cases) {
        int fd = rig.raw();
        send_all(fd, cs.bytes);
        bool closed = false;
        auto replies = read_replies(fd, 1, &closed);
        ASSERT_EQ(replies.size(), 1u) << cs.code;
        EXPECT_FALSE(replies[0].ok);
        EXPECT_EQ(std::string(channel::to_string(replies[0].error.code)), cs.code) << replies[0].error.message;
        EXPECT_TRUE(closed_by_server(fd)) << cs.code;
        ::close(fd);
    }
    // Truncated: half a frame, then the peer goes away; nothing owed.
    int fd = rig.raw();
    send_all(fd, std::string("\0\0\0\x20{\"v\":1", 10));
    ::close(fd);
    channel::Client c;
    ASSERT_TRUE(c.connect(rig.path, "t", 2000ms)) << c.error();
    EXPECT_TRUE(c.call("show", {{"what", "drops"}}, 2000ms).ok);
}

TEST(ChannelServer, PipelinedRequestsAreAnsweredInOrder) {
    ServerRig rig;
    rig.backend.defer = true;  // state changes answer later, from another thread
    int fd = rig.raw();
    std::string batch = channel::frame(channel::encode_request(1, "hello", {{"client", "t"}}));
    batch += channel::frame(channel::encode_request(2, "reload", Json::object()));
    batch += channel::frame(channel::encode_request(3, "show", {{"what", "drops"}}));
    batch += channel::frame(channel::encode_request(4, "show", {{"what", "bogus"}}));
    send_all(fd, batch);
    std::thread releaser([&] {
        for (int i = 0; i < 200; ++i) {
            std::this_thread::sleep_for(10ms);
            rig.backend.release();
        }
    });
    bool closed = false;
    auto replies = read_replies(fd, 4, &closed);
    releaser.join();
    ASSERT_EQ(replies.size(), 4u);
    for (uint64_t i = 0; i < 4; ++i) EXPECT_EQ(replies[i].id, i + 1);
    EXPECT_TRUE(replies[1].ok);
    EXPECT_FALSE(replies[3].ok);
    EXPECT_FALSE(closed);
    ::close(fd);
}

TEST(ChannelServer, ManyGarbageConnectionsLeaveItServing) {
    ServerRig rig;
    std::mt19937 rng(7);
    for (int i = 0; i < 300; ++i) {
        int fd = rig.raw();
        std::string junk;
        size_t n = 1 + rng() % 200;
        for (size_t k = 0; k < n; ++k) junk.push_back(char(rng() % 256));
        send_all(fd, junk);
        if (i % 3 == 0) ::shutdown(fd, SHUT_WR);
        ::close(fd);
    }
    // Every garbage connection is gone once the server has read its bytes
    // and its close (under a sanitizer that can lag the loop above; until
    // then a new client may find the connection limit reached, which is the
    // limit working, not this test's subject).
    bool drained = false;
    for (int i = 0; i < 300 && !drained; ++i) {
        drained = rig.state.view().connections == 0;
        if (!drained) std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(drained) << rig.state.view().connections << " connections still open";
    // `connections` counts accepted connections only: garbage still in the
    // listen backlog is accepted after the check above, and while more than
    // max_connections of it are open the server closes a new client at once
    // (the limit working). So a client retries, within a bound; the server
    // must take it once the garbage is gone. (A single attempt failed once
    // under ASan with the machine loaded.)
    std::unique_ptr<channel::Client> c;
    std::string why;
    for (int i = 0; i < 300 && !c; ++i) {
        auto t = std::make_unique<channel::Client>();
        if (t->connect(rig.path, "t", 2000ms)) {
            c = std::move(t);
        } else {
            why = t->error();
            std::this_thread::sleep_for(10ms);
        }
    }
    ASSERT_TRUE(c) << why;
    EXPECT_TRUE(c->call("show", {{"what", "drops"}}, 2000ms).ok);
}

TEST(ChannelServer, AClientThatNeverReadsIsDropped) {
    ServerRig rig(64 << 20);
    int fd = rig.raw();
    int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    send_all(fd, channel::frame(channel::encode_request(1, "hello", {{"client", "t"}})));
    // Each reply is ~2 MB; the client reads none of them.
    std::string req;
    for (int i = 0; i < 60; ++i)
        req += channel::frame(channel::encode_request(uint64_t(i + 2), "show", {{"what", "routes"}, {"limit", 40000}}));
    std::thread writer([&] { send_all(fd, req); });
    // Meanwhile another client is served: the stalled one holds at most its
    // bounded output buffer, never the server. (No time is asserted: under a
    // sanitizer at -O0 building one 2 MB reply alone takes a second or more.)
    channel::Client c;
    ASSERT_TRUE(c.connect(rig.path, "t", 30000ms)) << c.error();
    EXPECT_TRUE(c.call("show", {{"what", "drops"}}, 30000ms).ok);
    // The reader-less client is dropped after the write stall (10 s) at most.
    bool dropped = false;
    for (int i = 0; i < 300 && !dropped; ++i) {
        std::this_thread::sleep_for(100ms);
        dropped = rig.state.view().connections == 1;
    }
    ::shutdown(fd, SHUT_RDWR);
    writer.join();
    ::close(fd);
    EXPECT_TRUE(dropped);
}

TEST(ChannelServer, StopRemovesTheSocketAndALiveOneIsRefused) {
    ServerRig rig;
    FakeBackend b2;
    dp::ControlState s2;
    dp::ChannelServer second(b2, s2);
    dp::ServerOptions o;
    o.path = rig.path;
    o.log = false;
    std::string err;
    EXPECT_FALSE(second.start(o, &err));
    EXPECT_NE(err.find("another process is listening"), std::string::npos) << err;
    rig.server.stop();
    EXPECT_FALSE(std::filesystem::exists(rig.path));
    // A stale file (nobody listening) is replaced.
    EXPECT_TRUE(second.start(o, &err)) << err;
    second.stop();
}

}  // namespace
}  // namespace sluice::test
