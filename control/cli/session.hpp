// The connections of one sluicectl run: to the control process (changes,
// and show unless --dataplane), and to the data plane (show with
// --dataplane, capture). Connections open on first use and stay open for
// the interactive prompt; a transport failure is described by what is
// wrong with the socket (missing, stale, refused by permissions, not
// answering), which tells the operator whether the process runs.
#pragma once

#include <chrono>
#include <string>

#include "control/api/client.hpp"
#include "control/cli/command.hpp"

namespace sluice::cli {

struct Endpoints {
    std::string control;    // the control process's socket
    std::string dataplane;  // the data plane's socket ("" = not asked for)
    // The data plane's socket from the config (or its default): capture
    // talks to the data plane even without --dataplane.
    std::string config_dataplane;
    // Change commands refuse: --dataplane (or SLUICE_DP_SOCKET) without
    // --socket/--config means "no control process here".
    bool dataplane_only = false;
};

// --socket, else --config's control.cli_socket, else the default; the
// data plane from --dataplane / $SLUICE_DP_SOCKET. False and *err when the
// config file does not load.
bool resolve_endpoints(const GlobalOptions& g, Endpoints* out, std::string* err);

enum class Target { control, dataplane };

struct CallOutcome {
    int status = kExitOk;  // kExitOk, kExitServerError or kExitTransport
    Json result;           // ok
    channel::Error error;  // server error
    std::string message;   // transport failure: the whole text to print
};

// What is wrong with `path`, for a failed connection (naming the socket
// and saying whether `who` runs). `client_error` is the client's error.
std::string describe_unreachable(const std::string& path, const std::string& who, const std::string& client_error);

class Session {
public:
    Session(Endpoints e, std::chrono::milliseconds timeout) : ep_(std::move(e)), timeout_(timeout) {}

    const Endpoints& endpoints() const { return ep_; }
    void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }

    // One request. Show requests are retried once on a fresh connection
    // when a kept connection turned out dead (the server restarted).
    CallOutcome call(Target t, const std::string& type, const Json& args);
    // Connects (if needed) and returns the hello result, or a transport
    // failure.
    CallOutcome hello(Target t);
    std::string path(Target t) const;
    static const char* who(Target t);

private:
    CallOutcome connect(Target t);
    channel::Client& client(Target t) { return t == Target::control ? control_ : dataplane_; }

    Endpoints ep_;
    std::chrono::milliseconds timeout_;
    channel::Client control_, dataplane_;
};

}  // namespace sluice::cli
