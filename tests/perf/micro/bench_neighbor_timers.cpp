// The agent's neighbor timer tick (Agent::neighbor_timers, every 10 ms) at the
// largest table the config allows (neighbor.capacity 2^20), with the timer
// wheel it uses and with the full scan it replaced. One benchmark iteration
// is one tick; simulated time moves 10 ms per tick, so deadlines come due as
// they would in the agent. The tick runs what the agent runs per due entry:
// the state machine (on_timer), the neighbor's answer when it has one, and
// re-arming the slot; sending the solicitation itself is left out (it is per
// due entry, not per slot, and the same for both).
//
// core_pct is the share of one core the tick takes at 100 ticks a second:
// CPU time per tick x 100 /s, in percent (Google Benchmark prints it with SI
// prefixes: "605u" is 0.000605 %). due_per_tick and visited_per_tick are the
// entries fired and the entries the wheel looked at, per tick. Run:
//   build/tests/perf/bench_neighbor_timers
// Measured on the 2-core lab machine (loaded): at 2^20 slots with 1 000
// active neighbors a tick takes about 60 ns of CPU (0.0006 % of a core); the
// full scan it replaced took about 0.6 ms (6 %), and 1.4 ms (14 %) with every
// slot in use.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "dataplane/neighbor/fsm.hpp"
#include "dataplane/neighbor/timer_wheel.hpp"

namespace {

using namespace sluice::nbr;

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kTickNs = 10 * kMs;
constexpr uint32_t kCapacity = 1u << 20;        // config/rules.hpp: neighbor.capacity at most 2^20
const Params kParams{30'000 * kMs, 1'000 * kMs, 60'000 * kMs, 3};  // the config defaults
const MacBytes kMac{0x02, 0, 0, 0, 0, 1};

// The agent's per-slot neighbor state at capacity: `active` entries with
// deadlines, spread over the slots. Three in four neighbors answer their
// probes (REACHABLE, a unicast probe every 30 s, REACHABLE again); one in four
// never does (INCOMPLETE, 3 probes, FAILED, deleted after gc_ms, resolved
// again because traffic still asks for it). Phases start spread over a cycle.
struct Neighbors {
    Fsm fsm{kParams};
    std::vector<Entry> e = std::vector<Entry>(kCapacity);
    std::vector<bool> in_use = std::vector<bool>(kCapacity, false);
    uint64_t now = 3600'000 * kMs;

    explicit Neighbors(uint32_t active) {
        std::mt19937_64 rng(1);
        const uint32_t stride = kCapacity / active;
        for (uint32_t i = 0; i < active; ++i) {
            const uint32_t s = i * stride;
            in_use[s] = true;
            fsm.on_resolve(e[s], now);
            if (answers(s)) {
                fsm.on_confirmed(e[s], kMac, true, now);
                e[s].deadline_ns = now + rng() % kParams.reachable_ns;
            } else {
                e[s].deadline_ns = now + rng() % kParams.retrans_ns;
            }
        }
    }
    static bool answers(uint32_t slot) { return (slot >> 2) % 4 != 0; }

    // What the agent does with one due entry, apart from sending.
    void fire(uint32_t s) {
        const uint32_t a = fsm.on_timer(e[s], now);
        if ((a & (kSendUnicast | kSendMulticast)) && answers(s)) fsm.on_confirmed(e[s], kMac, true, now);
        if (a & kDelete) {
            e[s] = Entry{};
            fsm.on_first_waiter(e[s], now);
        }
    }
};

// Today's tick: the wheel hands out the due slots; each is re-armed with the
// deadline the state machine gave it.
void BM_TimerTickWheel(benchmark::State& st) {
    Neighbors n(uint32_t(st.range(0)));
    TimerWheel wheel(kCapacity);
    std::vector<uint32_t> due;
    wheel.expire(n.now, due);
    for (uint32_t s = 0; s < kCapacity; ++s)
        if (n.in_use[s]) wheel.schedule(s, n.e[s].deadline_ns);
    const TimerWheel::Stats before = wheel.stats();
    for (auto _ : st) {
        n.now += kTickNs;
        due.clear();
        wheel.expire(n.now, due);
        for (uint32_t s : due) {
            n.fire(s);
            wheel.schedule(s, n.e[s].deadline_ns);
        }
        benchmark::ClobberMemory();
    }
    st.counters["core_pct"] = benchmark::Counter(double(st.iterations()) / 1e4,
                                                 benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    st.counters["due_per_tick"] = benchmark::Counter(double(wheel.stats().fired - before.fired),
                                                     benchmark::Counter::kAvgIterations);
    st.counters["visited_per_tick"] = benchmark::Counter(double(wheel.stats().visited - before.visited),
                                                         benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_TimerTickWheel)->ArgName("active")->Arg(1000)->Arg(kCapacity);

// The tick this replaced: every slot of the table, every 10 ms.
void BM_TimerTickFullScan(benchmark::State& st) {
    Neighbors n(uint32_t(st.range(0)));
    uint64_t fired = 0;
    for (auto _ : st) {
        n.now += kTickNs;
        for (uint32_t s = 0; s < kCapacity; ++s) {
            if (!n.in_use[s]) continue;
            if (n.e[s].deadline_ns <= n.now) {
                n.fire(s);
                ++fired;
            }
        }
        benchmark::ClobberMemory();
    }
    st.counters["core_pct"] = benchmark::Counter(double(st.iterations()) / 1e4,
                                                 benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    st.counters["due_per_tick"] = benchmark::Counter(double(fired), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_TimerTickFullScan)->ArgName("active")->Arg(1000)->Arg(kCapacity)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
