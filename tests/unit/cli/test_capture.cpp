// capture: the dpdk-dumpcap arguments, the port name to dumpcap's -i, the
// pcapng direction filter, and whole runs against a stand-in dumpcap (a
// shell script that writes a prepared pcapng where -w points and exits
// with a chosen status).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "control/cli/capture.hpp"
#include "control/cli/pcapng.hpp"
#include "fake_server.hpp"

namespace sluice::cli {
namespace {

using Args = std::vector<std::string>;

CaptureOptions opts(const std::string& file, uint64_t count = 0) {
    CaptureOptions o;
    o.port = "p0";
    o.file = file;
    o.count = count;
    return o;
}

TEST(DumpcapPlan, BothDirectionsGoStraightToTheFile) {
    CaptureOptions o = opts("/tmp/x.pcapng", 10);
    DumpcapPlan p = dumpcap_plan(o, "sluice", "0");
    EXPECT_FALSE(p.through_pipe);
    EXPECT_EQ(p.argv, (Args{"/usr/bin/dpdk-dumpcap", "--file-prefix", "sluice", "-i", "0", "-p", "-w",
                            "/tmp/x.pcapng", "-c", "10"}));
    EXPECT_EQ(plan_text(p, o), "/usr/bin/dpdk-dumpcap --file-prefix sluice -i 0 -p -w /tmp/x.pcapng -c 10\n");
}

TEST(DumpcapPlan, DurationAndFilter) {
    CaptureOptions o = opts("out file.pcapng");
    o.duration_s = 5;
    o.filter = "udp port 53";
    o.dumpcap = "/opt/dpdk/dumpcap";
    DumpcapPlan p = dumpcap_plan(o, "slt1-t", "net_tap1");
    EXPECT_EQ(p.argv, (Args{"/opt/dpdk/dumpcap", "--file-prefix", "slt1-t", "-i", "net_tap1", "-p",
                            "-w", "out file.pcapng", "-a", "duration:5", "-f", "udp port 53"}));
    EXPECT_EQ(plan_text(p, o),
              "/opt/dpdk/dumpcap --file-prefix slt1-t -i net_tap1 -p -w 'out file.pcapng' -a duration:5 -f "
              "'udp port 53'\n");
}

TEST(DumpcapPlan, NoPrefixMeansDumpcapsDefault) {
    DumpcapPlan p = dumpcap_plan(opts("x"), "", "1");
    EXPECT_EQ(p.argv, (Args{"/usr/bin/dpdk-dumpcap", "-i", "1", "-p", "-w", "x"}));
}

TEST(DumpcapPlan, OneDirectionGoesThroughSluicectl) {
    CaptureOptions o = opts("/tmp/rx.pcapng", 4);
    o.direction = Direction::rx;
    DumpcapPlan p = dumpcap_plan(o, "sluice", "0");
    EXPECT_TRUE(p.through_pipe);
    // dumpcap writes into the pipe on fd 3 and gets no -c: it would count
    // both directions.
    EXPECT_EQ(p.argv, (Args{"/usr/bin/dpdk-dumpcap", "--file-prefix", "sluice", "-i", "0", "-p", "-w",
                            "/proc/self/fd/3"}));
    EXPECT_EQ(plan_text(p, o),
              "/usr/bin/dpdk-dumpcap --file-prefix sluice -i 0 -p -w /proc/self/fd/3 3>&1 | sluicectl keeps received "
              "packets (at most 4) in /tmp/rx.pcapng\n");
    o.direction = Direction::tx;
    o.count = 0;
    EXPECT_EQ(plan_text(dumpcap_plan(o, "s", "1"), o),
              "/usr/bin/dpdk-dumpcap --file-prefix s -i 1 -p -w /proc/self/fd/3 3>&1 | sluicectl keeps transmitted "
              "packets in /tmp/rx.pcapng\n");
}

TEST(DumpcapInterface, PortIdFromShowPorts) {
    const Json ports = Json::parse(R"({"ports": [{"name": "p0", "id": 0, "device": "net_tap0,iface=sl0"},
                                                 {"name": "p1", "id": 1, "device": "net_tap1,iface=sl1"}]})");
    std::string iface, err;
    ASSERT_TRUE(dumpcap_interface("p1", ports, &iface, &err)) << err;
    EXPECT_EQ(iface, "1");
    ASSERT_TRUE(dumpcap_interface("p0", ports, &iface, &err)) << err;
    EXPECT_EQ(iface, "0");
}

TEST(DumpcapInterface, DeviceNameWhenThereIsNoId) {
    const Json ports = Json::parse(R"({"ports": {"p0": {"device": "net_tap0,iface=sl0"},
                                                 "p1": {"device": "0000:01:00.1"}}})");
    std::string iface, err;
    ASSERT_TRUE(dumpcap_interface("p0", ports, &iface, &err)) << err;
    EXPECT_EQ(iface, "net_tap0");  // the ethdev name: devargs before the first comma
    ASSERT_TRUE(dumpcap_interface("p1", ports, &iface, &err)) << err;
    EXPECT_EQ(iface, "0000:01:00.1");
}

TEST(DumpcapInterface, NumbersPassAndUnknownNamesAreRefused) {
    const Json ports = Json::parse(R"({"ports": [{"name": "p0", "id": 0}, {"name": "p1", "id": 1}]})");
    std::string iface, err;
    ASSERT_TRUE(dumpcap_interface("3", ports, &iface, &err));
    EXPECT_EQ(iface, "3");
    EXPECT_FALSE(dumpcap_interface("p9", ports, &iface, &err));
    EXPECT_EQ(err, "unknown port \"p9\"; the data plane's ports: p0, p1");
    EXPECT_FALSE(dumpcap_interface("p0", Json::parse(R"({"ports": [{"name": "p0"}]})"), &iface, &err));
    EXPECT_NE(err.find("give the DPDK port number"), std::string::npos);
}

TEST(FilePrefix, FromHelloOrNested) {
    EXPECT_EQ(file_prefix_of(Json::parse(R"({"server": "sluice-dp", "file_prefix": "sluice"})")), "sluice");
    EXPECT_EQ(file_prefix_of(Json::parse(R"({"server": "sluice-control", "dataplane": {"file_prefix": "x"}})")), "x");
    EXPECT_EQ(file_prefix_of(Json::parse(R"({"server": "sluice-control"})")), "");
}

// pcapng ----------------------------------------------------------------------

void put32(std::string& s, uint32_t v) {
    for (int i = 0; i < 4; ++i) s.push_back(char((v >> (8 * i)) & 0xff));
}
void put16(std::string& s, uint16_t v) {
    s.push_back(char(v & 0xff));
    s.push_back(char(v >> 8));
}

std::string block(uint32_t type, const std::string& body) {
    std::string b;
    const uint32_t len = uint32_t(12 + body.size());
    put32(b, type);
    put32(b, len);
    b += body;
    put32(b, len);
    return b;
}

std::string shb() {
    std::string body;
    put32(body, 0x1A2B3C4D);
    put16(body, 1);
    put16(body, 0);
    put32(body, 0xffffffff);
    put32(body, 0xffffffff);
    return block(0x0A0D0D0A, body);
}

std::string idb() {
    std::string body;
    put16(body, 1);  // Ethernet
    put16(body, 0);
    put32(body, 0);
    return block(1, body);
}

// An enhanced packet block; dir 0 writes no epb_flags option.
std::string epb(unsigned dir, uint8_t marker, size_t caplen = 61) {
    std::string body;
    put32(body, 0);
    put32(body, 0);
    put32(body, 1000u + marker);
    put32(body, uint32_t(caplen));
    put32(body, uint32_t(caplen));
    std::string data(caplen, char(marker));
    body += data;
    while (body.size() % 4) body.push_back('\0');
    if (dir) {
        put16(body, 2);
        put16(body, 4);
        put32(body, dir);
    }
    put16(body, 0);
    put16(body, 0);
    return block(6, body);
}

std::string isb() {
    std::string body;
    put32(body, 0);
    put32(body, 0);
    put32(body, 0);
    put16(body, 0);
    put16(body, 0);
    return block(5, body);
}

// rx, tx, rx, tx, tx, rx (markers 1..6), then statistics.
std::string sample_capture() {
    return shb() + idb() + epb(1, 1) + epb(2, 2) + epb(1, 3) + epb(2, 4) + epb(2, 5) + epb(1, 6) + isb();
}

TEST(Pcapng, CountsDirections) {
    PcapngCounts c;
    std::string err;
    ASSERT_TRUE(count_pcapng(sample_capture(), &c, &err)) << err;
    EXPECT_EQ(c.packets, 6u);
    EXPECT_EQ(c.rx, 3u);
    EXPECT_EQ(c.tx, 3u);
    EXPECT_EQ(c.unknown, 0u);
}

TEST(Pcapng, KeepsOneDirectionAndEveryOtherBlock) {
    const std::string in = sample_capture();
    PcapngFilter f(Direction::rx, 0);
    std::string out;
    // Fed in odd pieces: blocks cross the reads as they do on a pipe.
    for (size_t off = 0; off < in.size(); off += 7)
        ASSERT_TRUE(f.feed(in.data() + off, std::min<size_t>(7, in.size() - off), &out));
    ASSERT_TRUE(f.finish()) << f.error();
    EXPECT_EQ(out, shb() + idb() + epb(1, 1) + epb(1, 3) + epb(1, 6) + isb());
    EXPECT_EQ(f.counts().kept, 3u);
}

TEST(Pcapng, StopsAtTheCount) {
    PcapngFilter f(Direction::tx, 2);
    std::string out;
    const std::string in = sample_capture();
    ASSERT_TRUE(f.feed(in.data(), in.size(), &out));
    EXPECT_TRUE(f.done());
    EXPECT_EQ(out, shb() + idb() + epb(2, 2) + epb(2, 4) + isb());
}

TEST(Pcapng, PacketsWithoutADirectionOnlyForBoth) {
    const std::string in = shb() + idb() + epb(0, 1) + epb(1, 2);
    std::string out;
    PcapngFilter both(Direction::both, 0);
    ASSERT_TRUE(both.feed(in.data(), in.size(), &out));
    EXPECT_EQ(out, in);
    out.clear();
    PcapngFilter rx(Direction::rx, 0);
    ASSERT_TRUE(rx.feed(in.data(), in.size(), &out));
    EXPECT_EQ(out, shb() + idb() + epb(1, 2));
    EXPECT_EQ(rx.counts().unknown, 1u);
}

TEST(Pcapng, RejectsWhatIsNotPcapng) {
    PcapngFilter f(Direction::rx, 0);
    std::string out;
    const std::string pcap = "\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + std::string(16, '\0');  // classic pcap
    EXPECT_FALSE(f.feed(pcap.data(), pcap.size(), &out));
    EXPECT_NE(f.error().find("no section header"), std::string::npos);
    PcapngFilter g(Direction::rx, 0);
    std::string cut = sample_capture();
    cut.resize(cut.size() - 6);
    ASSERT_TRUE(g.feed(cut.data(), cut.size(), &out));
    EXPECT_FALSE(g.finish());
    EXPECT_NE(g.error().find("ends inside a block"), std::string::npos);
}

// Whole runs against a stand-in dumpcap -----------------------------------------

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// A script that writes `capture` to the file after -w (the pipe for
// --rx/--tx) and its arguments to args.txt, then exits with `status`.
std::string fake_dumpcap(const test::TempDir& d, const std::string& capture, int status) {
    const std::string src = d.path() + "/src.pcapng";
    std::ofstream(src, std::ios::binary) << capture;
    const std::string script = d.path() + "/dumpcap";
    // SIGINT ends it with status 0, as it ends dpdk-dumpcap.
    std::ofstream(script) << "#!/bin/sh\n"
                          << "trap 'exit 0' INT\n"
                          << "printf '%s\\n' \"$@\" > " << d.path() << "/args.txt\n"
                          << "while [ $# -gt 0 ]; do [ \"$1\" = -w ] && out=\"$2\"; shift; done\n"
                          << "cat " << src << " > \"$out\"\n"
                          << "exit " << status << "\n";
    ::chmod(script.c_str(), 0755);
    return script;
}

TEST(RunDumpcap, BothDirectionsForwardsTheStatusAndSaysWhereTheFileIs) {
    test::TempDir d;
    ASSERT_FALSE(d.path().empty());
    CaptureOptions o = opts(d.path() + "/out.pcapng", 6);
    o.dumpcap = fake_dumpcap(d, sample_capture(), 0);
    // An older, longer file: dumpcap does not truncate, sluicectl does.
    std::ofstream(o.file, std::ios::binary) << std::string(4096, 'x');
    std::ostringstream out, err;
    EXPECT_EQ(run_dumpcap(dumpcap_plan(o, "slt", "0"), o, out, err), 0) << err.str();
    EXPECT_EQ(read_file(o.file), sample_capture());
    EXPECT_EQ(out.str(), "sluicectl: 6 packets (3 received, 3 transmitted) in " + o.file + "\n");
    EXPECT_EQ(read_file(d.path() + "/args.txt"), "--file-prefix\nslt\n-i\n0\n-p\n-w\n" + o.file + "\n-c\n6\n");
}

TEST(RunDumpcap, ReceivedOnlyThroughThePipe) {
    test::TempDir d;
    CaptureOptions o = opts(d.path() + "/rx.pcapng", 2);
    o.direction = Direction::rx;
    o.dumpcap = fake_dumpcap(d, sample_capture(), 0);
    std::ostringstream out, err;
    EXPECT_EQ(run_dumpcap(dumpcap_plan(o, "slt", "1"), o, out, err), 0) << err.str();
    EXPECT_EQ(read_file(o.file), shb() + idb() + epb(1, 1) + epb(1, 3) + isb());
    EXPECT_EQ(out.str(), "sluicectl: 2 packets (2 received, 0 transmitted) in " + o.file + "\n");
}

TEST(RunDumpcap, ForwardsAFailureStatus) {
    test::TempDir d;
    CaptureOptions o = opts(d.path() + "/f.pcapng");
    o.dumpcap = fake_dumpcap(d, shb() + idb(), 3);
    std::ostringstream out, err;
    EXPECT_EQ(run_dumpcap(dumpcap_plan(o, "slt", "0"), o, out, err), 3);
    EXPECT_NE(err.str().find("exited with status 3"), std::string::npos) << err.str();
}

TEST(RunDumpcap, AMissingDumpcapIs127) {
    CaptureOptions o = opts("/tmp/never-written.pcapng");
    o.dumpcap = "/nonexistent/dpdk-dumpcap";
    std::ostringstream out, err;
    EXPECT_EQ(run_dumpcap(dumpcap_plan(o, "slt", "0"), o, out, err), 127);
    EXPECT_NE(err.str().find("cannot run /nonexistent/dpdk-dumpcap"), std::string::npos) << err.str();
}

}  // namespace
}  // namespace sluice::cli
