#include <gtest/gtest.h>

#include <random>

#include "control/api/frame.hpp"

namespace sluice::channel {
namespace {

std::string header(uint32_t n) {
    std::string h(4, '\0');
    h[0] = char(n >> 24);
    h[1] = char(n >> 16);
    h[2] = char(n >> 8);
    h[3] = char(n);
    return h;
}

TEST(Frame, HeaderIsBigEndianLength) {
    std::string f = frame("abc");
    ASSERT_EQ(f.size(), 7u);
    EXPECT_EQ(f.substr(0, 4), std::string("\0\0\0\3", 4));
    EXPECT_EQ(f.substr(4), "abc");
    std::string big(0x010203, 'x');
    EXPECT_EQ(frame(big).substr(0, 4), std::string("\0\1\2\3", 4));
}

TEST(Frame, RoundTripOneFeed) {
    FrameReader r;
    std::string f = frame("{\"a\":1}");
    r.feed(f.data(), f.size());
    std::string body;
    ASSERT_EQ(r.next(&body), FrameReader::Status::frame);
    EXPECT_EQ(body, "{\"a\":1}");
    EXPECT_EQ(r.next(&body), FrameReader::Status::need_more);
    EXPECT_FALSE(r.partial());
    EXPECT_EQ(r.buffered(), 0u);
}

TEST(Frame, ByteByByte) {
    FrameReader r;
    std::vector<std::string> bodies = {"x", "hello world", std::string(1000, 'q'), "{}"};
    std::string stream;
    for (auto& b : bodies) stream += frame(b);
    std::vector<std::string> got;
    std::string body;
    for (char c : stream) {
        r.feed(&c, 1);
        while (r.next(&body) == FrameReader::Status::frame) got.push_back(body);
    }
    EXPECT_EQ(got, bodies);
    EXPECT_FALSE(r.partial());
}

TEST(Frame, ManyFramesInOneFeed) {
    FrameReader r;
    std::string stream;
    std::vector<std::string> bodies;
    for (int i = 0; i < 5000; ++i) {
        bodies.push_back("body " + std::to_string(i));
        stream += frame(bodies.back());
    }
    r.feed(stream.data(), stream.size());
    std::string body;
    for (int i = 0; i < 5000; ++i) {
        ASSERT_EQ(r.next(&body), FrameReader::Status::frame) << i;
        ASSERT_EQ(body, bodies[size_t(i)]);
    }
    EXPECT_EQ(r.next(&body), FrameReader::Status::need_more);
    EXPECT_EQ(r.buffered(), 0u);
}

TEST(Frame, RandomChunking) {
    std::mt19937 rng(7);
    std::string stream;
    std::vector<std::string> bodies;
    for (int i = 0; i < 300; ++i) {
        std::string b(size_t(rng() % 3000 + 1), char('a' + i % 26));
        bodies.push_back(b);
        stream += frame(b);
    }
    FrameReader r;
    std::vector<std::string> got;
    std::string body;
    size_t pos = 0;
    while (pos < stream.size()) {
        size_t n = std::min(stream.size() - pos, size_t(rng() % 5000 + 1));
        r.feed(stream.data() + pos, n);
        pos += n;
        while (r.next(&body) == FrameReader::Status::frame) got.push_back(body);
    }
    EXPECT_EQ(got, bodies);
}

TEST(Frame, ZeroLengthIsAnErrorForever) {
    FrameReader r;
    std::string s = header(0) + frame("ok");
    r.feed(s.data(), s.size());
    std::string body;
    EXPECT_EQ(r.next(&body), FrameReader::Status::error);
    EXPECT_NE(r.error().find("length 0"), std::string::npos) << r.error();
    EXPECT_FALSE(r.too_large());
    EXPECT_EQ(r.next(&body), FrameReader::Status::error);
    std::string more = frame("x");
    r.feed(more.data(), more.size());
    EXPECT_EQ(r.next(&body), FrameReader::Status::error);
}

TEST(Frame, OversizeIsAnError) {
    FrameReader r(100);
    std::string ok = frame(std::string(100, 'a'));
    r.feed(ok.data(), ok.size());
    std::string body;
    ASSERT_EQ(r.next(&body), FrameReader::Status::frame);
    // Only the header is needed to refuse: the body is never waited for.
    std::string h = header(101);
    r.feed(h.data(), h.size());
    EXPECT_EQ(r.next(&body), FrameReader::Status::error);
    EXPECT_NE(r.error().find("101"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find("100"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find("above the limit"), std::string::npos) << r.error();
    EXPECT_TRUE(r.too_large());
    EXPECT_EQ(r.next(&body), FrameReader::Status::error);
}

TEST(Frame, HugeLengthDefaultLimit) {
    FrameReader r;
    std::string h = header(0xffffffffu);
    r.feed(h.data(), h.size());
    std::string body;
    EXPECT_EQ(r.next(&body), FrameReader::Status::error);
}

TEST(Frame, TruncatedIsPartial) {
    FrameReader r;
    std::string f = frame("abcdef");
    r.feed(f.data(), 2);  // half a header
    std::string body;
    EXPECT_EQ(r.next(&body), FrameReader::Status::need_more);
    EXPECT_TRUE(r.partial());
    r.feed(f.data() + 2, 5);  // header and one body byte
    EXPECT_EQ(r.next(&body), FrameReader::Status::need_more);
    EXPECT_TRUE(r.partial());
    r.feed(f.data() + 7, f.size() - 7);
    EXPECT_EQ(r.next(&body), FrameReader::Status::frame);
    EXPECT_FALSE(r.partial());
}

TEST(Frame, BufferStaysBoundedUnderStreaming) {
    // A long stream fed in chunks that never end on a frame boundary: the
    // consumed prefix must be compacted, not kept forever.
    FrameReader r;
    std::string f = frame(std::string(100, 'z'));
    std::string stream;
    for (int i = 0; i < 100; ++i) stream += f;
    std::string body;
    size_t frames = 0;
    for (int round = 0; round < 200; ++round) {
        for (size_t pos = 0; pos < stream.size(); pos += 333) {
            size_t n = std::min<size_t>(333, stream.size() - pos);
            r.feed(stream.data() + pos, n);
            while (r.next(&body) == FrameReader::Status::frame) ++frames;
            EXPECT_LT(r.buffered(), 500u);
        }
    }
    EXPECT_EQ(frames, 200u * 100u);
}

}  // namespace
}  // namespace sluice::channel
