// The HTTP probe's pure parts: the request it sends and the status line it reads.
#include <gtest/gtest.h>

#include "control/health/probe.hpp"

using namespace sluice;
using health::http_request;
using health::parse_status_line;

TEST(HttpProbe, StatusLine) {
    EXPECT_EQ(parse_status_line("HTTP/1.1 200 OK"), 200);
    EXPECT_EQ(parse_status_line("HTTP/1.0 503 Service Unavailable"), 503);
    EXPECT_EQ(parse_status_line("HTTP/1.1 204"), 204);
    EXPECT_EQ(parse_status_line("HTTP/1.1 404 "), 404);
    EXPECT_EQ(parse_status_line("HTTP/2 200"), -1);
    EXPECT_EQ(parse_status_line("HTTP/1.1 20 OK"), -1);
    EXPECT_EQ(parse_status_line("HTTP/1.1 2000 OK"), -1);
    EXPECT_EQ(parse_status_line("HTTP/1.1 abc OK"), -1);
    EXPECT_EQ(parse_status_line("HTTP/1.1  200 OK"), -1);
    EXPECT_EQ(parse_status_line("http/1.1 200 OK"), -1);
    EXPECT_EQ(parse_status_line("garbage"), -1);
    EXPECT_EQ(parse_status_line(""), -1);
    EXPECT_EQ(parse_status_line("HTTP/1.1 099 x"), -1);
}

TEST(HttpProbe, RequestWithDefaultHost) {
    config::HealthCheckConfig spec;
    spec.type = config::HealthCheckConfig::Type::http;
    spec.path = "/healthz";
    EXPECT_EQ(http_request(spec, *net::parse_ip("198.18.0.7"), 8080),
              "GET /healthz HTTP/1.1\r\nHost: 198.18.0.7:8080\r\nConnection: close\r\n"
              "User-Agent: sluice-health/1\r\n\r\n");
    EXPECT_NE(http_request(spec, *net::parse_ip("198.18.0.7"), 80).find("\r\nHost: 198.18.0.7\r\n"), std::string::npos);
    EXPECT_NE(http_request(spec, *net::parse_ip("2001:db8::1"), 8443).find("\r\nHost: [2001:db8::1]:8443\r\n"),
              std::string::npos);
}

TEST(HttpProbe, RequestWithHostAndEmptyPath) {
    config::HealthCheckConfig spec;
    spec.type = config::HealthCheckConfig::Type::http;
    spec.path = "";
    spec.host = "www.example.com";
    EXPECT_EQ(http_request(spec, *net::parse_ip("198.18.0.7"), 8080),
              "GET / HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n"
              "User-Agent: sluice-health/1\r\n\r\n");
}
