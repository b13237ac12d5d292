// The in-test channel server (fake_server.hpp).
#include "fake_server.hpp"

#include <dirent.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

#include "control/api/frame.hpp"
#include "control/api/unix_socket.hpp"

namespace sluice::cli::test {

TempDir::TempDir() {
    char tmpl[] = "/tmp/sluicectl-test-XXXXXX";
    if (char* d = ::mkdtemp(tmpl)) path_ = d;
}

TempDir::~TempDir() {
    if (path_.empty()) return;
    if (DIR* d = ::opendir(path_.c_str())) {
        while (dirent* e = ::readdir(d)) {
            const std::string n = e->d_name;
            if (n != "." && n != "..") ::unlink((path_ + "/" + n).c_str());
        }
        ::closedir(d);
    }
    ::rmdir(path_.c_str());
}

FakeServer::FakeServer(Handler h) : handler_(std::move(h)) {
    char tmpl[] = "/tmp/sluicectl-srv-XXXXXX";
    if (char* d = ::mkdtemp(tmpl)) dir_ = d;
    path_ = dir_ + "/test.sock";
    channel::AccessPolicy policy;
    policy.owner = ::getuid();
    std::string err;
    fd_ = channel::listen_unix(path_, policy, &err);
    if (fd_ >= 0) thread_ = std::thread([this] { serve(); });
}

FakeServer::~FakeServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
}

std::vector<channel::Request> FakeServer::requests() {
    std::lock_guard<std::mutex> g(mu_);
    return requests_;
}

void FakeServer::serve() {
    // Bounded waits: the loop checks stop_ at least every 50 ms.
    while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        serve_connection(c);
        ::close(c);
    }
}

void FakeServer::serve_connection(int c) {
    channel::FrameReader reader;
    char buf[65536];
    while (!stop_) {
        std::string body;
        auto st = reader.next(&body);
        if (st == channel::FrameReader::Status::error) return;
        if (st == channel::FrameReader::Status::need_more) {
            pollfd p{c, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) return;
            reader.feed(buf, size_t(n));
            continue;
        }
        auto parsed = channel::parse_request(body);
        if (!std::holds_alternative<channel::Request>(parsed)) return;
        const auto& req = std::get<channel::Request>(parsed);
        {
            std::lock_guard<std::mutex> g(mu_);
            requests_.push_back(req);
        }
        std::string reply = handler_(req);
        if (reply.empty()) return;  // the handler closes the connection
        const std::string out = channel::frame(reply);
        size_t off = 0;
        while (off < out.size()) {
            ssize_t n = ::send(c, out.data() + off, out.size() - off, MSG_NOSIGNAL);
            if (n <= 0) return;
            off += size_t(n);
        }
    }
}

std::string hello_reply(const channel::Request& r) {
    return channel::encode_ok(r.id, channel::Json{{"server", "sluice-dp"},
                                                  {"version", 1},
                                                  {"pid", 4242},
                                                  {"file_prefix", "slt-test"},
                                                  {"ports", {"p0", "p1"}}});
}

std::string ok(const channel::Request& r, const channel::Json& result) { return channel::encode_ok(r.id, result); }

std::string error(const channel::Request& r, channel::ErrorCode code, const std::string& message,
                  const std::string& field, std::vector<channel::Error::Item> items) {
    channel::Error e;
    e.code = code;
    e.message = message;
    e.field = field;
    e.errors = std::move(items);
    e.id = r.id;
    return channel::encode_error(e);
}

}  // namespace sluice::cli::test
