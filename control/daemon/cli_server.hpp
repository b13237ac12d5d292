// The control process's own socket (control.cli_socket): the operator's
// CLI (sluicectl) and scripts send `hello`, `show`, route and backend
// changes and `reload` (docs/control-protocol.md, "Control process
// requests"). Request handling (CliHandler) is separate from the socket
// loop (CliServer) so that it can be tested without sockets.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "control/api/client.hpp"
#include "control/api/message.hpp"
#include "control/api/unix_socket.hpp"
#include "control/daemon/service.hpp"

namespace sluice::control {

class CliHandler {
public:
    CliHandler(Service& service, std::string dp_socket, std::chrono::milliseconds dp_timeout = std::chrono::seconds(5));
    // The reply to one request (a whole reply body: the envelope with the
    // request's id). Never throws: a bug becomes an `internal` error.
    std::string handle(const channel::Request& req);
    // The same, as a Reply (tests).
    channel::Reply handle_reply(const channel::Request& req);

private:
    Outcome dispatch(const channel::Request& req);
    Outcome show(const Json& args);
    // A request to the data plane on the proxy connection (reconnected on
    // demand, retried once on a fresh connection: the data plane may have
    // restarted since the last show).
    Outcome ask_dataplane(const std::string& type, const Json& args);

    Service& service_;
    std::string dp_socket_;
    std::chrono::milliseconds dp_timeout_;
    std::mutex client_mu_;
    channel::Client client_;
};

class CliServer {
public:
    struct Options {
        std::string path;
        channel::AccessPolicy policy;
        uint32_t max_message = channel::kDefaultMaxMessage;
        size_t max_connections = 64;  // more are told `busy` and closed
    };
    CliServer(CliHandler& handler, Options opt);
    ~CliServer();
    CliServer(const CliServer&) = delete;
    CliServer& operator=(const CliServer&) = delete;

    // Listens (channel::listen_unix: directory, stale socket, mode/group) and
    // starts the serving thread. False and *err on failure.
    bool start(std::string* err);
    void stop();

private:
    void run();

    CliHandler& handler_;
    Options opt_;
    int listen_fd_ = -1;
    int stop_fd_ = -1;
    std::thread thread_;
};

}  // namespace sluice::control
