#include "control/daemon/dp_conn.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "control/api/unix_socket.hpp"
#include "control/daemon/sync_parts.hpp"

namespace sluice::control {

using Clock = std::chrono::steady_clock;

namespace {
int remaining_ms(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left <= 0 ? 0 : int(left);
}
}  // namespace

void DpConn::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    reader_ = channel::FrameReader(reader_max_);
}

bool DpConn::connect(const std::string& path, const std::string& client_name, std::chrono::milliseconds timeout,
                     std::string* err) {
    close();
    std::string e;
    fd_ = channel::connect_unix(path, true, &e);
    if (fd_ < 0) {
        if (err) *err = e;
        return false;
    }
    channel::Reply r = call("hello", Json{{"client", client_name}}, timeout);
    if (!r.ok) {
        if (err) *err = "hello: " + std::string(channel::to_string(r.error.code)) + ": " + r.error.message;
        close();
        return false;
    }
    if (!r.result.is_object()) {
        if (err) *err = "hello: the reply's result is not an object";
        close();
        return false;
    }
    hello_ = std::move(r.result);
    return true;
}

channel::Reply DpConn::transport_error(channel::ErrorCode code, std::string message) {
    close();
    channel::Reply r;
    r.ok = false;
    r.error.code = code;
    r.error.message = std::move(message);
    return r;
}

channel::Reply DpConn::call(std::string_view type, const Json& args, std::chrono::milliseconds timeout) {
    return call_raw(type, dump_json(args.is_null() ? Json::object() : args), timeout);
}

channel::Reply DpConn::call_raw(std::string_view type, std::string_view args_json, std::chrono::milliseconds timeout) {
    if (fd_ < 0) return transport_error(channel::ErrorCode::unavailable, "not connected to the data plane");
    const uint64_t id = next_id_++;
    // The envelope of encode_request(), written around text that is already JSON.
    std::string body;
    body.reserve(args_json.size() + kPartEnvelope);
    body += "{\"v\":1,\"id\":";
    body += std::to_string(id);
    body += ",\"type\":";
    body += dump_json(Json(std::string(type)));
    body += ",\"args\":";
    body += args_json;
    body += '}';
    return exchange(id, body, timeout);
}

channel::Reply DpConn::exchange(uint64_t id, const std::string& body, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    const std::string out = channel::frame(body);
    size_t off = 0;
    while (off < out.size()) {
        const ssize_t n = ::send(fd_, out.data() + off, out.size() - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd_, POLLOUT, 0};
            const int ms = remaining_ms(deadline);
            if (ms == 0 || ::poll(&p, 1, ms) == 0)
                return transport_error(channel::ErrorCode::unavailable, "timed out sending to the data plane");
            continue;
        }
        return transport_error(channel::ErrorCode::unavailable,
                               std::string("send to the data plane: ") + std::strerror(errno));
    }
    std::string reply_body;
    char buf[65536];
    for (;;) {
        auto st = reader_.next(&reply_body);
        if (st == channel::FrameReader::Status::frame) break;
        if (st == channel::FrameReader::Status::error)
            return transport_error(channel::ErrorCode::bad_frame, "from the data plane: " + reader_.error());
        pollfd p{fd_, POLLIN, 0};
        const int ms = remaining_ms(deadline);
        const int pr = ms == 0 ? 0 : ::poll(&p, 1, ms);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) return transport_error(channel::ErrorCode::unavailable, "timed out waiting for the data plane");
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n > 0) {
            reader_.feed(buf, size_t(n));
            continue;
        }
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        return transport_error(channel::ErrorCode::unavailable,
                               n == 0 ? "the data plane closed the connection"
                                      : std::string("receive from the data plane: ") + std::strerror(errno));
    }
    auto parsed = channel::parse_reply(reply_body);
    if (auto* e = std::get_if<channel::Error>(&parsed))
        return transport_error(channel::ErrorCode::unavailable, "bad reply from the data plane: " + e->message);
    channel::Reply r = std::get<channel::Reply>(std::move(parsed));
    if (r.id != id && r.id != 0)
        return transport_error(channel::ErrorCode::unavailable, "reply out of step (id " + std::to_string(r.id) +
                                                                    ", expected " + std::to_string(id) + ")");
    // An error that closes the connection on the server's side closes ours.
    if (!r.ok && channel::closes_connection(r.error.code)) close();
    return r;
}

bool DpConn::peer_gone() {
    if (fd_ < 0) return true;
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0) return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    return true;  // bytes nobody asked for: the stream is out of step
}

}  // namespace sluice::control
