// sluicectl: the operator's and lab user's client of sluice (docs/cli.md).
// Parses the command line (parse.cpp), then runs one command or the
// interactive prompt. Nothing is thrown out of main: every failure becomes
// a message and an exit status (0 ok, 1 server error, 2 usage, 3 transport).
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <iostream>

#include "control/cli/command.hpp"
#include "control/cli/interactive.hpp"
#include "control/cli/run.hpp"
#include "control/cli/session.hpp"

int main(int argc, char** argv) {
    using namespace sluice::cli;
    try {
        std::vector<std::string> args(argv + 1, argv + argc);
        const char* env = std::getenv("SLUICE_DP_SOCKET");
        Parsed p = parse_command_line(args, env ? env : "");
        if (p.exit_code >= 0) {
            std::cout << p.out;
            std::cerr << p.err;
            return p.exit_code;
        }
        Endpoints ep;
        std::string err;
        if (!resolve_endpoints(p.global, &ep, &err)) {
            std::cerr << "sluicectl: " << err << "\n";
            return kExitUsage;
        }
        Session s(ep, std::chrono::milliseconds(p.global.timeout_ms));
        if (p.cmd.action == Action::none) {
            if (p.global.interactive || isatty(0)) return run_interactive(s, p.global, env ? env : "");
            std::cerr << "sluicectl: no command (stdin is not a terminal; -i reads commands from it); "
                         "sluicectl --help lists the commands\n";
            return kExitUsage;
        }
        Io io{std::cout, std::cerr, 0, isatty(1) != 0, false};
        return run_command(s, p.global, p.cmd, io);
    } catch (const std::exception& e) {
        // A bug (or out of memory): say so instead of std::terminate's abort.
        std::cerr << "sluicectl: internal error: " << e.what() << "\n";
        return 1;
    } catch (...) {
        std::cerr << "sluicectl: internal error\n";
        return 1;
    }
}
