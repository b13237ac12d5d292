#include "dataplane/signals.hpp"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstring>

namespace sluice::dp {

namespace {

sigset_t taken_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return set;
}

}  // namespace

SignalSource::SignalSource() {
    // A telemetry client that closes its socket before reading the reply
    // makes DPDK's write() raise SIGPIPE, whose default action would end the
    // process; ignored, the write fails with EPIPE and only that client goes.
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, nullptr);

    sigset_t set = taken_signals();
    sigset_t old;
    if (int rc = pthread_sigmask(SIG_BLOCK, &set, &old); rc != 0) {
        error_ = std::string("pthread_sigmask: ") + std::strerror(rc);
        return;
    }
    fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd_ < 0) {
        error_ = std::string("signalfd: ") + std::strerror(errno);
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
}

// The mask stays blocked after the fd is closed: a SIGTERM arriving during
// teardown must not end the process before it prints its final counters and
// checks for leaked mbufs; it stays pending and the process exits normally.
SignalSource::~SignalSource() {
    if (fd_ >= 0) close(fd_);
}

SignalSource::Arrived SignalSource::poll() {
    Arrived a;
    if (fd_ < 0) return a;
    signalfd_siginfo info[8];
    for (;;) {
        ssize_t n = read(fd_, info, sizeof info);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;   // EAGAIN: nothing more pending
        for (size_t i = 0; i < size_t(n) / sizeof info[0]; ++i) {
            if (info[i].ssi_signo == SIGHUP)
                a.reload = true;
            else
                a.stop = true;
        }
    }
    return a;
}

}  // namespace sluice::dp
