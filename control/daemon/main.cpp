// sluice-control: the control process (docs/control.md).
//   sluice-control --config FILE [--daemon]
// SIGTERM/SIGINT stop it cleanly, SIGHUP reloads the config file (as the
// CLI's `reload`). Logs go to stdout, one line per event.
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "config/load.hpp"
#include "control/api/unix_socket.hpp"
#include "control/daemon/cli_server.hpp"
#include "control/daemon/cores.hpp"
#include "control/daemon/log.hpp"
#include "control/daemon/metrics.hpp"
#include "control/daemon/service.hpp"

using namespace sluice;
using namespace sluice::control;

namespace {

void usage(FILE* f) {
    std::fprintf(f,
                 "usage: sluice-control --config FILE [--daemon]\n"
                 "  --config FILE   the config file (the data plane's; its control: section and vips[].health)\n"
                 "  --daemon        detach into the background (keeps logging to its stdout); by default it\n"
                 "                  stays in the foreground, as systemd and a lab run want it\n"
                 "  --foreground    the default (accepted for scripts written for older versions)\n");
}

// Pins the whole process before any thread exists: every thread created
// later (link, CLI, metrics, checker, TBB) inherits control.cores, so none
// of them can land on a data plane worker core.
bool pin_process(const std::vector<uint32_t>& cores, std::string* err) {
    if (cores.empty()) return true;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (uint32_t c : cores) {
        if (c >= CPU_SETSIZE) {
            *err = "control.cores: core " + std::to_string(c) + " is out of range";
            return false;
        }
        CPU_SET(c, &set);
    }
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        *err = "control.cores: cannot run on the cores given: " + std::string(std::strerror(errno));
        return false;
    }
    return true;
}

int run(int argc, char** argv) {
    std::string config_path;
    // Foreground by default: a service manager supervises the process it
    // started (Type=simple); detaching is the exception, asked for by name.
    bool foreground = true;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--config" && i + 1 < argc)
            config_path = argv[++i];
        else if (a.rfind("--config=", 0) == 0)
            config_path = a.substr(9);
        else if (a == "--foreground" || a == "-f")
            foreground = true;
        else if (a == "--daemon" || a == "-d")
            foreground = false;
        else if (a == "--help" || a == "-h") {
            usage(stdout);
            return 0;
        } else {
            std::fprintf(stderr, "sluice-control: unknown argument \"%s\"\n", a.c_str());
            usage(stderr);
            return 2;
        }
    }
    if (config_path.empty()) {
        usage(stderr);
        return 2;
    }
    config::LoadResult lr = config::load_config_file(config_path);
    if (!lr.ok()) {
        for (const auto& e : lr.errors()) std::fprintf(stderr, "%s\n", e.to_string().c_str());
        std::fprintf(stderr, "sluice-control: %s has errors; not started\n", config_path.c_str());
        return 2;
    }
    config::Config cfg = std::move(lr.config());
    const config::ControlConfig cc = cfg.control;

    std::string err;
    if (!pin_process(cc.cores, &err)) {
        std::fprintf(stderr, "sluice-control: %s\n", err.c_str());
        return 1;
    }
    channel::AccessPolicy policy;
    policy.owner = ::geteuid();
    if (!channel::resolve_group(cc.group, &policy, &err)) {
        std::fprintf(stderr, "sluice-control: control.group: %s\n", err.c_str());
        return 1;
    }
    if (!foreground && ::daemon(1, 1) != 0) {
        std::fprintf(stderr, "sluice-control: cannot detach: %s\n", std::strerror(errno));
        return 1;
    }

    // Signals are taken synchronously by the main thread (sigwait); blocked
    // here, before any thread starts, so that every thread inherits the
    // mask and none of them is interrupted by them.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    log_line("sluice-control: starting (config " + config_path + ", data plane " + cc.socket + ", cli " +
             cc.cli_socket + ", metrics " + (cc.metrics.empty() ? std::string("off") : cc.metrics) + ")");
    Service::Options so;
    so.config_path = config_path;
    so.state_file = state_file_path(cc.cli_socket);
    Service service(std::move(cfg), so);
    if (!service.start(&err)) {
        log_line("sluice-control: " + err);
        return 1;
    }
    CliHandler handler(service, cc.socket);
    CliServer::Options co;
    co.path = cc.cli_socket;
    co.policy = policy;
    co.max_message = cc.max_message;
    CliServer cli(handler, co);
    if (!cli.start(&err)) {
        log_line("sluice-control: cli socket: " + err);
        service.stop();
        return 1;
    }
    Metrics metrics(service, cc.socket);
    if (!cc.metrics.empty() && !metrics.start(cc.metrics, &err)) {
        log_line("sluice-control: " + err);
        cli.stop();
        service.stop();
        return 1;
    }
    log_line("sluice-control: ready");

    int code = 0;
    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0) continue;
        if (sig == SIGHUP) {
            log_line("sluice-control: SIGHUP: reload");
            Outcome o = service.reload();
            if (auto* e = std::get_if<channel::Error>(&o)) log_line("sluice-control: reload refused: " + e->message);
            continue;
        }
        log_line(std::string("sluice-control: ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ": stopping");
        break;
    }
    metrics.stop();
    cli.stop();
    service.stop();
    log_line("sluice-control: stopped");
    return code;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sluice-control: fatal: %s\n", e.what());
        return 1;
    }
}
