#include "policy/access_schedule.h"

#include <gtest/gtest.h>

#include "unit/policy/test_time.h"

namespace cafs::policy {
namespace {

using testing::Utc;

AccessSchedule P(std::string_view text) {
  auto s = AccessSchedule::Parse(text);
  EXPECT_TRUE(s.ok()) << text << ": " << s.status().ToString();
  return s.ok() ? *s : AccessSchedule::Never();
}

// 2026-11-16 is a Monday, 2026-11-21 a Saturday.
TEST(AccessScheduleTest, SeedBusinessHoursHalfOpen) {
  const AccessSchedule s = P("Mon-Fri(9am-5pm)");
  ManualClock clock(Utc(2026, 11, 16, 8, 59, 59));
  EXPECT_FALSE(s.IsOpen(clock.Now()));
  clock.Set(Utc(2026, 11, 16, 9, 0, 0));
  EXPECT_TRUE(s.IsOpen(clock.Now())) << "9:00 is open";
  clock.Set(Utc(2026, 11, 16, 16, 59, 59));
  EXPECT_TRUE(s.IsOpen(clock.Now()));
  clock.Set(Utc(2026, 11, 16, 17, 0, 0));
  EXPECT_FALSE(s.IsOpen(clock.Now())) << "17:00 is closed";
  clock.Set(Utc(2026, 11, 20, 12, 0));  // Friday
  EXPECT_TRUE(s.IsOpen(clock.Now()));
  clock.Set(Utc(2026, 11, 21, 12, 0));  // Saturday
  EXPECT_FALSE(s.IsOpen(clock.Now()));
  clock.Set(Utc(2026, 11, 22, 12, 0));  // Sunday
  EXPECT_FALSE(s.IsOpen(clock.Now()));
  clock.Advance(std::chrono::hours(24));  // Monday noon
  EXPECT_TRUE(s.IsOpen(clock.Now()));
}

TEST(AccessScheduleTest, KeywordsAndEveryHourOfAWeek) {
  const AccessSchedule always = P("at_all_times");
  const AccessSchedule never = P("never");
  EXPECT_EQ(always.kind(), AccessSchedule::Kind::kAlways);
  EXPECT_EQ(never.kind(), AccessSchedule::Kind::kNever);
  const AccessSchedule business = P("Mon-Fri(9am-5pm)");
  int open_hours = 0;
  for (int h = 0; h < 7 * 24; ++h) {
    const auto t = Utc(2026, 11, 16, 0, 30) + std::chrono::hours(h);
    EXPECT_TRUE(always.IsOpen(t));
    EXPECT_FALSE(never.IsOpen(t));
    if (business.IsOpen(t)) ++open_hours;
  }
  EXPECT_EQ(open_hours, 5 * 8);
}

TEST(AccessScheduleTest, DayListsAndHalfHours) {
  const AccessSchedule s = P("Mon,Wed,Fri(8:30am-6pm)");
  EXPECT_TRUE(s.IsOpen(Utc(2026, 11, 16, 8, 30)));
  EXPECT_FALSE(s.IsOpen(Utc(2026, 11, 16, 8, 29, 59)));
  EXPECT_FALSE(s.IsOpen(Utc(2026, 11, 17, 12, 0)));  // Tue
  EXPECT_TRUE(s.IsOpen(Utc(2026, 11, 18, 17, 59)));  // Wed
  EXPECT_FALSE(s.IsOpen(Utc(2026, 11, 18, 18, 0)));
  EXPECT_TRUE(s.IsOpen(Utc(2026, 11, 20, 12, 0)));  // Fri
}

TEST(AccessScheduleTest, ListsOfWindowsAndTwentyFourHour) {
  const AccessSchedule s = P("Mon-Fri(9am-5pm),Sat(10am-1pm)");
  ASSERT_EQ(s.windows().size(), 2u);
  EXPECT_TRUE(s.IsOpen(Utc(2026, 11, 21, 10, 0)));
  EXPECT_FALSE(s.IsOpen(Utc(2026, 11, 21, 13, 0)));
  EXPECT_FALSE(s.IsOpen(Utc(2026, 11, 22, 11, 0)));
  const AccessSchedule h24 = P("Mon-Fri(09:00-17:00)");
  EXPECT_TRUE(h24.IsOpen(Utc(2026, 11, 16, 9, 0)));
  EXPECT_FALSE(h24.IsOpen(Utc(2026, 11, 16, 17, 0)));
  const AccessSchedule full = P("Sun(00:00-24:00)");
  EXPECT_TRUE(full.IsOpen(Utc(2026, 11, 22, 0, 0)));
  EXPECT_TRUE(full.IsOpen(Utc(2026, 11, 22, 23, 59, 59)));
  EXPECT_FALSE(full.IsOpen(Utc(2026, 11, 23, 0, 0)));
  const AccessSchedule spaced = P(" Mon - Fri ( 9am - 5pm ) , sat(10AM-1PM) ");
  EXPECT_EQ(spaced.ToString(), "Mon-Fri(9am-5pm),Sat(10am-1pm)");
}

TEST(AccessScheduleTest, NoonAndMidnightIn12HourNotation) {
  const AccessSchedule s = P("Mon(12am-12pm)");  // midnight to noon
  EXPECT_TRUE(s.IsOpen(Utc(2026, 11, 16, 0, 0)));
  EXPECT_TRUE(s.IsOpen(Utc(2026, 11, 16, 11, 59)));
  EXPECT_FALSE(s.IsOpen(Utc(2026, 11, 16, 12, 0)));
  EXPECT_EQ(s.windows()[0].start.minutes, 0);
  EXPECT_EQ(s.windows()[0].end.minutes, 12 * 60);
}

TEST(AccessScheduleTest, CrossingMidnightBelongsToTheStartDay) {
  const AccessSchedule s = P("Fri(10pm-2am)");
  EXPECT_FALSE(s.IsOpen(Utc(2026, 11, 20, 21, 59)));  // Fri
  EXPECT_TRUE(s.IsOpen(Utc(2026, 11, 20, 22, 0)));
  EXPECT_TRUE(s.IsOpen(Utc(2026, 11, 21, 1, 59)));  // Sat early morning
  EXPECT_FALSE(s.IsOpen(Utc(2026, 11, 21, 2, 0)));
  EXPECT_FALSE(s.IsOpen(Utc(2026, 11, 20, 1, 0)));   // Fri early morning: Thu has no window
  EXPECT_FALSE(s.IsOpen(Utc(2026, 11, 21, 23, 0)));  // Sat night
}

TEST(AccessScheduleTest, WrappingDayRanges) {
  const AccessSchedule s = P("Fri-Mon(9am-5pm)");
  EXPECT_EQ(s.windows()[0].DayMask(), 0b1100011);    // Sun, Mon, Fri, Sat
  EXPECT_TRUE(s.IsOpen(Utc(2026, 11, 20, 10, 0)));   // Fri
  EXPECT_TRUE(s.IsOpen(Utc(2026, 11, 22, 10, 0)));   // Sun
  EXPECT_TRUE(s.IsOpen(Utc(2026, 11, 23, 10, 0)));   // Mon
  EXPECT_FALSE(s.IsOpen(Utc(2026, 11, 24, 10, 0)));  // Tue
  EXPECT_FALSE(s.IsOpen(Utc(2026, 11, 19, 10, 0)));  // Thu
}

TEST(AccessScheduleTest, CanonicalTextRoundTrips) {
  for (const char* text :
       {"at_all_times", "never", "Mon-Fri(9am-5pm)", "Sat(10am-2pm)", "Mon,Wed,Fri(8:30am-6pm)",
        "Mon-Fri(9am-5pm),Sat(10am-1pm)", "Mon-Fri(09:00-17:00)", "Fri(10pm-2am)",
        "Fri-Mon(9am-5pm)", "Sun(00:00-24:00)", "Tue(12:30pm-23:15)"}) {
    const AccessSchedule s = P(text);
    EXPECT_EQ(s.ToString(), text);
    EXPECT_EQ(P(s.ToString()), s);
  }
}

TEST(AccessScheduleTest, ErrorsNameTheTokenAndWhatWasExpected) {
  struct Case {
    const char* text;
    const char* fragment;
  } cases[] = {
      {"", "expected at_all_times, never or windows"},
      {"always", "unknown day 'always'"},
      {"Mon-Fry(9am-5pm)", "unknown day 'Fry'"},
      {"Mon-Fri 9am-5pm", "expected '(' after the days at '9am-5pm'"},
      {"Mon-Fri(9-5)", "expected am/pm after the hour or a 24-hour hh:mm time at '9-5)'"},
      {"Mon-Fri(9am-5p)", "expected am or pm after the hour, got 'p'"},
      {"Mon-Fri(13pm-5pm)", "a 12-hour time needs an hour 1..12"},
      {"Mon-Fri(0am-5pm)", "a 12-hour time needs an hour 1..12"},
      {"Mon-Fri(9:5am-5pm)", "two-digit minutes"},
      {"Mon-Fri(9:60am-5pm)", "two-digit minutes"},
      {"Mon-Fri(25:00-26:00)", "a 24-hour start time must be 00:00..23:59"},
      {"Mon-Fri(24:00-10:00)", "a 24-hour start time"},
      {"Mon-Fri(09:00-24:30)", "a 24-hour time must be 00:00..24:00"},
      {"Mon-Fri(9am 5pm)", "expected '-' between the start and end times"},
      {"Mon-Fri(9am-5pm", "expected ')' after the end time at the end"},
      {"Mon-Fri(9am-5pm) Sat(1pm-2pm)", "expected ',' and another window"},
      {"Mon-Fri(9am-5pm),", "expected a day"},
      {"Mon(9am-9am)", "is empty"},
      {"Mon(123:00-13:00)", "expected a time"},
      {"at_all_times,Mon(9am-5pm)", "unknown day 'at'"},
  };
  for (const Case& c : cases) {
    auto s = AccessSchedule::Parse(c.text);
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_TRUE(s.status().IsInvalidArgument());
    EXPECT_NE(s.status().message().find(c.fragment), std::string::npos)
        << c.text << " -> " << s.status().message();
    EXPECT_NE(s.status().message().find(std::string("access '")), std::string::npos);
  }
}

TEST(AccessScheduleTest, EvaluatedInTheGivenTimeZone) {
  auto tz = TimeZone::Load("UTC+02:00");
  ASSERT_TRUE(tz.ok()) << tz.status().ToString();
  const AccessSchedule s = P("Mon-Fri(9am-5pm)");
  // 07:00 UTC is 09:00 at UTC+02:00.
  EXPECT_TRUE(s.IsOpen(Utc(2026, 11, 16, 7, 0), *tz));
  EXPECT_FALSE(s.IsOpen(Utc(2026, 11, 16, 6, 59), *tz));
  EXPECT_FALSE(s.IsOpen(Utc(2026, 11, 16, 15, 0), *tz));
  // Friday 23:00 UTC is Saturday 01:00 there.
  EXPECT_FALSE(P("Fri(9pm-11:59pm)").IsOpen(Utc(2026, 11, 20, 23, 0), *tz));
  EXPECT_TRUE(P("Sat(12am-2am)").IsOpen(Utc(2026, 11, 20, 23, 0), *tz));
}

}  // namespace
}  // namespace cafs::policy
