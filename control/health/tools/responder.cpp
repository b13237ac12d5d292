// health-responder: the backend side of tests/perf/health_bench.py. Listens
// on 0.0.0.0:<port> (in the bench's namespace every 198.18.0.0/16 address
// is local, so one listener answers for 10 000 "backends"), answers every
// HTTP request with "200 OK" and closes; TCP checks only need the accept.
// One thread, epoll, edge triggered: keeps up with 10 000 connections a
// second on one core. Prints "ready" once listening; stops on SIGINT/SIGTERM.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

constexpr char response[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";

}  // namespace

int main(int argc, char** argv) {
    int port = 8080;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--port" && i + 1 < argc) port = std::atoi(argv[++i]);
        else {
            std::fprintf(stderr, "usage: health-responder [--port N]\n");
            return 2;
        }
    }
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(uint16_t(port));
    sin.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(lfd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) < 0 || listen(lfd, 65535) < 0) {
        std::perror("health-responder: bind/listen");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = lfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    std::vector<std::string> bufs;
    std::printf("ready\n");
    std::fflush(stdout);

    unsigned long long accepted = 0, answered = 0;
    epoll_event evs[512];
    while (!g_stop) {
        int n = epoll_wait(ep, evs, 512, 200);
        for (int i = 0; i < n; ++i) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                for (;;) {
                    int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0) break;
                    ++accepted;
                    if (size_t(c) >= bufs.size()) bufs.resize(size_t(c) + 1024);
                    bufs[size_t(c)].clear();
                    epoll_event cev{};
                    cev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
                    cev.data.fd = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            std::string& b = bufs[size_t(fd)];
            bool done = false;
            for (;;) {
                char tmp[2048];
                ssize_t r = recv(fd, tmp, sizeof tmp, 0);
                if (r > 0) {
                    b.append(tmp, size_t(r));
                    if (b.find("\r\n\r\n") != std::string::npos) {
                        (void)!send(fd, response, sizeof response - 1, MSG_NOSIGNAL);
                        ++answered;
                        done = true;
                        break;
                    }
                    continue;
                }
                if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                done = true;  // EOF or reset (a TCP check)
                break;
            }
            if (done) {
                b.clear();
                close(fd);
            }
        }
    }
    std::fprintf(stderr, "health-responder: accepted %llu answered %llu\n", accepted, answered);
    return 0;
}
