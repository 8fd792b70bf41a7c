#include "policy/xml_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

namespace cafs::policy::internal {

namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

// Builds the result in a new string: an in-place std::string::replace here makes GCC 12 at
// -O3 report a -Wrestrict false positive inside libstdc++ (GCC bug 105651).
void ReplaceAll(std::string* s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s->size());
  std::size_t pos = 0;
  for (std::size_t hit; (hit = s->find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(*s, pos, hit - pos).append(to);
  }
  out.append(*s, pos, std::string::npos);
  *s = std::move(out);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Repairs the XML declaration (if any) and returns its encoding value ("" when absent).
// `decl_end` is set to the offset just past "?>".
std::string NormalizeDeclaration(std::string* text, std::size_t* decl_end) {
  *decl_end = 0;
  std::size_t start = 0;
  if (text->compare(0, 3, "\xEF\xBB\xBF") == 0) start = 3;
  while (start < text->size() && IsBlank((*text)[start])) ++start;
  if (text->compare(start, 5, "<?xml") != 0) return "";
  const std::size_t end = text->find("?>", start);
  if (end == std::string::npos) return "";
  std::string decl = text->substr(start, end - start);
  for (std::string_view q : {"\xE2\x80\xB3", "\xE2\x80\x9C", "\xE2\x80\x9D"}) {
    ReplaceAll(&decl, q, "\"");
  }
  std::string encoding;
  const std::size_t e = decl.find("encoding");
  if (e != std::string::npos) {
    std::size_t q = decl.find_first_of("\"'", e);
    if (q != std::string::npos) {
      const std::size_t q2 = decl.find(decl[q], q + 1);
      if (q2 != std::string::npos) {
        encoding = decl.substr(q + 1, q2 - q - 1);
        if (Lower(encoding) == "iso-8859-i") {
          decl.replace(q + 1, q2 - q - 1, "ISO-8859-1");
          encoding = "ISO-8859-1";
        }
      }
    }
  }
  text->replace(start, end - start, decl);
  *decl_end = start + decl.size() + 2;
  return encoding;
}

}  // namespace

Result<std::unique_ptr<XmlReader>> XmlReader::Parse(std::string_view text, std::string_view what) {
  std::unique_ptr<XmlReader> r(new XmlReader());
  r->what_ = std::string(what);
  r->buffer_ = std::string(text);
  std::size_t decl_end = 0;
  const std::string encoding = Lower(NormalizeDeclaration(&r->buffer_, &decl_end));
  if (encoding == "iso-8859-1" || encoding == "latin1" || encoding == "iso_8859-1") {
    // Convert to UTF-8 ourselves (newlines stay put) and say so in the declaration.
    std::string utf8;
    utf8.reserve(r->buffer_.size());
    for (std::size_t i = 0; i < r->buffer_.size(); ++i) {
      const auto c = static_cast<unsigned char>(r->buffer_[i]);
      if (c < 0x80 || i < decl_end) {
        utf8 += static_cast<char>(c);
      } else {
        utf8 += static_cast<char>(0xC0 | (c >> 6));
        utf8 += static_cast<char>(0x80 | (c & 0x3F));
      }
    }
    r->buffer_ = std::move(utf8);
  } else if (!encoding.empty() && encoding != "utf-8" && encoding != "utf8" &&
             encoding != "us-ascii") {
    return Status::InvalidArgument(fmt::format(
        "{} line 1: unsupported encoding '{}' (expected UTF-8 or ISO-8859-1)", what, encoding));
  }
  const pugi::xml_parse_result res = r->doc_.load_buffer(r->buffer_.data(), r->buffer_.size(),
                                                         pugi::parse_default, pugi::encoding_utf8);
  if (!res) {
    const auto offset = static_cast<std::size_t>(std::max<std::ptrdiff_t>(0, res.offset));
    const auto end =
        r->buffer_.begin() + static_cast<std::ptrdiff_t>(std::min(offset, r->buffer_.size()));
    const auto line = 1 + std::count(r->buffer_.begin(), end, '\n');
    return Status::InvalidArgument(
        fmt::format("{} line {}: malformed XML: {}", what, line, res.description()));
  }
  int roots = 0;
  for (pugi::xml_node n : r->doc_.children()) {
    if (n.type() == pugi::node_element) {
      if (++roots > 1) return r->Error(n, "more than one root element");
      r->root_ = n;
    } else if (n.type() == pugi::node_pcdata || n.type() == pugi::node_cdata) {
      return r->Error(n, "text outside the root element");
    }
  }
  if (roots == 0) {
    return Status::InvalidArgument(fmt::format("{} line 1: no root element", what));
  }
  return r;
}

int XmlReader::LineOf(pugi::xml_node node) const {
  const std::ptrdiff_t off = node.offset_debug();
  if (off < 0) return 0;
  const auto end =
      buffer_.begin() + std::min<std::ptrdiff_t>(off, static_cast<std::ptrdiff_t>(buffer_.size()));
  return static_cast<int>(1 + std::count(buffer_.begin(), end, '\n'));
}

Status XmlReader::Error(pugi::xml_node at, std::string_view message) const {
  return Status::InvalidArgument(fmt::format("{} line {}: {}", what_, LineOf(at), message));
}

Result<std::string> XmlReader::Text(pugi::xml_node element) const {
  CAFS_RETURN_IF_ERROR(NoAttributes(element));
  std::string text;
  for (pugi::xml_node c : element.children()) {
    if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) {
      text += c.value();
    } else if (c.type() == pugi::node_element) {
      return Error(c, fmt::format("<{}> must contain text, not <{}>", element.name(), c.name()));
    }
  }
  const std::string_view t = Trim(text);
  for (char ch : t) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7F) {
      return Error(element, fmt::format("<{}> contains a control character", element.name()));
    }
  }
  return std::string(t);
}

Status XmlReader::NoAttributes(pugi::xml_node element) const {
  if (pugi::xml_attribute a = element.first_attribute()) {
    return Error(element,
                 fmt::format("<{}> takes no attribute, got '{}'", element.name(), a.name()));
  }
  return Status::OK();
}

Result<std::vector<pugi::xml_node>> XmlReader::Children(pugi::xml_node element) const {
  std::vector<pugi::xml_node> out;
  for (pugi::xml_node c : element.children()) {
    if (c.type() == pugi::node_element) {
      out.push_back(c);
    } else if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) {
      std::string_view v = Trim(c.value());
      if (!v.empty()) {
        if (v.size() > 20) v = v.substr(0, 20);
        return Error(c, fmt::format("unexpected text '{}' in <{}>", v, element.name()));
      }
    }
  }
  return out;
}

Result<unsigned> XmlReader::Unsigned(pugi::xml_node element, unsigned min, unsigned max) const {
  CAFS_ASSIGN_OR_RETURN(const std::string text, Text(element));
  unsigned long long v = 0;
  bool ok = !text.empty() && text.size() <= 10;
  for (char c : text) {
    if (c < '0' || c > '9') ok = false;
    if (ok) v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (!ok || v < min || v > max) {
    return Error(element, fmt::format("<{}> must be a number {}..{}, got '{}'", element.name(), min,
                                      max, text));
  }
  return static_cast<unsigned>(v);
}

Status XmlReader::Once(pugi::xml_node element, bool* seen) const {
  if (*seen) return Error(element, fmt::format("duplicate <{}>", element.name()));
  *seen = true;
  return Status::OK();
}

std::string SaveXml(const pugi::xml_document& doc) {
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_default, pugi::encoding_utf8);
  return out.str();
}

}  // namespace cafs::policy::internal
