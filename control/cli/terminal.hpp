// The terminal during a stats view: stdin in non-canonical mode without
// echo (termios), so one key press ends the view without Enter; the
// previous settings come back when the view ends, on SIGINT and SIGTERM
// too (the handlers only set a flag; the destructor restores).
#pragma once

#include <termios.h>

#include <csignal>

namespace sluice::cli {

class KeyWatch {
public:
    // `fd` is stdin; when it is not a terminal no key is watched (a pipe
    // or /dev/null would read as "pressed" at once), only signals.
    explicit KeyWatch(int fd);
    ~KeyWatch();
    KeyWatch(const KeyWatch&) = delete;
    KeyWatch& operator=(const KeyWatch&) = delete;

    // Waits up to `seconds`. False when a key was pressed or SIGINT/SIGTERM
    // arrived (then interrupted()).
    bool wait(double seconds);
    bool interrupted() const;
    bool watching_keys() const { return raw_; }

private:
    int fd_;
    bool raw_ = false;
    termios saved_{};
    struct sigaction old_int_{}, old_term_{};
};

}  // namespace sluice::cli
