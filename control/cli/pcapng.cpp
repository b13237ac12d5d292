// pcapng reading (pcapng.hpp). Block layout (draft-ietf-opsawg-pcapng,
// section 3.1): type (4), total length (4), body, total length (4); every
// length a multiple of 4, in the byte order of the section header's magic.
#include "control/cli/pcapng.hpp"

namespace sluice::cli {

namespace {

constexpr uint32_t kShb = 0x0A0D0D0A;   // section header (palindromic: no byte order needed)
constexpr uint32_t kEpb = 6;            // enhanced packet block
constexpr uint32_t kSpb = 3;            // simple packet block (no options, no direction)
constexpr uint32_t kObsoletePb = 2;     // packet block (obsolete)
constexpr uint32_t kMagic = 0x1A2B3C4D; // byte-order magic of the section header
constexpr uint16_t kOptEnd = 0;
constexpr uint16_t kOptEpbFlags = 2;
// dpdk-dumpcap's blocks are at most a jumbo frame and options; a length far
// above that means the stream is not what we think it is.
constexpr uint32_t kMaxBlock = 16u << 20;

uint32_t rd32(const char* p, bool little) {
    const auto* u = reinterpret_cast<const unsigned char*>(p);
    return little ? uint32_t(u[0]) | uint32_t(u[1]) << 8 | uint32_t(u[2]) << 16 | uint32_t(u[3]) << 24
                  : uint32_t(u[3]) | uint32_t(u[2]) << 8 | uint32_t(u[1]) << 16 | uint32_t(u[0]) << 24;
}

uint16_t rd16(const char* p, bool little) {
    const auto* u = reinterpret_cast<const unsigned char*>(p);
    return little ? uint16_t(u[0] | u[1] << 8) : uint16_t(u[1] | u[0] << 8);
}

uint32_t pad4(uint32_t n) { return (n + 3u) & ~3u; }

// 0 unknown, 1 inbound, 2 outbound: the epb_flags direction bits, or 0
// when the block has no such option.
unsigned epb_direction(const char* b, uint32_t len, bool little) {
    // type, length, interface id, timestamp (2), captured length, original length
    constexpr uint32_t kFixed = 28;
    if (len < kFixed + 4) return 0;
    const uint32_t caplen = rd32(b + 20, little);
    uint64_t off = uint64_t(kFixed) + pad4(caplen);
    const uint64_t end = len - 4;  // before the trailing length
    while (off + 4 <= end) {
        const uint16_t code = rd16(b + off, little);
        const uint16_t olen = rd16(b + off + 2, little);
        if (code == kOptEnd) break;
        if (code == kOptEpbFlags && olen == 4 && off + 8 <= end) return rd32(b + off + 4, little) & 3u;
        off += 4 + pad4(olen);
    }
    return 0;
}

}  // namespace

bool PcapngFilter::block(const char* b, uint32_t len, std::string* out) {
    const uint32_t type = rd32(b, little_);
    const bool packet = type == kEpb || type == kSpb || type == kObsoletePb;
    if (!packet) {
        out->append(b, len);
        return true;
    }
    ++counts_.packets;
    const unsigned dir = type == kEpb ? epb_direction(b, len, little_) : 0;
    if (dir == 1) ++counts_.rx;
    else if (dir == 2) ++counts_.tx;
    else ++counts_.unknown;
    const bool want = keep_ == Direction::both || (keep_ == Direction::rx && dir == 1) ||
                      (keep_ == Direction::tx && dir == 2);
    if (!want || done()) return true;
    out->append(b, len);
    ++counts_.kept;
    return true;
}

bool PcapngFilter::feed(const char* data, size_t n, std::string* out) {
    if (!error_.empty()) return false;
    buf_.append(data, n);
    size_t off = 0;
    while (buf_.size() - off >= 12) {
        const char* b = buf_.data() + off;
        const uint32_t type = rd32(b, true);
        if (type == kShb) {
            // Each section sets its own byte order.
            const uint32_t magic = rd32(b + 8, true);
            if (magic == kMagic) little_ = true;
            else if (rd32(b + 8, false) == kMagic) little_ = false;
            else {
                error_ = "pcapng section header with a bad byte-order magic";
                return false;
            }
            started_ = true;
        } else if (!started_) {
            error_ = "not a pcapng stream (no section header first)";
            return false;
        }
        const uint32_t len = rd32(b + 4, little_);
        if (len < 12 || len % 4 != 0 || len > kMaxBlock) {
            error_ = "pcapng block of bad length " + std::to_string(len);
            return false;
        }
        if (buf_.size() - off < len) break;
        if (rd32(b + len - 4, little_) != len) {
            error_ = "pcapng block whose trailing length differs from its leading one";
            return false;
        }
        block(b, len, out);
        off += len;
    }
    buf_.erase(0, off);
    return true;
}

bool PcapngFilter::finish() {
    if (!error_.empty()) return false;
    if (!buf_.empty()) {
        error_ = "the capture ends inside a block (" + std::to_string(buf_.size()) + " bytes left)";
        return false;
    }
    return true;
}

bool count_pcapng(const std::string& bytes, PcapngCounts* out, std::string* err) {
    PcapngFilter f(Direction::both, 0);
    std::string sink;
    const bool ok = f.feed(bytes.data(), bytes.size(), &sink) && f.finish();
    *out = f.counts();
    if (!ok) *err = f.error();
    return ok;
}

}  // namespace sluice::cli
