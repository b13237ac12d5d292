// The interactive prompt `sluice> ` (libedit): line editing, history in
// ~/.sluicectl_history (bounded), tab completion (complete.hpp); every line
// goes through the same parser as the command line.
#pragma once

#include <string>

#include "control/cli/command.hpp"
#include "control/cli/session.hpp"

namespace sluice::cli {

// Returns the exit status of the prompt: 0 after quit/exit/Ctrl-D.
int run_interactive(Session& s, const GlobalOptions& g, const std::string& env_dataplane);

}  // namespace sluice::cli
