#include "policy/access_schedule.h"

#include <fmt/format.h>

#include <array>
#include <optional>

namespace cafs::policy {

namespace {

constexpr std::array<std::string_view, 7> kDayNames = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string FormatTime(const TimeOfDay& t) {
  const unsigned h = t.minutes / 60u, m = t.minutes % 60u;
  if (!t.twelve_hour) return fmt::format("{:02}:{:02}", h, m);
  const unsigned h12 = h % 12 == 0 ? 12 : h % 12;
  const char* suffix = h < 12 ? "am" : "pm";
  if (m == 0) return fmt::format("{}{}", h12, suffix);
  return fmt::format("{}:{:02}{}", h12, m, suffix);
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<std::vector<AccessWindow>> Windows() {
    std::vector<AccessWindow> out;
    do {
      AccessWindow w;
      CAFS_RETURN_IF_ERROR(Days(&w.days));
      CAFS_RETURN_IF_ERROR(Expect('(', "'(' after the days"));
      CAFS_ASSIGN_OR_RETURN(w.start, Time(/*is_end=*/false));
      CAFS_RETURN_IF_ERROR(Expect('-', "'-' between the start and end times"));
      CAFS_ASSIGN_OR_RETURN(w.end, Time(/*is_end=*/true));
      CAFS_RETURN_IF_ERROR(Expect(')', "')' after the end time"));
      if (w.start.minutes == w.end.minutes) {
        return Error(fmt::format("window {} is empty (start equals end)", w.ToString()));
      }
      out.push_back(std::move(w));
    } while (Accept(','));
    SkipSpace();
    if (i_ != text_.size()) return Error("expected ',' and another window or the end");
    return out;
  }

 private:
  Status Error(std::string_view what) const {
    std::string_view rest = text_.substr(std::min(i_, text_.size()));
    if (rest.size() > 16) rest = rest.substr(0, 16);
    return Status::InvalidArgument(
        fmt::format("access '{}': {}{}", text_, what,
                    rest.empty() ? std::string(" at the end") : fmt::format(" at '{}'", rest)));
  }
  void SkipSpace() {
    while (i_ < text_.size() && IsSpace(text_[i_])) ++i_;
  }
  char Peek() {
    SkipSpace();
    return i_ < text_.size() ? text_[i_] : '\0';
  }
  bool Accept(char c) {
    if (Peek() != c) return false;
    ++i_;
    return true;
  }
  Status Expect(char c, std::string_view what) {
    if (Accept(c)) return Status::OK();
    return Error(fmt::format("expected {}", what));
  }

  Result<std::uint8_t> Day() {
    SkipSpace();
    const std::size_t begin = i_;
    while (i_ < text_.size() && IsAlpha(text_[i_])) ++i_;
    const std::string_view word = text_.substr(begin, i_ - begin);
    for (std::size_t d = 0; d < kDayNames.size(); ++d) {
      if (EqualsIgnoreCase(word, kDayNames[d])) return static_cast<std::uint8_t>(d);
    }
    i_ = begin;
    if (word.empty()) return Error("expected a day (Mon, Tue, Wed, Thu, Fri, Sat or Sun)");
    return Error(
        fmt::format("unknown day '{}' (expected Mon, Tue, Wed, Thu, Fri, Sat or Sun)", word));
  }

  Status Days(std::vector<DayRange>* days) {
    do {
      DayRange r;
      CAFS_ASSIGN_OR_RETURN(r.first, Day());
      r.last = r.first;
      if (Accept('-')) {
        CAFS_ASSIGN_OR_RETURN(r.last, Day());
      }
      days->push_back(r);
    } while (Accept(','));
    return Status::OK();
  }

  // Reads up to 2 digits; nullopt when there is no digit.
  std::optional<unsigned> Number() {
    unsigned v = 0;
    std::size_t n = 0;
    while (i_ < text_.size() && IsDigit(text_[i_]) && n < 3) {
      v = v * 10 + static_cast<unsigned>(text_[i_] - '0');
      ++i_;
      ++n;
    }
    if (n == 0 || n > 2) return std::nullopt;
    return v;
  }

  Result<TimeOfDay> Time(bool is_end) {
    SkipSpace();
    const std::size_t begin = i_;
    const char* expected = "expected a time such as 9am, 8:30pm or 17:00";
    const auto hour = Number();
    if (!hour) {
      i_ = begin;
      return Error(expected);
    }
    std::optional<unsigned> minute;
    bool two_digit_minute = false;
    if (i_ < text_.size() && text_[i_] == ':') {
      ++i_;
      const std::size_t mbegin = i_;
      minute = Number();
      two_digit_minute = i_ - mbegin == 2;
      if (!minute || !two_digit_minute || *minute > 59) {
        i_ = begin;
        return Error("expected two-digit minutes 00..59 in a time");
      }
    }
    const std::size_t sbegin = i_;
    while (i_ < text_.size() && IsAlpha(text_[i_])) ++i_;
    const std::string_view suffix = text_.substr(sbegin, i_ - sbegin);
    TimeOfDay t;
    if (!suffix.empty()) {
      const bool am = EqualsIgnoreCase(suffix, "am");
      if (!am && !EqualsIgnoreCase(suffix, "pm")) {
        i_ = begin;
        return Error(fmt::format("expected am or pm after the hour, got '{}'", suffix));
      }
      if (*hour < 1 || *hour > 12) {
        i_ = begin;
        return Error("a 12-hour time needs an hour 1..12");
      }
      t.twelve_hour = true;
      t.minutes =
          static_cast<std::uint16_t>((*hour % 12 + (am ? 0 : 12)) * 60 + minute.value_or(0));
      return t;
    }
    if (!minute) {
      i_ = begin;
      return Error("expected am/pm after the hour or a 24-hour hh:mm time");
    }
    if (*hour > 24 || (*hour == 24 && (*minute != 0 || !is_end))) {
      i_ = begin;
      return Error(is_end ? "a 24-hour time must be 00:00..24:00"
                          : "a 24-hour start time must be 00:00..23:59");
    }
    t.minutes = static_cast<std::uint16_t>(*hour * 60 + *minute);
    return t;
  }

  std::string_view text_;
  std::size_t i_ = 0;
};

}  // namespace

std::uint8_t AccessWindow::DayMask() const {
  unsigned mask = 0;
  for (const DayRange& r : days) {
    unsigned d = r.first;
    for (;;) {
      mask |= 1u << d;
      if (d == r.last) break;
      d = (d + 1) % 7;
    }
  }
  return static_cast<std::uint8_t>(mask);
}

bool AccessWindow::IsOpen(const LocalTime& local) const {
  const unsigned mask = DayMask();
  const unsigned today = local.weekday.c_encoding();
  const unsigned yesterday = (today + 6) % 7;
  const std::int32_t now = local.seconds_of_day;
  const std::int32_t from = start.minutes * 60;
  const std::int32_t to = end.minutes * 60;
  if (!CrossesMidnight()) return ((mask >> today) & 1u) && now >= from && now < to;
  return (((mask >> today) & 1u) && now >= from) || (((mask >> yesterday) & 1u) && now < to);
}

std::string AccessWindow::ToString() const {
  std::string out;
  for (std::size_t i = 0; i < days.size(); ++i) {
    if (i) out += ',';
    out += kDayNames[days[i].first];
    if (days[i].last != days[i].first) {
      out += '-';
      out += kDayNames[days[i].last];
    }
  }
  return out + "(" + FormatTime(start) + "-" + FormatTime(end) + ")";
}

AccessSchedule AccessSchedule::Never() {
  AccessSchedule s;
  s.kind_ = Kind::kNever;
  return s;
}

Result<AccessSchedule> AccessSchedule::Parse(std::string_view text) {
  std::size_t b = 0, e = text.size();
  while (b < e && IsSpace(text[b])) ++b;
  while (e > b && IsSpace(text[e - 1])) --e;
  const std::string_view t = text.substr(b, e - b);
  if (t == "at_all_times") return Always();
  if (t == "never") return Never();
  if (t.empty()) {
    return Status::InvalidArgument(
        "access '': expected at_all_times, never or windows such as Mon-Fri(9am-5pm)");
  }
  AccessSchedule s;
  s.kind_ = Kind::kWindows;
  CAFS_ASSIGN_OR_RETURN(s.windows_, Parser(t).Windows());
  return s;
}

bool AccessSchedule::IsOpen(const LocalTime& local) const {
  switch (kind_) {
    case Kind::kAlways:
      return true;
    case Kind::kNever:
      return false;
    case Kind::kWindows:
      for (const AccessWindow& w : windows_) {
        if (w.IsOpen(local)) return true;
      }
      return false;
  }
  return false;
}

bool AccessSchedule::IsOpen(Clock::TimePoint t, const TimeZone& tz) const {
  if (kind_ != Kind::kWindows) return kind_ == Kind::kAlways;
  return IsOpen(tz.ToLocal(t));
}

std::string AccessSchedule::ToString() const {
  switch (kind_) {
    case Kind::kAlways:
      return "at_all_times";
    case Kind::kNever:
      return "never";
    case Kind::kWindows:
      break;
  }
  std::string out;
  for (std::size_t i = 0; i < windows_.size(); ++i) {
    if (i) out += ',';
    out += windows_[i].ToString();
  }
  return out;
}

}  // namespace cafs::policy
