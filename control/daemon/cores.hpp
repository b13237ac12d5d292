// Where the control process's threads run (control.cores, docs/control.md,
// "Cores and TBB"). The data plane's workers busy-poll their own cores: any
// control work scheduled there (a health probe, a JSON encode, a TBB task)
// would steal cycles from packet processing and show up as rx_missed. So
// every thread of this process, TBB's workers included, stays on
// control.cores when it is set.
#pragma once

#include <tbb/task_arena.h>
#include <tbb/task_scheduler_observer.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sluice::control {

// Pins the calling thread to `cores` (empty: no change). False and *err on
// failure (a core that does not exist or is not in the cgroup's set).
bool pin_current_thread(const std::vector<uint32_t>& cores, std::string* err);

// A TBB arena for the control process's parallel work (encoding a large
// sync, aggregating health results), confined to control.cores: its
// concurrency is the number of those cores, and an observer pins every
// thread that enters it (TBB's workers and the thread calling execute()).
class ControlArena {
public:
    explicit ControlArena(std::vector<uint32_t> cores);
    ~ControlArena();
    ControlArena(const ControlArena&) = delete;
    ControlArena& operator=(const ControlArena&) = delete;

    template <class F>
    void execute(F&& f) {
        arena_.execute(std::forward<F>(f));
    }
    int concurrency() const { return concurrency_; }
    const std::vector<uint32_t>& cores() const { return cores_; }

private:
    class Pinner : public tbb::task_scheduler_observer {
    public:
        Pinner(tbb::task_arena& a, std::vector<uint32_t> cores);
        void on_scheduler_entry(bool worker) override;

    private:
        std::vector<uint32_t> cores_;
    };

    std::vector<uint32_t> cores_;
    int concurrency_;
    tbb::task_arena arena_;
    std::unique_ptr<Pinner> pinner_;  // observes arena_; destroyed first (declared after it)
};

}  // namespace sluice::control
