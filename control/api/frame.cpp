// Length framing (docs/control-protocol.md, "Framing").
#include "control/api/frame.hpp"

namespace sluice::channel {

std::string frame(std::string_view body) {
    std::string out;
    out.reserve(kHeaderBytes + body.size());
    const uint32_t n = uint32_t(body.size());
    out.push_back(char(uint8_t(n >> 24)));
    out.push_back(char(uint8_t(n >> 16)));
    out.push_back(char(uint8_t(n >> 8)));
    out.push_back(char(uint8_t(n)));
    out.append(body);
    return out;
}

void FrameReader::feed(const char* data, size_t n) {
    // After an error the stream is dead: keeping more bytes would only grow
    // memory for a connection that is about to be closed.
    if (!error_.empty() || n == 0) return;
    // Compact only when the consumed prefix is at least half the buffer, so
    // each byte is moved O(1) times on average instead of once per frame.
    if (off_ > 0 && off_ >= buf_.size() / 2) {
        buf_.erase(0, off_);
        off_ = 0;
    }
    buf_.append(data, n);
}

FrameReader::Status FrameReader::next(std::string* body) {
    if (!error_.empty()) return Status::error;
    if (buffered() < kHeaderBytes) return Status::need_more;
    const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + off_);
    const uint32_t len = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
    if (len == 0) {
        error_ = "bad frame: body length 0";
        return Status::error;
    }
    if (len > max_) {
        // "above the limit" is matched by the servers to answer too_large:
        // keep the words.
        too_large_ = true;
        error_ = "bad frame: body length " + std::to_string(len) + " above the limit of " + std::to_string(max_) +
                 " bytes";
        return Status::error;
    }
    if (buffered() - kHeaderBytes < len) return Status::need_more;
    body->assign(buf_.data() + off_ + kHeaderBytes, len);
    off_ += kHeaderBytes + len;
    if (off_ == buf_.size()) {
        // Everything consumed: reset without moving bytes.
        buf_.clear();
        off_ = 0;
    }
    return Status::frame;
}

}  // namespace sluice::channel
