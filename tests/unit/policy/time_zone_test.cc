#include "policy/time_zone.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "unit/policy/test_time.h"

namespace cafs::policy {
namespace {

using testing::Utc;

bool HaveTzdata() { return std::filesystem::exists("/usr/share/zoneinfo/Europe/Berlin"); }

TEST(TimeZoneTest, UtcAndFixedOffsets) {
  const TimeZone utc;
  const LocalTime lt = utc.ToLocal(Utc(2026, 11, 21, 14, 3, 59));
  EXPECT_EQ(lt.ToString(), "Sat 2026-11-21 14:03 UTC");
  EXPECT_EQ(lt.seconds_of_day, 14 * 3600 + 3 * 60 + 59);

  auto east = TimeZone::Load("UTC+05:30");
  ASSERT_TRUE(east.ok());
  EXPECT_EQ(east->ToLocal(Utc(2026, 11, 21, 20, 0)).ToString(), "Sun 2026-11-22 01:30 UTC+05:30");
  auto west = TimeZone::Load("UTC-08:00");
  ASSERT_TRUE(west.ok());
  EXPECT_EQ(west->ToLocal(Utc(2026, 1, 1, 3, 0)).ToString(), "Wed 2025-12-31 19:00 UTC-08:00");
  EXPECT_EQ(west->ToLocal(Utc(2026, 1, 1, 3, 0)).utc_offset_seconds, -8 * 3600);
  // Before 1970.
  EXPECT_EQ(utc.ToLocal(Utc(1969, 12, 31, 23, 59, 59)).ToString(), "Wed 1969-12-31 23:59 UTC");
}

TEST(TimeZoneTest, BadNamesAreRejectedBeforeTouchingTheDisk) {
  for (const char* name : {"", "../etc/passwd", "/etc/localtime", "Europe/../../etc", "Europe/",
                           "a b", "UTC+2", "UTC+15:00", "UTC+02:60", "Europe//Berlin"}) {
    auto tz = TimeZone::Load(name);
    ASSERT_FALSE(tz.ok()) << name;
    EXPECT_TRUE(tz.status().IsInvalidArgument()) << name << ": " << tz.status().ToString();
  }
  auto missing = TimeZone::Load("Nowhere/Atlantis");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsNotFound());
}

TEST(TimeZoneTest, BerlinDaylightSavingTransitions) {
  if (!HaveTzdata()) GTEST_SKIP() << "tzdata not installed";
  auto tz = TimeZone::Load("Europe/Berlin");
  ASSERT_TRUE(tz.ok()) << tz.status().ToString();
  EXPECT_EQ(tz->Name(), "Europe/Berlin");
  // 2026-03-29 01:00 UTC: 02:00 CET becomes 03:00 CEST.
  EXPECT_EQ(tz->ToLocal(Utc(2026, 3, 29, 0, 59, 59)).ToString(), "Sun 2026-03-29 01:59 CET");
  EXPECT_EQ(tz->ToLocal(Utc(2026, 3, 29, 1, 0)).ToString(), "Sun 2026-03-29 03:00 CEST");
  // 2026-10-25 01:00 UTC: 03:00 CEST becomes 02:00 CET.
  EXPECT_EQ(tz->ToLocal(Utc(2026, 10, 25, 0, 59)).ToString(), "Sun 2026-10-25 02:59 CEST");
  EXPECT_EQ(tz->ToLocal(Utc(2026, 10, 25, 1, 0)).ToString(), "Sun 2026-10-25 02:00 CET");
  // Far future: beyond the table, from the POSIX footer rule.
  EXPECT_EQ(tz->ToLocal(Utc(2100, 7, 1, 12, 0)).utc_offset_seconds, 7200);
  EXPECT_EQ(tz->ToLocal(Utc(2100, 12, 1, 12, 0)).utc_offset_seconds, 3600);
  EXPECT_EQ(tz->ToLocal(Utc(2100, 3, 28, 0, 59)).utc_offset_seconds, 3600);  // last Sun of March
  EXPECT_EQ(tz->ToLocal(Utc(2100, 3, 28, 1, 0)).utc_offset_seconds, 7200);
}

TEST(TimeZoneTest, NewYorkAndSydney) {
  if (!HaveTzdata()) GTEST_SKIP() << "tzdata not installed";
  auto ny = TimeZone::Load("America/New_York");
  ASSERT_TRUE(ny.ok());
  EXPECT_EQ(ny->ToLocal(Utc(2026, 1, 15, 14, 0)).ToString(), "Thu 2026-01-15 09:00 EST");
  EXPECT_EQ(ny->ToLocal(Utc(2026, 7, 15, 13, 0)).ToString(), "Wed 2026-07-15 09:00 EDT");
  EXPECT_EQ(ny->ToLocal(Utc(2090, 7, 15, 13, 0)).utc_offset_seconds, -4 * 3600);
  EXPECT_EQ(ny->ToLocal(Utc(2090, 1, 15, 13, 0)).utc_offset_seconds, -5 * 3600);
  auto syd = TimeZone::Load("Australia/Sydney");
  ASSERT_TRUE(syd.ok());
  // Southern hemisphere: summer time in January.
  EXPECT_EQ(syd->ToLocal(Utc(2026, 1, 15, 0, 0)).utc_offset_seconds, 11 * 3600);
  EXPECT_EQ(syd->ToLocal(Utc(2026, 7, 15, 0, 0)).utc_offset_seconds, 10 * 3600);
  EXPECT_EQ(syd->ToLocal(Utc(2095, 1, 15, 0, 0)).utc_offset_seconds, 11 * 3600);
  EXPECT_EQ(syd->ToLocal(Utc(2095, 7, 15, 0, 0)).utc_offset_seconds, 10 * 3600);
}

TEST(TimeZoneTest, CorruptTzifIsRejected) {
  const std::string not_tzif = "hello world, this is not a TZif file at all, no no";
  auto tz = TimeZone::FromTzif("X", AsBytes(not_tzif));
  ASSERT_FALSE(tz.ok());
  EXPECT_TRUE(tz.status().IsCorruption());
  // A minimal valid v1 file: one type (UTC+1 "ABC"), no transitions.
  std::string v1 = std::string("TZif") + std::string(16, '\0');
  auto be32 = [](std::uint32_t v) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; ++i)
      s[static_cast<std::size_t>(i)] = static_cast<char>(v >> (24 - 8 * i));
    return s;
  };
  v1 += be32(0) + be32(0) + be32(0) + be32(0) + be32(1) + be32(4);
  v1 += be32(3600) + std::string("\0\0", 2) + std::string("ABC\0", 4);
  auto ok = TimeZone::FromTzif("X", AsBytes(v1));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->ToLocal(Utc(2026, 1, 1, 0, 0)).ToString(), "Thu 2026-01-01 01:00 ABC");
  // Truncate it.
  auto cut = TimeZone::FromTzif("X", AsBytes(std::string_view(v1).substr(0, v1.size() - 2)));
  EXPECT_FALSE(cut.ok());
}

}  // namespace
}  // namespace cafs::policy
