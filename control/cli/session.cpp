// Connections of sluicectl (session.hpp).
#include "control/cli/session.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "config/load.hpp"

namespace sluice::cli {

namespace {

// Connects once without speaking, only to learn why the client failed:
// the errno of connect() says whether anyone listens.
int probe_errno(const std::string& path) {
    sockaddr_un sa{};
    if (path.size() >= sizeof sa.sun_path) return ENAMETOOLONG;
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    int e = rc == 0 ? 0 : errno;
    ::close(fd);
    return e;
}

}  // namespace

bool resolve_endpoints(const GlobalOptions& g, Endpoints* out, std::string* err) {
    config::ControlConfig cc;  // the defaults (/run/sluice/...)
    if (!g.config.empty()) {
        auto r = config::load_config_file(g.config);
        if (!r.ok()) {
            *err = "cannot read the socket paths from " + g.config + ":\n" + r.error_text();
            return false;
        }
        cc = r.config().control;
    }
    out->control = !g.socket.empty() ? g.socket : cc.cli_socket;
    out->dataplane = g.dataplane;
    out->config_dataplane = cc.socket;
    out->dataplane_only = !g.dataplane.empty() && g.socket.empty() && g.config.empty();
    return true;
}

std::string describe_unreachable(const std::string& path, const std::string& who, const std::string& client_error) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) {
        const int e = errno;
        if (e == ENOENT)
            return "cannot reach " + who + ": no socket at " + path + " (" + who +
                   " is not running, or listens elsewhere: see --socket, --dataplane, --config)";
        return "cannot reach " + who + " at " + path + ": " + std::strerror(e);
    }
    if (!S_ISSOCK(st.st_mode)) return "cannot reach " + who + ": " + path + " is not a socket";
    const int e = probe_errno(path);
    switch (e) {
        case 0:
            return who + " runs (it accepts connections on " + path + ") but the exchange failed: " + client_error;
        case ECONNREFUSED:
            return "cannot reach " + who + ": nothing accepts connections on " + path + " (" + who +
                   " is not running; the socket is left from an earlier run)";
        case EACCES:
        case EPERM:
            return "cannot reach " + who + " at " + path + ": permission denied (" + who +
                   " may run, but only root, its own user and members of control.group may connect)";
        case EAGAIN:
            return who + " runs but does not accept connections on " + path + " fast enough (its queue is full)";
        default:
            return "cannot reach " + who + " at " + path + ": " + std::strerror(e);
    }
}

std::string Session::path(Target t) const {
    if (t == Target::control) return ep_.control;
    return ep_.dataplane.empty() ? ep_.config_dataplane : ep_.dataplane;
}

const char* Session::who(Target t) { return t == Target::control ? "sluice-control" : "the data plane (sluice-dp)"; }

CallOutcome Session::connect(Target t) {
    CallOutcome o;
    channel::Client& c = client(t);
    if (c.connected()) return o;
    const std::string p = path(t);
    if (!c.connect(p, "sluicectl", timeout_)) {
        const std::string e = c.error();
        // The server answered hello with an error (not_permitted, ...): it
        // runs and said no.
        if (e.rfind("hello to ", 0) == 0) {
            o.status = kExitServerError;
            o.message = "sluicectl: " + e + "\n";
            return o;
        }
        o.status = kExitTransport;
        o.message = "sluicectl: " + describe_unreachable(p, who(t), e) + "\n";
    }
    return o;
}

CallOutcome Session::hello(Target t) {
    CallOutcome o = connect(t);
    if (o.status == kExitOk) o.result = client(t).hello_result();
    return o;
}

CallOutcome Session::call(Target t, const std::string& type, const Json& args) {
    const bool reused = client(t).connected();
    for (int attempt = 0; attempt < 2; ++attempt) {
        CallOutcome o = connect(t);
        if (o.status != kExitOk) return o;
        channel::Client& c = client(t);
        channel::Reply r = c.call(type, args, timeout_);
        if (r.ok) {
            o.result = std::move(r.result);
            return o;
        }
        // The client closes the connection on a transport failure (a
        // server's own `unavailable` keeps it open).
        const bool transport = !c.connected() && (r.error.code == channel::ErrorCode::unavailable ||
                                                  r.error.code == channel::ErrorCode::bad_frame);
        if (transport) {
            // A kept connection may have died with a restarted server; a
            // show is safe to send again.
            if (attempt == 0 && reused && type == "show") continue;
            o.status = kExitTransport;
            o.message = "sluicectl: " + std::string(who(t)) + " at " + path(t) + ": " + r.error.message + "\n";
            return o;
        }
        o.status = kExitServerError;
        o.error = std::move(r.error);
        return o;
    }
    return CallOutcome{kExitTransport, {}, {}, "sluicectl: unreachable\n"};
}

}  // namespace sluice::cli
