#include "policy/time_zone.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <optional>
#include <vector>

namespace cafs::policy {

namespace {

using std::chrono::days;
using std::chrono::sys_days;

constexpr std::int64_t kSecondsPerDay = 86400;
constexpr std::size_t kMaxTzifSize = 1 << 20;

struct LocalType {
  std::int32_t utoff = 0;
  std::string abbreviation;
};

// One date of a POSIX TZ rule: Jn, n or Mm.w.d.
struct RuleDate {
  enum class Kind { kJulian1, kJulian0, kMonthWeekDay } kind = Kind::kMonthWeekDay;
  int n = 0;  // Jn / n
  unsigned month = 0, week = 0, weekday = 0;
  std::int32_t time = 7200;  // seconds after local midnight, -167h .. 167h
};

// The POSIX TZ string of a TZif footer, e.g. "CET-1CEST,M3.5.0,M10.5.0/3".
struct PosixRule {
  LocalType std_type;
  bool has_dst = false;
  LocalType dst_type;
  RuleDate start, end;
};

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::int64_t DayStart(const std::chrono::year_month_day& ymd) {
  return static_cast<std::int64_t>(sys_days(ymd).time_since_epoch().count()) * kSecondsPerDay;
}

// UTC seconds at which `rule` happens in `year`, when local time is at `offset`.
std::int64_t RuleInstant(int year, const RuleDate& rule, std::int32_t offset) {
  using namespace std::chrono;
  const auto y = std::chrono::year(year);
  std::int64_t day_start = 0;
  switch (rule.kind) {
    case RuleDate::Kind::kJulian1: {
      int n = rule.n - 1;
      if (y.is_leap() && rule.n >= 60) ++n;
      day_start = DayStart(y / January / 1) + n * kSecondsPerDay;
      break;
    }
    case RuleDate::Kind::kJulian0:
      day_start = DayStart(y / January / 1) + rule.n * kSecondsPerDay;
      break;
    case RuleDate::Kind::kMonthWeekDay: {
      const auto first = y / month(rule.month) / 1;
      const unsigned first_wd = weekday(sys_days(first)).c_encoding();
      unsigned day = 1 + (rule.weekday + 7 - first_wd) % 7 + (rule.week - 1) * 7;
      const unsigned last_day =
          static_cast<unsigned>((y / month(rule.month) / std::chrono::last).day());
      while (day > last_day) day -= 7;
      day_start = DayStart(y / month(rule.month) / std::chrono::day(day));
      break;
    }
  }
  return day_start + rule.time - offset;
}

std::chrono::year_month_day CivilFromSeconds(std::int64_t local) {
  return std::chrono::year_month_day(
      sys_days(days(static_cast<days::rep>(FloorDiv(local, kSecondsPerDay)))));
}

class PosixParser {
 public:
  explicit PosixParser(std::string_view s) : s_(s) {}

  std::optional<PosixRule> Parse() {
    PosixRule r;
    if (!Name(&r.std_type.abbreviation)) return std::nullopt;
    std::int32_t west = 0;
    if (!Offset(&west, 24)) return std::nullopt;
    r.std_type.utoff = -west;
    if (AtEnd()) return r;
    r.has_dst = true;
    if (!Name(&r.dst_type.abbreviation)) return std::nullopt;
    r.dst_type.utoff = r.std_type.utoff + 3600;
    if (!AtEnd() && Peek() != ',') {
      if (!Offset(&west, 24)) return std::nullopt;
      r.dst_type.utoff = -west;
    }
    if (AtEnd()) {  // legacy default: US rules
      r.start = RuleDate{RuleDate::Kind::kMonthWeekDay, 0, 3, 2, 0, 7200};
      r.end = RuleDate{RuleDate::Kind::kMonthWeekDay, 0, 11, 1, 0, 7200};
      return r;
    }
    if (!Eat(',') || !Date(&r.start) || !Eat(',') || !Date(&r.end) || !AtEnd()) {
      return std::nullopt;
    }
    return r;
  }

 private:
  bool AtEnd() const { return i_ >= s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[i_]; }
  bool Eat(char c) {
    if (Peek() != c) return false;
    ++i_;
    return true;
  }
  static bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  bool Name(std::string* out) {
    const std::size_t begin = i_;
    if (Eat('<')) {
      while (!AtEnd() && Peek() != '>') ++i_;
      if (!Eat('>')) return false;
      *out = std::string(s_.substr(begin + 1, i_ - begin - 2));
    } else {
      while (IsAlpha(Peek())) ++i_;
      *out = std::string(s_.substr(begin, i_ - begin));
    }
    return !out->empty();
  }
  bool Number(int* out, int max) {
    if (!IsDigit(Peek())) return false;
    int v = 0;
    while (IsDigit(Peek())) {
      v = v * 10 + (s_[i_++] - '0');
      if (v > max) return false;
    }
    *out = v;
    return true;
  }
  // [+-]hh[:mm[:ss]], hours up to max_hours.
  bool Offset(std::int32_t* out, int max_hours) {
    int sign = 1;
    if (Eat('-')) {
      sign = -1;
    } else {
      Eat('+');
    }
    int h = 0, m = 0, sec = 0;
    if (!Number(&h, max_hours)) return false;
    if (Eat(':')) {
      if (!Number(&m, 59)) return false;
      if (Eat(':') && !Number(&sec, 59)) return false;
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }
  bool Date(RuleDate* d) {
    int a = 0, b = 0, c = 0;
    if (Eat('J')) {
      if (!Number(&a, 365) || a < 1) return false;
      d->kind = RuleDate::Kind::kJulian1;
      d->n = a;
    } else if (Eat('M')) {
      if (!Number(&a, 12) || a < 1 || !Eat('.') || !Number(&b, 5) || b < 1 || !Eat('.') ||
          !Number(&c, 6)) {
        return false;
      }
      d->kind = RuleDate::Kind::kMonthWeekDay;
      d->month = static_cast<unsigned>(a);
      d->week = static_cast<unsigned>(b);
      d->weekday = static_cast<unsigned>(c);
    } else {
      if (!Number(&a, 365)) return false;
      d->kind = RuleDate::Kind::kJulian0;
      d->n = a;
    }
    d->time = 7200;
    if (Eat('/')) return Offset(&d->time, 167);
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

std::uint32_t LoadBe32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
std::int64_t LoadBe64Signed(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return static_cast<std::int64_t>(v);
}

bool ValidZoneChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '+' || c == '-' || c == '/';
}

}  // namespace

struct TimeZone::Data {
  std::string name;
  std::vector<std::int64_t> transitions;  // UTC seconds, strictly ascending
  std::vector<std::uint8_t> transition_types;
  std::vector<LocalType> types;  // at least one
  std::optional<PosixRule> footer;

  const LocalType& TypeAt(std::int64_t s) const {
    if (transitions.empty()) {
      if (footer) return FooterTypeAt(s);
      return types[0];
    }
    if (s < transitions.front()) return types[0];
    if (footer && s >= transitions.back()) return FooterTypeAt(s);
    const auto it = std::upper_bound(transitions.begin(), transitions.end(), s);
    const auto idx = static_cast<std::size_t>(it - transitions.begin()) - 1;
    return types[transition_types[idx]];
  }

  const LocalType& FooterTypeAt(std::int64_t s) const {
    const PosixRule& r = *footer;
    if (!r.has_dst) return r.std_type;
    const int year = static_cast<int>(CivilFromSeconds(s + r.std_type.utoff).year());
    const std::int64_t start = RuleInstant(year, r.start, r.std_type.utoff);
    const std::int64_t end = RuleInstant(year, r.end, r.dst_type.utoff);
    bool dst;
    if (start < end) {
      dst = s >= start && s < end;
    } else {
      dst = !(s >= end && s < start);
    }
    return dst ? r.dst_type : r.std_type;
  }
};

std::string LocalTime::ToString() const {
  static constexpr std::string_view kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  return fmt::format("{} {:04}-{:02}-{:02} {:02}:{:02} {}", kDays[weekday.c_encoding()],
                     static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                     static_cast<unsigned>(date.day()), seconds_of_day / 3600,
                     (seconds_of_day / 60) % 60, abbreviation);
}

namespace {
std::shared_ptr<const TimeZone::Data> FixedData(std::string name, std::int32_t offset) {
  auto d = std::make_shared<TimeZone::Data>();
  d->types.push_back(LocalType{offset, name});
  d->name = std::move(name);
  return d;
}

// "UTC+hh:mm" / "UTC-hh:mm" -> seconds east, or nullopt when `name` is not of that form.
std::optional<std::int32_t> ParseFixedOffset(std::string_view name) {
  if (name.size() != 9 || name.substr(0, 3) != "UTC" || (name[3] != '+' && name[3] != '-') ||
      name[6] != ':') {
    return std::nullopt;
  }
  auto digit = [&](std::size_t i) -> int {
    return (name[i] >= '0' && name[i] <= '9') ? name[i] - '0' : -100;
  };
  const int h = digit(4) * 10 + digit(5);
  const int m = digit(7) * 10 + digit(8);
  if (h < 0 || m < 0 || m > 59 || h * 60 + m > 14 * 60) return std::nullopt;
  return (name[3] == '-' ? -1 : 1) * (h * 3600 + m * 60);
}

bool IsUtcName(std::string_view name) { return name == "UTC" || name == "Etc/UTC" || name == "Z"; }
}  // namespace

TimeZone::TimeZone() : data_(FixedData("UTC", 0)) {}

const std::string& TimeZone::Name() const { return data_->name; }

Status ValidateTimeZoneName(std::string_view name) {
  if (IsUtcName(name) || ParseFixedOffset(name)) return Status::OK();
  if (name.substr(0, 3) == "UTC" && name.size() > 3 && (name[3] == '+' || name[3] == '-')) {
    return Status::InvalidArgument(fmt::format(
        "time zone '{}': a fixed offset must be UTC+hh:mm or UTC-hh:mm, at most 14:00", name));
  }
  if (name.empty() || name.size() > 255 || name.front() == '/' || name.back() == '/' ||
      !std::all_of(name.begin(), name.end(), ValidZoneChar)) {
    return Status::InvalidArgument(
        fmt::format("time zone '{}' is not an IANA name such as Europe/Berlin, UTC or "
                    "UTC+hh:mm",
                    name));
  }
  std::size_t pos = 0;
  while (pos <= name.size()) {
    std::size_t next = name.find('/', pos);
    if (next == std::string_view::npos) next = name.size();
    const std::string_view comp = name.substr(pos, next - pos);
    if (comp.empty() || comp == "." || comp == "..") {
      return Status::InvalidArgument(fmt::format("time zone '{}': bad path component", name));
    }
    pos = next + 1;
  }
  return Status::OK();
}

Result<TimeZone> TimeZone::Load(std::string_view name, std::string_view zoneinfo_dir) {
  CAFS_RETURN_IF_ERROR(ValidateTimeZoneName(name));
  if (IsUtcName(name)) return TimeZone(FixedData(std::string(name), 0));
  if (auto off = ParseFixedOffset(name)) return TimeZone(FixedData(std::string(name), *off));
  const std::string path = std::string(zoneinfo_dir) + "/" + std::string(name);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::NotFound(fmt::format(
        "time zone '{}': cannot open {} (is the tzdata package installed?)", name, path));
  }
  std::string bytes;
  bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (bytes.size() > kMaxTzifSize) {
    return Status::Corruption(fmt::format("time zone file {} is too large", path));
  }
  auto tz = FromTzif(name, AsBytes(bytes));
  if (!tz.ok()) return tz.status().WithContext(path);
  return tz;
}

Result<TimeZone> TimeZone::FromTzif(std::string_view name, ByteView data) {
  auto bad = [&](std::string_view what) {
    return Status::Corruption(fmt::format("time zone '{}': not a valid TZif file: {}", name, what));
  };
  struct Counts {
    std::uint32_t isut, isstd, leap, time, type, chars;
  };
  auto header = [&](std::size_t at, Counts* c) -> bool {
    if (data.size() < at + 44) return false;
    const std::uint8_t* p = data.data() + at;
    if (p[0] != 'T' || p[1] != 'Z' || p[2] != 'i' || p[3] != 'f') return false;
    c->isut = LoadBe32(p + 20);
    c->isstd = LoadBe32(p + 24);
    c->leap = LoadBe32(p + 28);
    c->time = LoadBe32(p + 32);
    c->type = LoadBe32(p + 36);
    c->chars = LoadBe32(p + 40);
    return c->time <= 1'000'000 && c->type <= 256 && c->chars <= 1'000'000 &&
           c->leap <= 1'000'000 && c->isut <= 256 && c->isstd <= 256;
  };
  auto block_size = [](const Counts& c, std::size_t tsize) {
    return std::size_t{c.time} * tsize + c.time + std::size_t{c.type} * 6 + c.chars +
           std::size_t{c.leap} * (tsize + 4) + c.isstd + c.isut;
  };

  Counts c{};
  if (!header(0, &c)) return bad("bad header");
  const std::uint8_t version = data[4];
  std::size_t at = 44;
  std::size_t tsize = 4;
  if (version >= '2') {
    at += block_size(c, 4);
    if (!header(at, &c)) return bad("bad second header");
    at += 44;
    tsize = 8;
  }
  if (data.size() < at + block_size(c, tsize)) return bad("truncated data block");
  if (c.type == 0) return bad("no local time types");
  if ((c.isut != 0 && c.isut != c.type) || (c.isstd != 0 && c.isstd != c.type)) {
    return bad("indicator counts do not match the type count");
  }

  auto d = std::make_shared<Data>();
  d->name = std::string(name);
  const std::uint8_t* p = data.data() + at;
  for (std::uint32_t i = 0; i < c.time; ++i, p += tsize) {
    const std::int64_t t = tsize == 8
                               ? LoadBe64Signed(p)
                               : static_cast<std::int64_t>(static_cast<std::int32_t>(LoadBe32(p)));
    if (!d->transitions.empty() && t <= d->transitions.back()) {
      return bad("transition times are not ascending");
    }
    d->transitions.push_back(t);
  }
  for (std::uint32_t i = 0; i < c.time; ++i, ++p) {
    if (*p >= c.type) return bad("transition type index out of range");
    d->transition_types.push_back(*p);
  }
  const std::uint8_t* types = p;
  const std::uint8_t* chars = p + std::size_t{c.type} * 6;
  for (std::uint32_t i = 0; i < c.type; ++i) {
    const std::uint8_t* e = types + std::size_t{i} * 6;
    LocalType lt;
    lt.utoff = static_cast<std::int32_t>(LoadBe32(e));
    if (lt.utoff < -25 * 3600 || lt.utoff > 26 * 3600) return bad("UT offset out of range");
    const std::uint8_t idx = e[5];
    if (idx >= c.chars) return bad("abbreviation index out of range");
    const char* s = reinterpret_cast<const char*>(chars) + idx;
    const std::size_t max = c.chars - idx;
    lt.abbreviation.assign(s, strnlen(s, max));
    d->types.push_back(std::move(lt));
  }
  at += block_size(c, tsize);
  if (version >= '2' && at < data.size()) {
    if (data[at] != '\n') return bad("footer does not start with a newline");
    const std::string_view rest(reinterpret_cast<const char*>(data.data()) + at + 1,
                                data.size() - at - 1);
    const std::size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) return bad("footer does not end with a newline");
    const std::string_view tz = rest.substr(0, nl);
    if (!tz.empty()) {
      d->footer = PosixParser(tz).Parse();
      if (!d->footer) return bad(fmt::format("cannot parse footer TZ string '{}'", tz));
    }
  }
  return TimeZone(std::move(d));
}

LocalTime TimeZone::ToLocal(std::chrono::system_clock::time_point t) const {
  LocalTime lt;
  lt.utc = std::chrono::floor<std::chrono::seconds>(t);
  const std::int64_t s = lt.utc.time_since_epoch().count();
  const LocalType& type = data_->TypeAt(s);
  lt.utc_offset_seconds = type.utoff;
  lt.abbreviation = type.abbreviation;
  const std::int64_t local = s + type.utoff;
  const std::int64_t day = FloorDiv(local, kSecondsPerDay);
  lt.seconds_of_day = static_cast<std::int32_t>(local - day * kSecondsPerDay);
  const sys_days sd{days(static_cast<days::rep>(day))};
  lt.date = std::chrono::year_month_day(sd);
  lt.weekday = std::chrono::weekday(sd);
  return lt;
}

}  // namespace cafs::policy
