// The control process's log: one line per event on stdout, each with a UTC
// timestamp (journald adds its own, but the process is also run by hand and
// by tests). Thread safe: lines from different threads never interleave.
#pragma once

#include <chrono>
#include <string>

namespace sluice::control {

// "2024-12-01T14:30:00.123Z" for `t`.
std::string utc_time(std::chrono::system_clock::time_point t);

// Writes "<time> <line>\n" to stdout and flushes (a crash must not lose the
// events before it). Never throws.
void log_line(const std::string& line);

// Silences log_line (unit tests: thousands of lines of noise otherwise).
void set_log_quiet(bool quiet);

}  // namespace sluice::control
