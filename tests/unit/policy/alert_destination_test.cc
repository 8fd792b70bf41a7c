// AlertDestination: the <audit-dest> grammar (docs/policy.md §2 "Alert destinations").
#include "policy/alert_destination.h"

#include <gtest/gtest.h>

#include "policy/vm_set.h"

namespace cafs::policy {
namespace {

using Kind = AlertDestination::Kind;

TEST(AlertDestinationTest, ParsesEveryForm) {
  struct Case {
    const char* text;
    Kind kind;
    const char* path;
    const char* host;
    unsigned port;
  };
  const Case cases[] = {
      {"syslog", Kind::kSyslogUnix, "/dev/log", "", 0},
      {"syslog:unix:/run/cafs/log.sock", Kind::kSyslogUnix, "/run/cafs/log.sock", "", 0},
      {"syslog:udp:127.0.0.1:514", Kind::kSyslogUdp, "", "127.0.0.1", 514},
      {"syslog:tcp:logs.example.com:6514", Kind::kSyslogTcp, "", "logs.example.com", 6514},
      {"syslog:tcp:[::1]:65535", Kind::kSyslogTcp, "", "::1", 65535},
      {"kps", Kind::kKps, "", "", 0},
      {"/var/log/cafs/a.log", Kind::kFile, "/var/log/cafs/a.log", "", 0},
  };
  for (const auto& c : cases) {
    auto d = AlertDestination::Parse(c.text);
    ASSERT_TRUE(d.ok()) << c.text << ": " << d.status().ToString();
    EXPECT_EQ(d->kind, c.kind) << c.text;
    EXPECT_EQ(d->path, c.path) << c.text;
    EXPECT_EQ(d->host, c.host) << c.text;
    EXPECT_EQ(d->port, c.port) << c.text;
    EXPECT_EQ(d->ToString(), c.text);
    EXPECT_EQ(*AlertDestination::Parse(d->ToString()), *d);
  }
}

TEST(AlertDestinationTest, RefusesMalformed) {
  const std::pair<const char*, const char*> cases[] = {
      {"email", ""},
      {"Syslog", ""},
      {"syslog:", ""},
      {"syslog:unix:relative.sock", " (the socket path must be absolute)"},
      {"syslog:unix:/run/../x", " (the socket path must be absolute)"},
      {"syslog:udp:127.0.0.1", " (no :port)"},
      {"syslog:udp:127.0.0.1:0", " (port must be 1..65535)"},
      {"syslog:udp:127.0.0.1:65536", " (port must be 1..65535)"},
      {"syslog:tcp:host name:514", " (bad host)"},
      {"syslog:tcp::514", " (bad host)"},
      {"syslog:tcp:[::1]514", " (an IPv6 host is written [addr]:port)"},
      {"syslog:tcp:[zz]:514", " (bad IPv6 address)"},
      {"/var/log/", ""},
      {"/", ""},
  };
  for (const auto& [text, why] : cases) {
    auto d = AlertDestination::Parse(text);
    ASSERT_FALSE(d.ok()) << text;
    EXPECT_EQ(d.status().message(),
              std::string("must be syslog, syslog:unix:/path, syslog:udp:host:port, "
                          "syslog:tcp:host:port, kps or an absolute file path, got '") +
                  text + "'" + why);
  }
}

// VmSet::Validate applies Parse's value checks to a VmSet built another way (kpsd's JSON).
TEST(VmSetValidateTest, SameChecksAsParse) {
  VmSet ok;
  ok.name = "my_vmset";
  EXPECT_TRUE(ok.Validate().ok());  // no mnt, pd or servers yet: kpsd keeps such VM sets
  struct Case {
    void (*mutate)(VmSet*);
    const char* message;
  };
  const Case cases[] = {
      {[](VmSet* v) { v->name = "a/b"; },
       "<name> must be one path component (no '/', not . or ..), got 'a/b'"},
      {[](VmSet* v) { v->mount_point = "nfs"; },
       "<mnt> must be an absolute path without empty, . or .. components or a trailing '/', got "
       "'nfs'"},
      {[](VmSet* v) {
         v->servers = {"s1", "S1"};
       },
       "<vmserv> lists server 'S1' twice"},
      {[](VmSet* v) { v->servers = {""}; }, "<vmserv> has an empty server id in ''"},
      {[](VmSet* v) { v->position = 0; }, "<position> must be a number 1..64, got '0'"},
      {[](VmSet* v) { v->time_zone = "Europe/../x"; },
       "<timezone>: time zone 'Europe/../x' is not an IANA name such as Europe/Berlin, UTC or "
       "UTC+hh:mm"},
      {[](VmSet* v) {
         v->audit_destinations = {"kps", "kps"};
       },
       "duplicate <audit-dest> 'kps'"},
      {[](VmSet* v) { v->capacity_threshold_percent = 101; },
       "<capacity-threshold> must be a number 1..100, got '101'"},
  };
  for (const auto& c : cases) {
    VmSet v = ok;
    c.mutate(&v);
    Status s = v.Validate();
    EXPECT_TRUE(s.IsInvalidArgument()) << c.message;
    EXPECT_EQ(s.message(), c.message);
  }
}

}  // namespace
}  // namespace cafs::policy
