// dpdk-dumpcap runner (capture.hpp).
#include "control/cli/capture.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <ostream>
#include <sstream>

#include "control/cli/format.hpp"
#include "control/cli/pcapng.hpp"
#include "control/cli/words.hpp"

namespace sluice::cli {

namespace {

bool all_digits(const std::string& s) {
    if (s.empty() || s.size() > 5) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

std::string absolute(const std::string& path) {
    char buf[PATH_MAX];
    if (::realpath(path.c_str(), buf)) return buf;
    return path;
}

const char* direction_word(Direction d) {
    return d == Direction::rx ? "received" : d == Direction::tx ? "transmitted" : "all";
}

void write_all(int fd, const std::string& data, std::string* err) {
    size_t off = 0;
    while (off < data.size() && err->empty()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n > 0) off += size_t(n);
        else if (n < 0 && errno == EINTR) continue;
        else *err = std::string("write: ") + std::strerror(errno);
    }
}

// Ignores SIGINT while dumpcap runs: Ctrl-C reaches dumpcap too (same
// process group), which stops cleanly and closes its file; sluicectl must
// live on to report it and forward the status.
struct IgnoreSigint {
    struct sigaction old{};
    IgnoreSigint() {
        struct sigaction sa{};
        sa.sa_handler = SIG_IGN;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old);
    }
    ~IgnoreSigint() { sigaction(SIGINT, &old, nullptr); }
};

pid_t spawn(const DumpcapPlan& p, int pipe_w, std::string* err) {
    std::vector<char*> argv;
    for (const auto& a : p.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
        *err = std::string("fork: ") + std::strerror(errno);
        return -1;
    }
    if (pid == 0) {
        // The child: default signal dispositions (an ignored SIGINT would
        // survive exec), the pipe on its agreed descriptor, then dumpcap.
        signal(SIGINT, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        if (pipe_w >= 0) {
            if (pipe_w != kDumpcapPipeFd) {
                if (::dup2(pipe_w, kDumpcapPipeFd) < 0) _exit(127);
                ::close(pipe_w);
            } else {
                // Already there: only clear close-on-exec.
                ::fcntl(pipe_w, F_SETFD, 0);
            }
        }
        ::execv(argv[0], argv.data());
        const char* msg = "sluicectl: cannot run dumpcap: exec failed\n";
        if (::write(2, msg, std::strlen(msg)) < 0) _exit(127);
        _exit(127);
    }
    return pid;
}

int exit_status(int st) {
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return 1;
}

}  // namespace

bool dumpcap_interface(const std::string& port, const Json& ports_result, std::string* iface, std::string* err) {
    if (all_digits(port)) {
        *iface = port;
        return true;
    }
    std::string names;
    for (const Row& r : rows_of(ports_result, "ports")) {
        const Json* n = field(r.value, {"name"});
        const std::string name = n && n->is_string() ? n->get<std::string>() : r.key;
        names += (names.empty() ? "" : ", ") + name;
        if (name != port) continue;
        uint64_t id = 0;
        if (const Json* j = field(r.value, {"id", "port_id"}); j && as_u64(*j, &id)) {
            *iface = std::to_string(id);
            return true;
        }
        if (const Json* d = field(r.value, {"device"}); d && d->is_string() && !d->get<std::string>().empty()) {
            const std::string dev = d->get<std::string>();
            *iface = dev.substr(0, dev.find(','));
            return true;
        }
        *err = "show ports gives neither the DPDK port id nor the device of " + port +
               "; give the DPDK port number instead of the name";
        return false;
    }
    *err = "unknown port \"" + port + "\"" + (names.empty() ? "" : "; the data plane's ports: " + names);
    return false;
}

std::string file_prefix_of(const Json& j) {
    if (!j.is_object()) return "";
    if (const Json* p = field(j, {"file_prefix"}); p && p->is_string()) return p->get<std::string>();
    // The control process may report the data plane's hello inside its own.
    if (const Json* dp = field(j, {"dataplane", "data_plane"}); dp && dp->is_object()) return file_prefix_of(*dp);
    return "";
}

DumpcapPlan dumpcap_plan(const CaptureOptions& o, const std::string& file_prefix, const std::string& iface) {
    DumpcapPlan p;
    p.through_pipe = o.direction != Direction::both;
    auto& a = p.argv;
    a.push_back(o.dumpcap);
    if (!file_prefix.empty()) a.insert(a.end(), {"--file-prefix", file_prefix});
    // -p: the capture never changes the port's promiscuous mode (dumpcap
    // would turn it on, and the data plane would then receive, and drop as
    // l2_not_for_us, frames it never asked for).
    a.insert(a.end(), {"-i", iface, "-p"});
    if (p.through_pipe) {
        // dumpcap opens -w itself; through /proc it opens the pipe
        // sluicectl gave it. The count is sluicectl's: dumpcap would count
        // both directions.
        a.insert(a.end(), {"-w", "/proc/self/fd/" + std::to_string(kDumpcapPipeFd)});
    } else {
        a.insert(a.end(), {"-w", o.file});
        if (o.count) a.insert(a.end(), {"-c", std::to_string(o.count)});
    }
    if (o.duration_s) a.insert(a.end(), {"-a", "duration:" + std::to_string(o.duration_s)});
    if (!o.filter.empty()) a.insert(a.end(), {"-f", o.filter});
    return p;
}

std::string plan_text(const DumpcapPlan& p, const CaptureOptions& o) {
    std::string s;
    for (const auto& a : p.argv) s += (s.empty() ? "" : " ") + quote_word(a);
    if (p.through_pipe) {
        s += " " + std::to_string(kDumpcapPipeFd) + ">&1 | sluicectl keeps " + direction_word(o.direction) +
             " packets";
        if (o.count) s += " (at most " + std::to_string(o.count) + ")";
        s += " in " + quote_word(o.file);
    }
    return s + "\n";
}

int run_dumpcap(const DumpcapPlan& p, const CaptureOptions& o, std::ostream& out, std::ostream& err) {
    if (::access(p.argv.front().c_str(), X_OK) != 0) {
        err << "sluicectl: cannot run " << p.argv.front() << ": " << std::strerror(errno)
            << " (Debian ships it in the dpdk package)\n";
        return 127;
    }
    IgnoreSigint quiet;
    std::string e;
    int status = 0;
    PcapngCounts filtered;
    bool have_filtered = false;
    if (!p.through_pipe) {
        // dumpcap opens its file without O_TRUNC: an older, longer file
        // would keep its tail after the new blocks.
        int fd = ::open(o.file.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd >= 0) ::close(fd);
        const pid_t pid = spawn(p, -1, &e);
        if (pid < 0) {
            err << "sluicectl: " << e << "\n";
            return 1;
        }
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    } else {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) {
            err << "sluicectl: pipe: " << std::strerror(errno) << "\n";
            return 1;
        }
        const int file = ::open(o.file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (file < 0) {
            err << "sluicectl: cannot write " << o.file << ": " << std::strerror(errno) << "\n";
            ::close(fds[0]);
            ::close(fds[1]);
            return 1;
        }
        const pid_t pid = spawn(p, fds[1], &e);
        ::close(fds[1]);
        if (pid < 0) {
            err << "sluicectl: " << e << "\n";
            ::close(fds[0]);
            ::close(file);
            return 1;
        }
        PcapngFilter f(o.direction, o.count);
        bool stopped = false;
        char buf[65536];
        std::string chunk;
        while (true) {
            ssize_t n = ::read(fds[0], buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;  // dumpcap closed its end (it exited)
            chunk.clear();
            if (!f.feed(buf, size_t(n), &chunk) && e.empty()) {
                e = f.error();
                ::kill(pid, SIGINT);
            }
            write_all(file, chunk, &e);
            if (f.done() && !stopped) {
                // Enough packets of the wanted direction: dumpcap stops on
                // SIGINT as on Ctrl-C and closes the pipe; the rest is read
                // and dropped.
                ::kill(pid, SIGINT);
                stopped = true;
            }
        }
        if (e.empty() && !f.finish()) e = f.error();
        ::close(fds[0]);
        if (::close(file) != 0 && e.empty()) e = std::string("close: ") + std::strerror(errno);
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        filtered = f.counts();
        have_filtered = true;
    }
    const int rc = exit_status(status);
    if (!e.empty()) err << "sluicectl: capture: " << e << "\n";
    // Where the file is, and what it holds.
    std::ifstream in(o.file, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    PcapngCounts c;
    std::string perr;
    const std::string where = absolute(o.file);
    if (in && count_pcapng(bytes.str(), &c, &perr)) {
        out << "sluicectl: " << c.packets << (c.packets == 1 ? " packet" : " packets");
        if (c.rx || c.tx) out << " (" << c.rx << " received, " << c.tx << " transmitted)";
        out << " in " << where << "\n";
        if (have_filtered && filtered.packets && !filtered.rx && !filtered.tx)
            err << "sluicectl: dumpcap marked no packet with a direction; none could be kept for "
                << (o.direction == Direction::rx ? "--rx" : "--tx") << "\n";
    } else {
        out << "sluicectl: capture file " << where << "\n";
    }
    if (rc != 0) err << "sluicectl: " << p.argv.front() << " exited with status " << rc << "\n";
    return rc != 0 ? rc : (e.empty() ? 0 : 1);
}

}  // namespace sluice::cli
