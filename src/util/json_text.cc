#include "util/json_text.h"

#include <string>

namespace cafs {

Status CheckJsonDepth(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return Status::InvalidArgument("JSON nested deeper than " + std::to_string(max_depth) +
                                       " levels");
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return Status::OK();
}

Result<nlohmann::json> ParseJson(std::string_view text, std::string_view what,
                                 std::size_t max_depth) {
  if (Status depth = CheckJsonDepth(text, max_depth); !depth.ok()) {
    return Status::InvalidArgument(std::string(what) + ": " + depth.message());
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument(std::string(what) + " is not JSON");
  return j;
}

}  // namespace cafs
