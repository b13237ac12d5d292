// Running commands (run.hpp).
#include "control/cli/run.hpp"

#include <chrono>
#include <ctime>
#include <ostream>

#include "control/cli/capture.hpp"
#include "control/cli/format.hpp"
#include "control/cli/stats.hpp"
#include "control/cli/terminal.hpp"

namespace sluice::cli {

namespace {

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int print_failure(const CallOutcome& o, const Io& io) {
    if (o.status == kExitServerError && o.message.empty()) io.err << format_error(o.error);
    else io.err << o.message;
    return o.status;
}

std::string clock_text() {
    char buf[32];
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
    return buf;
}

int run_stats(Session& s, const GlobalOptions& g, const Command& c, Target t, const Io& io) {
    // The first sample only starts the deltas: every frame shows rates.
    CallOutcome o = s.call(t, c.type, c.args);
    if (o.status != kExitOk) return print_failure(o, io);
    Sample prev = sample_of(c.what, o.result, now_s());
    KeyWatch keys(io.in_fd);
    const std::string title = c.text.empty() ? "show " + c.what + " stats" : c.text;
    char every[32];
    std::snprintf(every, sizeof every, "%g", c.stats.interval_s);
    const std::string stop = keys.watching_keys() ? "any key stops" : "Ctrl-C stops";
    if (io.out_tty && !g.json)
        io.out << "\033[H\033[2J" << title << ": sampling every " << every << " s; " << stop << "\n" << std::flush;
    for (uint32_t n = 0; c.stats.count == 0 || n < c.stats.count;) {
        if (!keys.wait(c.stats.interval_s)) break;
        o = s.call(t, c.type, c.args);
        if (o.status != kExitOk) return print_failure(o, io);
        Sample cur = sample_of(c.what, o.result, now_s());
        if (g.json) {
            // One result per line (JSON lines): each parses on its own.
            io.out << o.result.dump() << "\n" << std::flush;
        } else {
            std::string frame = title + "  every " + every + " s, per second (BPS in bits)  " + clock_text() + "  " +
                                stop + "\n\n" + render_stats(c.what, prev, cur, c.all);
            if (io.out_tty) io.out << "\033[H\033[2J" << frame << std::flush;
            else io.out << frame << "\n" << std::flush;
        }
        prev = std::move(cur);
        ++n;
    }
    // Ctrl-C ends a one-shot view as it ends any command; at the prompt it
    // only ends the view.
    return keys.interrupted() && !io.interactive ? 130 : kExitOk;
}

int run_capture(Session& s, const Command& c, const Io& io) {
    const CaptureOptions& o = c.capture;
    std::string prefix = o.file_prefix, iface;
    const bool numeric = !o.port.empty() && o.port.find_first_not_of("0123456789") == std::string::npos;
    if (prefix.empty() || !numeric) {
        // The data plane knows its file prefix and ports; the control
        // process relays them when the data plane's socket is not ours.
        Target t = Target::dataplane;
        CallOutcome h = s.hello(t);
        if (h.status == kExitTransport && !s.endpoints().dataplane_only) {
            CallOutcome hc = s.hello(Target::control);
            if (hc.status == kExitOk) {
                t = Target::control;
                h = std::move(hc);
            }
        }
        if (h.status != kExitOk) return print_failure(h, io);
        if (prefix.empty()) prefix = file_prefix_of(h.result);
        if (prefix.empty()) {
            CallOutcome st = s.call(t, "show", Json{{"what", "status"}});
            if (st.status == kExitOk) prefix = file_prefix_of(st.result);
        }
        if (prefix.empty()) {
            io.err << "sluicectl: capture: " << Session::who(t)
                   << " did not say the data plane's EAL file prefix; give --file-prefix PREFIX\n";
            return kExitServerError;
        }
        if (!numeric) {
            CallOutcome pr = s.call(t, "show", Json{{"what", "ports"}});
            if (pr.status != kExitOk) return print_failure(pr, io);
            std::string err;
            if (!dumpcap_interface(o.port, pr.result, &iface, &err)) {
                io.err << "sluicectl: capture: " << err << "\n";
                return kExitServerError;
            }
        }
    }
    if (numeric) iface = o.port;
    const DumpcapPlan plan = dumpcap_plan(o, prefix, iface);
    if (o.print_command) {
        io.out << plan_text(plan, o);
        return kExitOk;
    }
    io.out.flush();
    return run_dumpcap(plan, o, io.out, io.err);
}

}  // namespace

bool route_command(const Endpoints& ep, const Command& c, Target* t, std::string* refusal) {
    const std::string words = c.text.empty() ? c.type : c.text;
    if (c.change) {
        if (ep.dataplane_only) {
            *refusal = "sluicectl: " + words +
                       ": changes go to the control process (sluice-control), but --dataplane (or "
                       "SLUICE_DP_SOCKET) talks to the data plane, which takes show and capture only; give "
                       "--socket PATH or --config FILE to reach sluice-control\n";
            return false;
        }
        *t = Target::control;
        return true;
    }
    if (c.control_only) {
        if (ep.dataplane_only) {
            *refusal = "sluicectl: " + words +
                       ": answered by the control process (sluice-control runs the health checks), not the "
                       "data plane; give --socket PATH or --config FILE\n";
            return false;
        }
        *t = Target::control;
        return true;
    }
    *t = ep.dataplane.empty() ? Target::control : Target::dataplane;
    return true;
}

int run_command(Session& s, const GlobalOptions& g, const Command& c, const Io& io) {
    s.set_timeout(std::chrono::milliseconds(g.timeout_ms));
    if (c.action == Action::capture) return run_capture(s, c, io);
    if (c.action != Action::request && c.action != Action::stats) return kExitOk;
    Target t{};
    std::string refusal;
    if (!route_command(s.endpoints(), c, &t, &refusal)) {
        io.err << refusal;
        return kExitUsage;
    }
    if (c.action == Action::stats) return run_stats(s, g, c, t, io);
    CallOutcome o = s.call(t, c.type, c.args);
    if (o.status != kExitOk) return print_failure(o, io);
    if (g.json) io.out << format_json(o.result);
    else if (c.type == "show") io.out << format_show(c.what, o.result, c.all);
    else io.out << format_change(c.type, o.result);
    io.out.flush();
    return kExitOk;
}

}  // namespace sluice::cli
