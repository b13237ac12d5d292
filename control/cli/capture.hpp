// `sluicectl capture`: Debian's dpdk-dumpcap, run as a DPDK secondary
// process against the data plane (which calls rte_pdump_init), writes the
// port's packets into a pcapng file. sluicectl finds the data plane's EAL
// file prefix and the port's DPDK port id, builds dumpcap's arguments, runs
// it with fork/exec (no shell) and forwards its exit status. dumpcap of
// DPDK 22.11 captures both directions; for --rx/--tx it writes into a pipe
// and sluicectl keeps one direction (pcapng.hpp).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "control/cli/command.hpp"

namespace sluice::cli {

// dumpcap's `-i` for a sluice port: a DPDK port number as given; else the
// port's id from `show ports` (dumpcap takes a port index or an ethdev
// name), else its device name (the devargs before the first comma:
// "net_tap0,iface=sl0" is ethdev "net_tap0").
bool dumpcap_interface(const std::string& port, const Json& ports_result, std::string* iface, std::string* err);

// The EAL file prefix from the data plane's hello (or a status result).
std::string file_prefix_of(const Json& hello_or_status);

// The file descriptor dumpcap writes to when sluicectl filters (--rx/--tx).
inline constexpr int kDumpcapPipeFd = 3;

struct DumpcapPlan {
    std::vector<std::string> argv;  // argv[0] is the dumpcap binary
    bool through_pipe = false;      // sluicectl filters a direction and writes the file
};
DumpcapPlan dumpcap_plan(const CaptureOptions& o, const std::string& file_prefix, const std::string& iface);

// The plan as one line a shell would run (for --print-command).
std::string plan_text(const DumpcapPlan& p, const CaptureOptions& o);

// Runs dumpcap and reports the file; returns dumpcap's exit status (128 +
// signal when it was killed), 127 when it cannot be started.
int run_dumpcap(const DumpcapPlan& p, const CaptureOptions& o, std::ostream& out, std::ostream& err);

}  // namespace sluice::cli
