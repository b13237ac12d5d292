// SignalSource: signals sent to the process are blocked everywhere, wait in
// the kernel until polled (so none sent during start-up is lost) and come out
// of poll() as stop/reload. Runs in its own process (test_lifecycle), whose
// only other threads are the ones these tests start.
#include "dataplane/signals.hpp"

#include <gtest/gtest.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace sluice::dp {
namespace {

void send_to_process(int sig) {
    // Process-directed, as `kill` from a shell: the kernel may pick any
    // thread that does not block it, which is exactly what must not happen.
    ASSERT_EQ(kill(getpid(), sig), 0);
}

TEST(SignalSource, NothingPendingNothingArrives) {
    SignalSource s;
    ASSERT_TRUE(s.ok()) << s.error();
    auto a = s.poll();
    EXPECT_FALSE(a.stop);
    EXPECT_FALSE(a.reload);
}

TEST(SignalSource, HangupsBeforeThePollAreOneReload) {
    SignalSource s;
    ASSERT_TRUE(s.ok()) << s.error();
    // Sent before anyone polls, as during a long start-up.
    for (int i = 0; i < 300; ++i) send_to_process(SIGHUP);
    auto a = s.poll();
    EXPECT_TRUE(a.reload);
    EXPECT_FALSE(a.stop);
    auto b = s.poll();
    EXPECT_FALSE(b.reload) << "a storm of SIGHUPs is one pending reload";
}

TEST(SignalSource, TermAndIntStop) {
    SignalSource s;
    ASSERT_TRUE(s.ok()) << s.error();
    for (int sig : {SIGTERM, SIGINT}) {
        send_to_process(sig);
        auto a = s.poll();
        EXPECT_TRUE(a.stop) << strsignal(sig);
        EXPECT_FALSE(a.reload) << strsignal(sig);
    }
    send_to_process(SIGHUP);
    send_to_process(SIGTERM);
    auto a = s.poll();
    EXPECT_TRUE(a.stop && a.reload) << "both reported by one poll";
}

TEST(SignalSource, ThreadsStartedLaterInheritTheMask) {
    SignalSource s;
    ASSERT_TRUE(s.ok()) << s.error();
    sigset_t seen;
    sigemptyset(&seen);
    std::thread t([&] { pthread_sigmask(SIG_BLOCK, nullptr, &seen); });
    t.join();
    for (int sig : {SIGHUP, SIGINT, SIGTERM}) EXPECT_EQ(sigismember(&seen, sig), 1) << strsignal(sig);
}

TEST(SignalSource, PeerClosingASocketDoesNotKillUs) {
    SignalSource s;
    ASSERT_TRUE(s.ok()) << s.error();
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    close(sv[1]);   // a telemetry client that went away
    char byte = 'x';
    EXPECT_EQ(write(sv[0], &byte, 1), -1);   // write(), as DPDK's telemetry does: no MSG_NOSIGNAL
    EXPECT_EQ(errno, EPIPE);
    close(sv[0]);
}

}  // namespace
}  // namespace sluice::dp
