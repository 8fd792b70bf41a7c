#include "policy/vmset_path.h"

#include <fmt/format.h>

#include <vector>

#include "policy/vm_set.h"

namespace cafs::policy {

namespace {

// Splits on '/', dropping empty and "." components; InvalidArgument on "..".
Result<std::vector<std::string_view>> Components(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    const std::string_view c = path.substr(pos, next - pos);
    if (c == "..") {
      return Status::InvalidArgument(
          fmt::format("path '{}': '..' components are not allowed", path));
    }
    if (!c.empty() && c != ".") out.push_back(c);
    pos = next + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string_view>& parts, std::size_t from) {
  std::string out;
  for (std::size_t i = from; i < parts.size(); ++i) {
    if (i > from) out += '/';
    out += parts[i];
  }
  return out;
}

}  // namespace

Result<std::string> NormalizePathWithinVmSet(std::string_view path) {
  CAFS_ASSIGN_OR_RETURN(const auto parts, Components(path));
  return Join(parts, 0);
}

Result<VmSetPath> ResolveVmSetPath(std::string_view mount_point, unsigned position,
                                   std::string_view path) {
  if (position == 0) return Status::InvalidArgument("VM set position must be 1 or more");
  if (path.empty() || path.front() != '/') {
    return Status::InvalidArgument(fmt::format("path '{}' is not absolute", path));
  }
  CAFS_ASSIGN_OR_RETURN(const auto mnt, Components(mount_point));
  CAFS_ASSIGN_OR_RETURN(const auto parts, Components(path));
  if (parts.size() < mnt.size() || !std::equal(mnt.begin(), mnt.end(), parts.begin())) {
    return Status::NotFound(
        fmt::format("path '{}' is not below mount point '{}'", path, mount_point));
  }
  const std::size_t name_at = mnt.size() + position - 1;
  if (parts.size() <= name_at) {
    return Status::NotFound(
        fmt::format("path '{}' names no VM set (the VM set name is component {} below '{}')", path,
                    position, mount_point));
  }
  VmSetPath out;
  out.vmset_name = std::string(parts[name_at]);
  if (parts.size() > name_at + 1) out.vm_name = std::string(parts[name_at + 1]);
  out.path_within_vmset = Join(parts, name_at + 1);
  return out;
}

Result<VmSetPath> ResolveVmSetPath(const VmSet& vmset, std::string_view path) {
  CAFS_ASSIGN_OR_RETURN(VmSetPath p, ResolveVmSetPath(vmset.mount_point, vmset.position, path));
  if (p.vmset_name != vmset.name) {
    return Status::NotFound(
        fmt::format("path '{}' is in VM set '{}', not '{}'", path, p.vmset_name, vmset.name));
  }
  return p;
}

bool IsCleanAbsolutePath(std::string_view p) {
  if (p.empty() || p.front() != '/') return false;
  if (p == "/") return true;
  if (p.back() == '/') return false;
  std::size_t pos = 1;
  while (pos <= p.size()) {
    std::size_t next = p.find('/', pos);
    if (next == std::string_view::npos) next = p.size();
    const std::string_view c = p.substr(pos, next - pos);
    if (c.empty() || c == "." || c == "..") return false;
    pos = next + 1;
  }
  return true;
}

}  // namespace cafs::policy
