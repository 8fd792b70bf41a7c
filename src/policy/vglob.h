// Vglob: the seed's <vglob> pattern that maps files of a VM set to a virtual object.
//
// Shell-glob (fnmatch(3)-like) syntax matched against the path of a file *inside the VM set*,
// i.e. "<vm name>/<path inside the VM>" without a leading slash ("windows_xp/osdisk1.vmdk" for
// /nfs/my_vmset/windows_xp/osdisk1.vmdk):
//   *        any run of characters, including '/' (so "*osdisk*" matches files in any VM)
//   ?        any one character, including '/'
//   [abc] [a-z] [!a-z] [^a-z]   one character from (or not from) the set; ']' first is literal
//   \c       the character c itself
//   anything else matches itself, case-sensitively
// The pattern must match the whole path. The special pattern "hc_default" matches every path
// (the seed's catch-all). Matching is O(len(pattern) * len(path)) with no recursion.
//
// Threading: an immutable value.
#pragma once

#include <bitset>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace cafs::policy {

class Vglob {
 public:
  static constexpr std::string_view kCatchAll = "hc_default";

  // hc_default.
  Vglob();
  // InvalidArgument for an empty pattern, an unclosed '[', an empty set or a trailing '\'.
  static Result<Vglob> Parse(std::string_view pattern);

  bool Matches(std::string_view path_within_vmset) const;
  bool IsCatchAll() const { return catch_all_; }
  const std::string& pattern() const { return pattern_; }

  bool operator==(const Vglob& other) const { return pattern_ == other.pattern_; }

 private:
  struct Element {
    enum class Kind : unsigned char { kLiteral, kAnyOne, kStar, kSet } kind;
    char literal = 0;
    std::bitset<256> set;  // kSet: the accepted bytes (negation already applied)
  };

  std::string pattern_;
  bool catch_all_ = false;
  std::vector<Element> elements_;
};

}  // namespace cafs::policy
