// A streaming reader of pcapng (draft-ietf-opsawg-pcapng) as dpdk-dumpcap
// writes it, for two jobs: keeping only one direction of a capture
// (dpdk-dumpcap of DPDK 22.11 always captures RX and TX; each Enhanced
// Packet Block carries the direction in its epb_flags option, bits 0-1:
// 1 inbound, 2 outbound) and counting the packets of a finished file.
// Blocks other than packets (section header, interface description,
// statistics) pass through unchanged.
#pragma once

#include <cstdint>
#include <string>

#include "control/cli/command.hpp"

namespace sluice::cli {

struct PcapngCounts {
    uint64_t packets = 0;  // packet blocks seen
    uint64_t rx = 0, tx = 0, unknown = 0;
    uint64_t kept = 0;     // packet blocks written out
};

class PcapngFilter {
public:
    // `max_packets` 0: no limit; past it, packet blocks are dropped.
    PcapngFilter(Direction keep, uint64_t max_packets) : keep_(keep), max_(max_packets) {}

    // Appends the blocks to write to *out. False (and error()) when the
    // stream is not pcapng; nothing more is accepted then.
    bool feed(const char* data, size_t n, std::string* out);
    // At the end of the stream: false when a block was cut short.
    bool finish();
    bool done() const { return max_ != 0 && counts_.kept >= max_; }
    const PcapngCounts& counts() const { return counts_; }
    const std::string& error() const { return error_; }

private:
    bool block(const char* b, uint32_t len, std::string* out);

    Direction keep_;
    uint64_t max_;
    std::string buf_;
    bool little_ = true;
    bool started_ = false;
    PcapngCounts counts_;
    std::string error_;
};

// The counts of a whole file's bytes (false: not pcapng, or cut short).
bool count_pcapng(const std::string& bytes, PcapngCounts* out, std::string* err);

}  // namespace sluice::cli
