#include "control/daemon/cores.hpp"

#include <pthread.h>
#include <sched.h>
#include <tbb/info.h>

#include <cstring>

#include "control/daemon/log.hpp"

namespace sluice::control {

bool pin_current_thread(const std::vector<uint32_t>& cores, std::string* err) {
    if (cores.empty()) return true;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (uint32_t c : cores) {
        if (c >= CPU_SETSIZE) {
            if (err)
                *err = "control.cores: core " + std::to_string(c) + " is above the limit of " +
                       std::to_string(CPU_SETSIZE - 1);
            return false;
        }
        CPU_SET(c, &set);
    }
    const int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (rc != 0) {
        if (err) *err = "control.cores: cannot pin a thread to the cores given: " + std::string(std::strerror(rc));
        return false;
    }
    return true;
}

namespace {
int arena_concurrency(const std::vector<uint32_t>& cores) {
    // One TBB thread per control core: more would only time-slice on the
    // same cores; without cores the process's own affinity mask decides
    // (tbb::info::default_concurrency reads it).
    if (!cores.empty()) return int(cores.size());
    const int d = tbb::info::default_concurrency();
    return d > 0 ? d : 1;
}
}  // namespace

ControlArena::Pinner::Pinner(tbb::task_arena& a, std::vector<uint32_t> cores)
    : tbb::task_scheduler_observer(a), cores_(std::move(cores)) {}

void ControlArena::Pinner::on_scheduler_entry(bool /*worker*/) {
    // TBB creates its workers lazily and may move them between arenas; pin
    // on every entry so that no task of this arena ever runs on a data plane
    // core, whatever thread TBB picked for it.
    std::string err;
    if (!pin_current_thread(cores_, &err)) log_line("cores: " + err);
}

ControlArena::ControlArena(std::vector<uint32_t> cores)
    : cores_(std::move(cores)), concurrency_(arena_concurrency(cores_)), arena_(concurrency_) {
    if (!cores_.empty()) {
        pinner_ = std::make_unique<Pinner>(arena_, cores_);
        pinner_->observe(true);
    }
}

ControlArena::~ControlArena() {
    if (pinner_) pinner_->observe(false);
}

}  // namespace sluice::control
