// Length framing of the control channel (docs/control-protocol.md): each
// message is a 4-byte big-endian body length, then that many bytes of UTF-8
// JSON. A length of 0 or above the limit ends the connection (the reader
// cannot resynchronise a byte stream after a bad length).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::channel {

inline constexpr uint32_t kVersion = 1;                   // the "v" of every message
inline constexpr uint32_t kDefaultMaxMessage = 16u << 20;  // body bytes (config control.max_message)
inline constexpr size_t kHeaderBytes = 4;

// The frame for `body` (header + body).
std::string frame(std::string_view body);

// Incremental decoder for one connection's byte stream.
class FrameReader {
public:
    explicit FrameReader(uint32_t max_body = kDefaultMaxMessage) : max_(max_body) {}
    enum class Status { need_more, frame, error };
    void feed(const char* data, size_t n);
    // The next whole frame's body into *body, or need_more, or error (a
    // length of 0 or above the limit; error() says which, and every later
    // call returns error).
    Status next(std::string* body);
    const std::string& error() const { return error_; }
    // The error was a length above the limit (answered with too_large)
    // rather than a length of 0 (bad_frame). error() also says "above the
    // limit" in that case; servers match on that text too.
    bool too_large() const { return too_large_; }
    size_t buffered() const { return buf_.size() - off_; }
    // A frame was started but not finished (for "truncated" at EOF).
    bool partial() const { return buffered() > 0; }

private:
    uint32_t max_;
    std::string buf_;
    size_t off_ = 0;
    std::string error_;
    bool too_large_ = false;
};

}  // namespace sluice::channel
