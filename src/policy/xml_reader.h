// XmlReader (internal to cafs_policy): parses policy XML with pugixml and turns every problem
// into an InvalidArgument Status that names the line ("policy line 7: ...").
//
// Before parsing it repairs the seed's pasted XML declaration (typographic quotes ″ “ ” become
// '"', "ISO-8859-I" becomes "ISO-8859-1") and converts ISO-8859-1 documents to UTF-8 itself, so
// line numbers are counted on exactly the buffer pugixml parsed.
//
// Threading: one reader per thread; immutable after Parse().
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

#include "util/result.h"

namespace cafs::policy::internal {

class XmlReader {
 public:
  // `what` prefixes messages: "vmset", "policy".
  static Result<std::unique_ptr<XmlReader>> Parse(std::string_view text, std::string_view what);

  // The single root element. Parse() fails if there is not exactly one.
  pugi::xml_node Root() const { return root_; }

  // 1-based line of `node` (0 if unknown).
  int LineOf(pugi::xml_node node) const;
  // InvalidArgument "<what> line N: <message>".
  Status Error(pugi::xml_node at, std::string_view message) const;

  // The trimmed text of a leaf element; errors when it holds elements or control characters.
  Result<std::string> Text(pugi::xml_node element) const;
  // Errors when `element` has attributes.
  Status NoAttributes(pugi::xml_node element) const;
  // The child elements of `element`, erroring on non-blank text between them.
  Result<std::vector<pugi::xml_node>> Children(pugi::xml_node element) const;
  // An unsigned decimal in [min, max]; `name` is the element name for the message.
  Result<unsigned> Unsigned(pugi::xml_node element, unsigned min, unsigned max) const;
  // Errors when a singleton element was already seen.
  Status Once(pugi::xml_node element, bool* seen) const;

 private:
  XmlReader() = default;
  std::string what_;
  std::string buffer_;
  pugi::xml_document doc_;
  pugi::xml_node root_;
};

// Serializes `doc` as UTF-8 with a declaration and two-space indentation.
std::string SaveXml(const pugi::xml_document& doc);

}  // namespace cafs::policy::internal
