// What one sluicectl invocation (or one interactive line) asks for: the
// global options and the command, parsed by CLI11 (parse.cpp) into the
// request type and arguments it sends (docs/control-protocol.md), so that
// the same parser serves argv, the interactive prompt and the unit tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::cli {

using Json = nlohmann::json;

// Exit statuses (docs/cli.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitServerError = 1;  // the server answered with an error
inline constexpr int kExitUsage = 2;        // the command line is wrong
inline constexpr int kExitTransport = 3;    // the socket could not be reached

inline constexpr uint32_t kDefaultTimeoutMs = 5000;
inline constexpr const char* kDefaultDumpcap = "/usr/bin/dpdk-dumpcap";

struct GlobalOptions {
    std::string socket;     // --socket: the control process's socket ("" = from --config or the default)
    std::string dataplane;  // --dataplane or SLUICE_DP_SOCKET: show goes straight to the data plane
    std::string config;     // --config: read the control: section for the socket paths
    bool json = false;
    uint32_t timeout_ms = kDefaultTimeoutMs;
    bool interactive = false;  // -i
    // Which connection options were written on this line (an interactive
    // line may not change them: the session is already connected).
    bool socket_given = false, dataplane_given = false, config_given = false;
};

enum class Action : uint8_t {
    none,         // no command: the interactive prompt (or usage)
    request,      // one request, its result printed
    stats,        // a refreshing `show ... stats` view
    capture,      // dpdk-dumpcap against the data plane
};

enum class Direction : uint8_t { both, rx, tx };

struct CaptureOptions {
    std::string port;            // sluice port name (or a DPDK port number)
    Direction direction = Direction::both;
    std::string file;            // -w
    uint64_t count = 0;          // -c (0 = no limit)
    uint32_t duration_s = 0;     // --duration (0 = no limit)
    std::string filter;          // --filter (libpcap syntax)
    bool print_command = false;  // dry run: print the dumpcap command line
    std::string file_prefix;     // --file-prefix: the data plane's EAL prefix (else from its hello)
    std::string dumpcap = kDefaultDumpcap;
};

struct StatsOptions {
    double interval_s = 1.0;  // between refreshes
    uint32_t count = 0;       // refreshes before returning (0 = until a key or SIGINT)
};

struct Command {
    Action action = Action::none;
    std::string type;   // request type: "show", "route_add", ... ("" for capture)
    Json args = Json::object();
    std::string what;   // show: the `what` (ports, routes, ...)
    bool change = false;        // a change request: needs the control process
    bool control_only = false;  // answered by the control process only (show health)
    bool all = false;           // show drops --all: zero counters too
    StatsOptions stats;
    CaptureOptions capture;
    std::string text;  // the words of the command, for messages
};

// The outcome of parsing: exit_code < 0 means "run the command"; otherwise
// print `out` (help) and `err` (the error) and exit with exit_code.
struct Parsed {
    int exit_code = -1;
    std::string out, err;
    GlobalOptions global;
    Command cmd;
};

// `args` excludes argv[0]. `env_dataplane` is $SLUICE_DP_SOCKET ("" when
// unset): the default of --dataplane. Never throws.
Parsed parse_command_line(const std::vector<std::string>& args, const std::string& env_dataplane = "");

// The command names of the tree (for completion and `help`):
// {"show", {"ports", ...}}, ...
struct CommandNode {
    std::string name;
    std::string help;
    std::vector<std::string> options;  // long and short names: "--limit", "-c"
    std::vector<CommandNode> children;
};
CommandNode command_tree();

// The top-level help of the interactive prompt (every command, one a line).
std::string interactive_help();

}  // namespace sluice::cli
