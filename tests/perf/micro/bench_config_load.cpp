// Time and peak memory of config::load_config_file on a large route table,
// the parse-and-validate part of a full load or reload (issue 7). Make a
// table with tests/perf/route_table.py, then load it:
//
//   python3 tests/perf/route_table.py v4 1000000 /tmp/full4.txt
//       --gateways 198.18.1.2,198.18.1.3 --ecmp-share 0.1   (one command)
//   build/tests/perf/bench_config_load [--runs N] ROUTE_FILE...
//   build/tests/perf/bench_config_load [--runs N] --config CONFIG.yaml
//
// With route files, it writes a temporary config with the two ports of
// tests/perf/bench-null.yaml (gateways 198.18.1.x and 2001:db8:fffe:1::x are
// connected) that lists them. Each run loads the whole config; it prints the
// time and the peak resident size during that run (VmHWM, reset before each
// run through /proc/self/clear_refs), the CPU time it used (user + system,
// which a busy machine inflates less than the elapsed time) and its page
// faults, then the medians. Nothing is asserted.
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "config/load.hpp"

namespace {

// A "VmHWM:" / "VmRSS:" line of /proc/self/status, in KiB (0 if absent).
long status_kib(const char* key) {
    std::ifstream in("/proc/self/status");
    std::string line;
    size_t n = std::strlen(key);
    while (std::getline(in, line))
        if (line.compare(0, n, key) == 0) return std::atol(line.c_str() + n);
    return 0;
}

// Resets VmHWM to the current RSS (Linux 4.0+, proc(5) clear_refs "5").
bool reset_peak() {
    std::ofstream out("/proc/self/clear_refs");
    out << "5";
    return bool(out.flush());
}

std::string absolute(const std::string& p) {
    if (!p.empty() && p[0] == '/') return p;
    char cwd[4096];
    return std::string(getcwd(cwd, sizeof cwd) ? cwd : ".") + "/" + p;
}

std::string write_config(const std::vector<std::string>& route_files) {
    char tmpl[] = "/tmp/bench-config-load-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        std::perror("mkstemp");
        std::exit(2);
    }
    close(fd);
    std::ofstream out(tmpl);
    out << "ports:\n"
           "  - name: p0\n"
           "    device: net_null0\n"
           "    addresses: [\"198.18.0.1/24\", \"2001:db8:fffe::1/64\"]\n"
           "  - name: p1\n"
           "    device: net_null1\n"
           "    addresses: [\"198.18.1.1/24\", \"2001:db8:fffe:1::1/64\"]\n"
           "route_files:\n";
    for (const auto& f : route_files) out << "  - \"" << absolute(f) << "\"\n";
    return tmpl;
}

struct Usage {
    double user_ms;
    double sys_ms;
    long minflt;  // minor page faults
    double cpu_ms() const { return user_ms + sys_ms; }
};
Usage usage_now() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto ms = [](const timeval& t) { return double(t.tv_sec) * 1e3 + double(t.tv_usec) / 1e3; };
    return {ms(ru.ru_utime), ms(ru.ru_stime), ru.ru_minflt};
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

int usage() {
    std::fprintf(stderr, "usage: bench_config_load [--runs N] (--config FILE.yaml | ROUTE_FILE...)\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    int runs = 5;
    std::string config;
    std::vector<std::string> route_files;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--runs" && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
        else if (a == "--config" && i + 1 < argc) config = argv[++i];
        else if (!a.empty() && a[0] == '-') return usage();
        else route_files.push_back(a);
    }
    if (config.empty() == route_files.empty()) return usage();
    bool temp = config.empty();
    if (temp) config = write_config(route_files);

    std::printf("config %s, %d runs, baseline RSS %.1f MiB\n", config.c_str(), runs, status_kib("VmRSS:") / 1024.0);
    std::vector<double> ms, cpu, peak;
    int rc = 0;
    for (int r = 0; r < runs; ++r) {
        malloc_trim(0);  // start each run from the same heap, not the last run's free lists
        bool peak_ok = reset_peak();
        Usage u0 = usage_now();
        auto t0 = std::chrono::steady_clock::now();
        auto res = sluice::config::load_config_file(config);
        auto t1 = std::chrono::steady_clock::now();
        Usage u1 = usage_now();
        double t = std::chrono::duration<double, std::milli>(t1 - t0).count();
        double hwm = peak_ok ? status_kib("VmHWM:") / 1024.0 : 0;
        if (!res.ok()) {
            std::string text = res.error_text();
            std::fprintf(stderr, "load failed (%zu errors):\n%.2000s\n", res.errors().size(), text.c_str());
            rc = 1;
            break;
        }
        ms.push_back(t);
        cpu.push_back(u1.cpu_ms() - u0.cpu_ms());
        peak.push_back(hwm);
        std::printf("run %d: %zu routes, %.1f ms (CPU %.1f ms: user %.1f, system %.1f; %ld page faults), "
                    "peak RSS %.1f MiB, RSS with the config alive %.1f MiB\n",
                    r + 1, res.config().routes.size(), t, u1.cpu_ms() - u0.cpu_ms(), u1.user_ms - u0.user_ms,
                    u1.sys_ms - u0.sys_ms, u1.minflt - u0.minflt, hwm, status_kib("VmRSS:") / 1024.0);
    }
    if (!ms.empty())
        std::printf("median %.1f ms (min %.1f, max %.1f), median CPU %.1f ms, peak RSS max %.1f MiB\n", median(ms),
                    *std::min_element(ms.begin(), ms.end()), *std::max_element(ms.begin(), ms.end()), median(cpu),
                    *std::max_element(peak.begin(), peak.end()));
    if (temp) std::remove(config.c_str());
    return rc;
}
