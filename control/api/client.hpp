// A blocking client of the control channel, for the control process (to
// the data plane) and the CLI (to the control process or, for show
// commands, the data plane). One request at a time; every call has a
// deadline, and a connection that fails in any way is closed (the caller
// reconnects).
#pragma once

#include <chrono>
#include <string>

#include "control/api/frame.hpp"
#include "control/api/message.hpp"

namespace sluice::channel {

class Client {
public:
    Client() = default;
    ~Client() { close(); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Connects and says hello ({"client": name}); the hello reply's result
    // is kept (hello_result()). False and error() on failure.
    bool connect(const std::string& path, const std::string& name, std::chrono::milliseconds timeout);
    bool connected() const { return fd_ >= 0; }
    void close();

    // Sends one request and waits for its reply. A transport failure
    // (timeout, closed, bad frame) returns an Error with code `unavailable`
    // or `bad_frame` and closes the connection; a reply with ok=false is
    // returned as it came.
    Reply call(const std::string& type, const Json& args, std::chrono::milliseconds timeout);

    // The largest reply body accepted (control.max_message); applies from
    // the next connect().
    void set_max_message(uint32_t bytes) { max_message_ = bytes; }

    const Json& hello_result() const { return hello_; }
    const std::string& error() const { return error_; }
    int fd() const { return fd_; }

private:
    int fd_ = -1;
    uint64_t next_id_ = 1;
    uint32_t max_message_ = kDefaultMaxMessage;
    FrameReader reader_;
    Json hello_;
    std::string error_;
};

}  // namespace sluice::channel
