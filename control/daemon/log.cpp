#include "control/daemon/log.hpp"

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace sluice::control {

namespace {
std::mutex g_log_mutex;
std::atomic<bool> g_quiet{false};
}  // namespace

std::string utc_time(std::chrono::system_clock::time_point t) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    const std::time_t secs = std::time_t(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[96];  // room for any int the compiler can imagine in each field
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, int(ms % 1000));
    return buf;
}

void log_line(const std::string& line) {
    if (g_quiet.load(std::memory_order_relaxed)) return;
    try {
        const std::string text = utc_time(std::chrono::system_clock::now()) + " " + line + "\n";
        std::lock_guard<std::mutex> g(g_log_mutex);
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
    } catch (...) {
        // Out of memory while logging: nothing sensible left to do; the
        // event is lost rather than the process.
    }
}

void set_log_quiet(bool quiet) { g_quiet.store(quiet, std::memory_order_relaxed); }

}  // namespace sluice::control
