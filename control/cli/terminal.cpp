// Key watching for the stats views (terminal.hpp).
#include "control/cli/terminal.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

namespace sluice::cli {

namespace {

volatile sig_atomic_t g_signal = 0;

void on_signal(int sig) { g_signal = sig; }

}  // namespace

KeyWatch::KeyWatch(int fd) : fd_(fd) {
    g_signal = 0;
    // No SA_RESTART: poll() returns EINTR, so the view ends at once.
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
    if (isatty(fd_) && tcgetattr(fd_, &saved_) == 0) {
        termios t = saved_;
        // ISIG stays on: Ctrl-C is still SIGINT (and ends the view).
        t.c_lflag &= ~tcflag_t(ICANON | ECHO);
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        raw_ = tcsetattr(fd_, TCSANOW, &t) == 0;
    }
}

KeyWatch::~KeyWatch() {
    if (raw_) {
        // Drop the key that ended the view: it must not reach the next
        // prompt (or the shell) as typed input.
        tcflush(fd_, TCIFLUSH);
        tcsetattr(fd_, TCSANOW, &saved_);
    }
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
}

bool KeyWatch::interrupted() const { return g_signal != 0; }

bool KeyWatch::wait(double seconds) {
    using Clock = std::chrono::steady_clock;
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    while (g_signal == 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return true;
        pollfd p{fd_, POLLIN, 0};
        const int rc = ::poll(&p, raw_ ? 1 : 0, int(left));
        if (rc < 0) {
            if (errno == EINTR) continue;
            return true;  // poll failing leaves the count/signal stops
        }
        if (rc > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
            // A key (or a hangup: nothing will press one any more) ends the
            // view; the byte is consumed so it does not reach the next prompt.
            char c;
            if (::read(fd_, &c, 1) < 0) return false;
            return false;
        }
    }
    return false;
}

}  // namespace sluice::cli
