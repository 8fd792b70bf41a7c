#include "kps/policy_validation.h"

#include <pugixml.hpp>

#include "util/uuid.h"

namespace cafs::kps {

namespace {

// 1-based line and column of byte `offset` in `text`.
std::string Where(std::string_view text, std::ptrdiff_t offset) {
  std::size_t line = 1;
  std::size_t col = 1;
  const std::size_t end =
      std::min(text.size(), static_cast<std::size_t>(std::max<std::ptrdiff_t>(0, offset)));
  for (std::size_t i = 0; i < end; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

}  // namespace

Result<PolicySummary> ValidatePolicyXml(std::string_view xml) {
  if (xml.empty()) return Status::InvalidArgument("policy XML is empty");
  pugi::xml_document doc;
  pugi::xml_parse_result r =
      doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!r) {
    return Status::InvalidArgument("policy XML " + Where(xml, r.offset) + ": " + r.description());
  }
  pugi::xml_node root = doc.document_element();
  const std::string name = root.name();
  if (name != "vobj-list" && name != "policy" && name != "vmset") {
    return Status::InvalidArgument("policy XML: root element <" + name +
                                   "> is not <vobj-list>, <policy> or <vmset>");
  }
  PolicySummary out;
  for (const auto& x : doc.select_nodes("//symkey")) {
    std::string text = x.node().child_value();
    auto id = Uuid::Parse(text);
    if (!id.ok()) {
      return Status::InvalidArgument("policy XML " + Where(xml, x.node().offset_debug()) +
                                     ": <symkey> '" + text + "' is not a GUID");
    }
    out.key_ids.push_back(id->ToString());
  }
  return out;
}

}  // namespace cafs::kps
