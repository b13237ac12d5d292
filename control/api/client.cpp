// The blocking channel client (control/api/client.hpp).
#include "control/api/client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "control/api/unix_socket.hpp"

namespace sluice::channel {

namespace {

using Clock = std::chrono::steady_clock;

// Milliseconds left until `deadline` for poll(), at least 0.
int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return 0;
    return left > 1000000000 ? 1000000000 : int(left);
}

Error transport_error(ErrorCode c, std::string msg, uint64_t id) {
    Error e;
    e.code = c;
    e.message = std::move(msg);
    e.id = id;
    return e;
}

}  // namespace

void Client::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    // Bytes of the old connection must not be read as the next one's.
    reader_ = FrameReader(max_message_);
}

bool Client::connect(const std::string& path, const std::string& name, std::chrono::milliseconds timeout) {
    close();
    error_.clear();
    hello_ = Json();
    std::string err;
    int fd = connect_unix(path, true, &err);
    if (fd < 0) {
        error_ = err;
        return false;
    }
    fd_ = fd;
    Json args;
    try {
        args = Json{{"client", name}};
    } catch (const std::exception& e) {
        close();
        error_ = e.what();
        return false;
    }
    Reply r = call("hello", args, timeout);
    if (!r.ok) {
        close();
        error_ = "hello to " + path + " failed: " + std::string(to_string(r.error.code)) + ": " + r.error.message;
        return false;
    }
    hello_ = std::move(r.result);
    return true;
}

Reply Client::call(const std::string& type, const Json& args, std::chrono::milliseconds timeout) {
    Reply reply;
    const uint64_t id = next_id_++;
    reply.id = id;
    auto failed = [&](ErrorCode c, std::string msg) {
        close();
        error_ = msg;
        reply.ok = false;
        reply.error = transport_error(c, std::move(msg), id);
        return reply;
    };
    if (fd_ < 0) {
        reply.error = transport_error(ErrorCode::unavailable, "not connected", id);
        return reply;
    }
    const auto deadline = Clock::now() + timeout;

    std::string body = encode_request(id, type, args);
    if (body.size() > max_message_)
        return failed(ErrorCode::too_large, "request of " + std::to_string(body.size()) +
                                                " bytes is above the limit of " + std::to_string(max_message_));
    std::string out;
    try {
        out = frame(body);
    } catch (const std::exception& e) {
        return failed(ErrorCode::internal, e.what());
    }
    size_t sent = 0;
    while (sent < out.size()) {
        // MSG_NOSIGNAL: a server that went away gives EPIPE, not SIGPIPE.
        ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd_, POLLOUT, 0};
            int rc = ::poll(&p, 1, remaining_ms(deadline));
            if (rc < 0 && errno == EINTR) continue;
            if (rc < 0) return failed(ErrorCode::unavailable, std::string("poll: ") + std::strerror(errno));
            if (rc == 0) return failed(ErrorCode::unavailable, "timed out sending " + type);
            continue;
        }
        return failed(ErrorCode::unavailable, std::string("send: ") + std::strerror(n < 0 ? errno : EPIPE));
    }

    std::string rbody;
    char buf[65536];
    while (true) {
        auto st = reader_.next(&rbody);
        if (st == FrameReader::Status::frame) break;
        if (st == FrameReader::Status::error) return failed(ErrorCode::bad_frame, reader_.error());
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n > 0) {
            reader_.feed(buf, size_t(n));
            continue;
        }
        if (n == 0)
            return failed(ErrorCode::unavailable,
                          reader_.partial() ? "connection closed in the middle of a reply (truncated)"
                                            : "connection closed by the server");
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            pollfd p{fd_, POLLIN, 0};
            int rc = ::poll(&p, 1, remaining_ms(deadline));
            if (rc < 0 && errno == EINTR) continue;
            if (rc < 0) return failed(ErrorCode::unavailable, std::string("poll: ") + std::strerror(errno));
            if (rc == 0) return failed(ErrorCode::unavailable, "timed out waiting for the reply to " + type);
            continue;
        }
        return failed(ErrorCode::unavailable, std::string("recv: ") + std::strerror(errno));
    }

    auto parsed = parse_reply(rbody);
    if (auto* e = std::get_if<Error>(&parsed)) {
        Error bad = std::move(*e);
        close();
        error_ = "bad reply: " + bad.message;
        reply.ok = false;
        reply.error = std::move(bad);
        return reply;
    }
    Reply r = std::move(std::get<Reply>(parsed));
    if (r.id != id) {
        // One request at a time: any other id means the stream is out of step.
        return failed(ErrorCode::bad_frame,
                      "reply id " + std::to_string(r.id) + " does not match request id " + std::to_string(id));
    }
    // The server closes after these; so do we, so the next call reconnects
    // instead of writing into a dead socket.
    if (!r.ok && closes_connection(r.error.code)) {
        close();
        error_ = r.error.message;
    }
    return r;
}

}  // namespace sluice::channel
