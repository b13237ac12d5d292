// Running one parsed command against a Session: which process answers it,
// the request, and what is printed; returns the exit status (command.hpp).
#pragma once

#include <iosfwd>

#include "control/cli/command.hpp"
#include "control/cli/session.hpp"

namespace sluice::cli {

struct Io {
    std::ostream& out;
    std::ostream& err;
    int in_fd = 0;          // keys end a stats view (when a terminal)
    bool out_tty = false;   // stats views clear the screen only on a terminal
    bool interactive = false;
};

int run_command(Session& s, const GlobalOptions& g, const Command& c, const Io& io);

// Which process answers `c`, or a refusal (exit 2) in *refusal.
bool route_command(const Endpoints& ep, const Command& c, Target* t, std::string* refusal);

}  // namespace sluice::cli
