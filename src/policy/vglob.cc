#include "policy/vglob.h"

#include <fmt/format.h>

namespace cafs::policy {

Vglob::Vglob() : pattern_(kCatchAll), catch_all_(true) {}

Result<Vglob> Vglob::Parse(std::string_view pattern) {
  auto bad = [&](std::string_view what) {
    return Status::InvalidArgument(fmt::format("<vglob> '{}': {}", pattern, what));
  };
  if (pattern.empty()) return bad("empty pattern (use hc_default to match everything)");
  Vglob g;
  g.pattern_ = std::string(pattern);
  g.catch_all_ = pattern == kCatchAll;
  if (g.catch_all_) return g;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    Element e{};
    switch (c) {
      case '*':
        // Consecutive stars are one star.
        if (!g.elements_.empty() && g.elements_.back().kind == Element::Kind::kStar) continue;
        e.kind = Element::Kind::kStar;
        break;
      case '?':
        e.kind = Element::Kind::kAnyOne;
        break;
      case '\\':
        if (i + 1 == pattern.size()) return bad("trailing '\\' escapes nothing");
        e.kind = Element::Kind::kLiteral;
        e.literal = pattern[++i];
        break;
      case '[': {
        e.kind = Element::Kind::kSet;
        std::size_t j = i + 1;
        bool negate = false;
        if (j < pattern.size() && (pattern[j] == '!' || pattern[j] == '^')) {
          negate = true;
          ++j;
        }
        bool first = true;
        bool closed = false;
        while (j < pattern.size()) {
          char lo = pattern[j];
          if (lo == ']' && !first) {
            closed = true;
            break;
          }
          first = false;
          if (lo == '\\' && j + 1 < pattern.size()) lo = pattern[++j];
          char hi = lo;
          if (j + 2 < pattern.size() && pattern[j + 1] == '-' && pattern[j + 2] != ']') {
            hi = pattern[j + 2];
            j += 2;
            if (hi == '\\' && j + 1 < pattern.size()) hi = pattern[++j];
          }
          const auto ulo = static_cast<unsigned char>(lo);
          const auto uhi = static_cast<unsigned char>(hi);
          if (ulo > uhi) {
            return bad(fmt::format("range '{}-{}' in a [set] is reversed", lo, hi));
          }
          for (unsigned b = ulo; b <= uhi; ++b) e.set.set(b);
          ++j;
        }
        if (!closed) return bad("'[' without a closing ']'");
        if (negate) e.set.flip();
        i = j;
        break;
      }
      default:
        e.kind = Element::Kind::kLiteral;
        e.literal = c;
        break;
    }
    g.elements_.push_back(e);
  }
  return g;
}

bool Vglob::Matches(std::string_view path) const {
  if (catch_all_) return true;
  const std::size_t m = elements_.size();
  std::size_t p = 0, s = 0;
  std::size_t star = m;  // m: no star seen yet
  std::size_t mark = 0;
  auto one = [&](const Element& e, char c) {
    switch (e.kind) {
      case Element::Kind::kLiteral:
        return e.literal == c;
      case Element::Kind::kAnyOne:
        return true;
      case Element::Kind::kSet:
        return e.set.test(static_cast<unsigned char>(c));
      case Element::Kind::kStar:
        return false;
    }
    return false;
  };
  while (s < path.size()) {
    if (p < m && elements_[p].kind == Element::Kind::kStar) {
      star = p++;
      mark = s;
    } else if (p < m && one(elements_[p], path[s])) {
      ++p;
      ++s;
    } else if (star != m) {
      p = star + 1;
      s = ++mark;
    } else {
      return false;
    }
  }
  while (p < m && elements_[p].kind == Element::Kind::kStar) ++p;
  return p == m;
}

}  // namespace cafs::policy
