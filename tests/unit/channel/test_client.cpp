#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>

#include "control/api/client.hpp"
#include "control/api/unix_socket.hpp"

namespace sluice::channel {
namespace {

using namespace std::chrono_literals;

// A tiny server: accepts one connection at a time and hands each request to
// `handler`, which writes whatever bytes it wants (or nothing).
class TestServer {
public:
    using Handler = std::function<void(int fd, const Request& req)>;

    explicit TestServer(Handler h) : handler_(std::move(h)) {
        char tmpl[] = "/tmp/sluice-client-XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        path_ = dir_ + "/s.sock";
        std::string err;
        listen_fd_ = listen_unix(path_, AccessPolicy{::getuid()}, &err);
        EXPECT_GE(listen_fd_, 0) << err;
        thread_ = std::thread([this] { run(); });
    }
    ~TestServer() {
        stop_ = true;
        thread_.join();
        ::close(listen_fd_);
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    const std::string& path() const { return path_; }
    std::atomic<int> requests{0};

    static void send_all(int fd, const std::string& s) {
        size_t off = 0;
        while (off < s.size()) {
            ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
            if (n <= 0) {
                if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                    pollfd p{fd, POLLOUT, 0};
                    ::poll(&p, 1, 100);
                    continue;
                }
                return;
            }
            off += size_t(n);
        }
    }

private:
    void run() {
        while (!stop_) {
            pollfd p{listen_fd_, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            serve(fd);
        }
    }
    void serve(int fd) {
        FrameReader r;
        char buf[4096];
        while (!stop_) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            r.feed(buf, size_t(n));
            std::string body;
            bool closed = false;
            while (r.next(&body) == FrameReader::Status::frame) {
                auto q = parse_request(body);
                if (!std::holds_alternative<Request>(q)) {
                    closed = true;
                    break;
                }
                ++requests;
                handler_(fd, std::get<Request>(q));
                if (::fcntl(fd, F_GETFD) < 0) {
                    closed = true;
                    break;
                }
            }
            if (closed) break;
        }
        ::close(fd);
    }

    Handler handler_;
    std::string dir_, path_;
    int listen_fd_ = -1;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

void reply_ok(int fd, const Request& q, const Json& result) { TestServer::send_all(fd, frame(encode_ok(q.id, result))); }

// Answers hello; `other` handles the rest.
TestServer::Handler with_hello(std::function<void(int, const Request&)> other) {
    return [other](int fd, const Request& q) {
        if (q.type == "hello") {
            reply_ok(fd, q, Json{{"server", "test"}, {"client_was", q.args.value("client", "")}});
            return;
        }
        other(fd, q);
    };
}

TEST(Client, HelloAndRoundTrip) {
    TestServer srv(with_hello([](int fd, const Request& q) {
        if (q.type == "echo") reply_ok(fd, q, q.args);
        else {
            Error e;
            e.code = ErrorCode::bad_field;
            e.message = "nope";
            e.field = "args.x";
            e.id = q.id;
            TestServer::send_all(fd, frame(encode_error(e)));
        }
    }));
    Client c;
    ASSERT_TRUE(c.connect(srv.path(), "sluicectl", 2s)) << c.error();
    EXPECT_TRUE(c.connected());
    EXPECT_EQ(c.hello_result()["server"], "test");
    EXPECT_EQ(c.hello_result()["client_was"], "sluicectl");
    for (int i = 0; i < 100; ++i) {
        Reply r = c.call("echo", Json{{"n", i}, {"big", std::string(size_t(i) * 100, 'x')}}, 2s);
        ASSERT_TRUE(r.ok) << r.error.message;
        EXPECT_EQ(r.result["n"], i);
    }
    Reply bad = c.call("other", Json::object(), 2s);
    EXPECT_FALSE(bad.ok);
    EXPECT_EQ(bad.error.code, ErrorCode::bad_field);
    EXPECT_EQ(bad.error.field, "args.x");
    EXPECT_TRUE(c.connected());  // bad_field keeps the connection
}

TEST(Client, ConnectFailsWithoutServer) {
    Client c;
    EXPECT_FALSE(c.connect("/tmp/sluice-no-such-dir/x.sock", "t", 200ms));
    EXPECT_NE(c.error().find("x.sock"), std::string::npos) << c.error();
    EXPECT_FALSE(c.connected());
    Reply r = c.call("show", Json::object(), 100ms);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error.code, ErrorCode::unavailable);
}

TEST(Client, HelloRefused) {
    TestServer srv([](int fd, const Request& q) {
        Error e;
        e.code = ErrorCode::not_permitted;
        e.message = "credentials refused";
        e.id = q.id;
        TestServer::send_all(fd, frame(encode_error(e)));
    });
    Client c;
    EXPECT_FALSE(c.connect(srv.path(), "t", 2s));
    EXPECT_NE(c.error().find("credentials refused"), std::string::npos) << c.error();
    EXPECT_FALSE(c.connected());
}

TEST(Client, Timeout) {
    TestServer srv(with_hello([](int, const Request&) {}));  // never answers
    Client c;
    ASSERT_TRUE(c.connect(srv.path(), "t", 2s)) << c.error();
    auto t0 = std::chrono::steady_clock::now();
    Reply r = c.call("show", Json::object(), 150ms);
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error.code, ErrorCode::unavailable);
    EXPECT_NE(r.error.message.find("timed out"), std::string::npos) << r.error.message;
    EXPECT_GE(took, 140ms);
    EXPECT_LT(took, 2s);
    EXPECT_FALSE(c.connected());
}

TEST(Client, ServerClosesMidFrame) {
    TestServer srv(with_hello([](int fd, const Request& q) {
        std::string f = frame(encode_ok(q.id, Json{{"x", 1}}));
        TestServer::send_all(fd, f.substr(0, f.size() / 2));
        ::shutdown(fd, SHUT_RDWR);
    }));
    Client c;
    ASSERT_TRUE(c.connect(srv.path(), "t", 2s)) << c.error();
    Reply r = c.call("show", Json::object(), 2s);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error.code, ErrorCode::unavailable);
    EXPECT_NE(r.error.message.find("truncated"), std::string::npos) << r.error.message;
    EXPECT_FALSE(c.connected());
    // Reconnecting works and starts with a clean reader.
    ASSERT_TRUE(c.connect(srv.path(), "t", 2s)) << c.error();
}

TEST(Client, BadFrameFromServer) {
    TestServer srv(with_hello([](int fd, const Request&) { TestServer::send_all(fd, std::string(4, '\0')); }));
    Client c;
    ASSERT_TRUE(c.connect(srv.path(), "t", 2s)) << c.error();
    Reply r = c.call("show", Json::object(), 2s);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error.code, ErrorCode::bad_frame);
    EXPECT_FALSE(c.connected());
}

TEST(Client, WrongReplyIdAndMalformedReply) {
    TestServer srv(with_hello([](int fd, const Request& q) {
        if (q.type == "wrong_id") TestServer::send_all(fd, frame(encode_ok(q.id + 100, Json::object())));
        else TestServer::send_all(fd, frame("[not an envelope]"));
    }));
    Client c;
    ASSERT_TRUE(c.connect(srv.path(), "t", 2s)) << c.error();
    Reply r = c.call("wrong_id", Json::object(), 2s);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error.code, ErrorCode::bad_frame);
    EXPECT_FALSE(c.connected());
    ASSERT_TRUE(c.connect(srv.path(), "t", 2s)) << c.error();
    r = c.call("garbage", Json::object(), 2s);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error.code, ErrorCode::malformed);
    EXPECT_FALSE(c.connected());
}

TEST(Client, ClosingErrorClosesClient) {
    TestServer srv(with_hello([](int fd, const Request& q) {
        Error e;
        e.code = ErrorCode::unknown_type;
        e.message = "no such request type";
        e.id = q.id;
        TestServer::send_all(fd, frame(encode_error(e)));
    }));
    Client c;
    ASSERT_TRUE(c.connect(srv.path(), "t", 2s)) << c.error();
    Reply r = c.call("nope", Json::object(), 2s);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error.code, ErrorCode::unknown_type);
    EXPECT_FALSE(c.connected());
}

TEST(Client, RequestAboveLimitIsRefusedLocally) {
    TestServer srv(with_hello([](int fd, const Request& q) { reply_ok(fd, q, Json::object()); }));
    Client c;
    c.set_max_message(4096);
    ASSERT_TRUE(c.connect(srv.path(), "t", 2s)) << c.error();
    Reply r = c.call("big", Json{{"x", std::string(5000, 'a')}}, 2s);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error.code, ErrorCode::too_large);
}

}  // namespace
}  // namespace sluice::channel
