// sluice-dp's own options (after EAL's, following "--").
#pragma once

#include <string>

namespace sluice::dp {

struct Options {
    std::string config_path;
    std::string check_config;    // --check-config FILE: validate and exit (no EAL)
    unsigned stats_interval = 0; // seconds; 0 = no live table
    std::string control_socket;  // --control-socket PATH: overrides the config's control.socket
    bool help = false;
};

// Returns an empty string on success, else a message for the user.
std::string parse_options(int argc, char** argv, Options* out);
const char* usage();

}  // namespace sluice::dp
