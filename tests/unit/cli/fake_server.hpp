// A control channel server inside the test: listens on a Unix socket in a
// temporary directory and answers each request with a handler's reply, so
// that sluicectl's sessions and exit statuses are tested without the data
// plane or the control process.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control/api/message.hpp"

namespace sluice::cli::test {

class FakeServer {
public:
    // Returns the encoded reply (channel::encode_ok / encode_error).
    using Handler = std::function<std::string(const channel::Request&)>;

    explicit FakeServer(Handler h);
    ~FakeServer();
    FakeServer(const FakeServer&) = delete;
    FakeServer& operator=(const FakeServer&) = delete;

    const std::string& path() const { return path_; }
    const std::string& dir() const { return dir_; }
    bool listening() const { return fd_ >= 0; }
    std::vector<channel::Request> requests();

private:
    void serve();
    void serve_connection(int c);

    Handler handler_;
    std::string dir_, path_;
    int fd_ = -1;
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::vector<channel::Request> requests_;
    std::thread thread_;
};

// A hello that answers like the data plane's.
std::string hello_reply(const channel::Request& r);
std::string ok(const channel::Request& r, const channel::Json& result);
std::string error(const channel::Request& r, channel::ErrorCode code, const std::string& message,
                  const std::string& field = "", std::vector<channel::Error::Item> items = {});

// A fresh directory under /tmp (removed with its files by the destructor).
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

}  // namespace sluice::cli::test
