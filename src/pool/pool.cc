#include "pool/pool.h"

namespace cafs::pool {

Result<std::string> ValidateRelativePath(std::string_view rel_path) {
  if (rel_path.empty()) return Status::InvalidArgument("empty pool path");
  if (rel_path.front() == '/') {
    return Status::InvalidArgument("pool path '" + std::string(rel_path) + "' must be relative");
  }
  std::size_t start = 0;
  while (start <= rel_path.size()) {
    std::size_t end = rel_path.find('/', start);
    if (end == std::string_view::npos) end = rel_path.size();
    std::string_view part = rel_path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return Status::InvalidArgument("pool path '" + std::string(rel_path) +
                                     "' has an empty, '.' or '..' component");
    }
    if (part.find('\0') != std::string_view::npos) {
      return Status::InvalidArgument("pool path has a NUL byte");
    }
    start = end + 1;
  }
  return std::string(rel_path);
}

}  // namespace cafs::pool
