// One connection to the data plane's channel socket, for the link thread.
// Unlike channel::Client it can send a request whose `args` is already JSON
// text: a full sync's parts are encoded in parallel ahead of time
// (sync_parts.hpp), and parsing them back into a Json only for the client
// to print them again would cost as much as encoding them did.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "control/api/frame.hpp"
#include "control/api/message.hpp"

namespace sluice::control {

using channel::Json;

class DpConn {
public:
    explicit DpConn(uint32_t max_message = channel::kDefaultMaxMessage)
        : reader_max_(max_message), reader_(max_message) {}
    ~DpConn() { close(); }
    DpConn(const DpConn&) = delete;
    DpConn& operator=(const DpConn&) = delete;

    // Connects and says hello; the reply's result is hello(). False and *err
    // on any failure (the connection is then closed).
    bool connect(const std::string& path, const std::string& client_name, std::chrono::milliseconds timeout,
                 std::string* err);
    bool connected() const { return fd_ >= 0; }
    void close();
    int fd() const { return fd_; }
    const Json& hello() const { return hello_; }

    // One request and its reply. A transport failure (timeout, EOF, bad
    // frame, a reply that is not one) closes the connection and returns an
    // `unavailable` (or `bad_frame`) error; a reply with ok=false comes back
    // as it came.
    channel::Reply call(std::string_view type, const Json& args, std::chrono::milliseconds timeout);
    channel::Reply call_raw(std::string_view type, std::string_view args_json, std::chrono::milliseconds timeout);

    // Called when poll() says the idle connection is readable: the peer
    // closed or reset it, or sent something unasked (the protocol has no
    // server push, so the stream is out of step). True: reconnect.
    bool peer_gone();

private:
    channel::Reply exchange(uint64_t id, const std::string& body, std::chrono::milliseconds timeout);
    channel::Reply transport_error(channel::ErrorCode code, std::string message);

    int fd_ = -1;
    uint64_t next_id_ = 1;
    uint32_t reader_max_;
    channel::FrameReader reader_;
    Json hello_;
};

}  // namespace sluice::control
