#include "jobs/volume_files.h"

#include <algorithm>

namespace cafs::jobs {
namespace {

constexpr int kMaxDepth = 64;

Status Walk(core::Volume& volume, const std::string& rel, std::vector<std::string>& out,
            int depth) {
  if (depth > kMaxDepth) return Status::InvalidArgument("/" + rel + ": too deep");
  CAFS_ASSIGN_OR_RETURN(auto entries, volume.ReadDir(rel));
  std::sort(entries.begin(), entries.end(),
            [](const core::DirEntry& a, const core::DirEntry& b) { return a.name < b.name; });
  for (const auto& e : entries) {
    const std::string child = rel.empty() ? e.name : rel + "/" + e.name;
    if (e.type == core::FileType::kDirectory) {
      CAFS_RETURN_IF_ERROR(Walk(volume, child, out, depth + 1));
    } else if (e.type == core::FileType::kRegular) {
      out.push_back(child);
    }
  }
  return Status::OK();
}

}  // namespace

Status FilesBelow(core::Volume& volume, const std::string& rel, std::vector<std::string>& out) {
  return Walk(volume, rel, out, 0);
}

Result<std::vector<std::string>> FilesOf(core::Volume& volume, const JobTarget& target) {
  const std::string rel = VolumePathOf(target.path);
  std::vector<std::string> files;
  if (target.type == "file") {
    files.push_back(rel);
  } else {
    CAFS_RETURN_IF_ERROR(FilesBelow(volume, rel, files));
  }
  return files;
}

}  // namespace cafs::jobs
