// VM set path resolution: from a path under a VM set's mount point to (VM set, VM, file).
//
// With mount point /nfs and position 1 (the default), /nfs/my_vmset/windows_xp/osdisk1.vmdk is
// VM set "my_vmset", VM "windows_xp", path within the VM set "windows_xp/osdisk1.vmdk" (the text
// vglobs are matched against). Position p puts the VM set name at the p-th component below the
// mount point; components before it (e.g. a tenant directory) are skipped:
// mnt /exports, position 2, /exports/tenant-a/vmset-A/VM-1/disk.vmdk -> "vmset-A", "VM-1".
//
// Empty and "." components are ignored; ".." anywhere is rejected (InvalidArgument), so a path
// can never escape its VM set.
#pragma once

#include <string>
#include <string_view>

#include "util/result.h"

namespace cafs::policy {

struct VmSet;

struct VmSetPath {
  std::string vmset_name;
  std::string vm_name;            // empty for the VM set directory itself
  std::string path_within_vmset;  // "windows_xp/osdisk1.vmdk"; empty for the VM set directory

  bool operator==(const VmSetPath&) const = default;
};

// Errors: InvalidArgument when `path` is not absolute or contains "..", or position is 0;
// NotFound when `path` is not below `mount_point` or names no VM set (too few components).
Result<VmSetPath> ResolveVmSetPath(std::string_view mount_point, unsigned position,
                                   std::string_view path);
// Uses vmset.mount_point and vmset.position and also checks the VM set name equals vmset.name
// (NotFound otherwise).
Result<VmSetPath> ResolveVmSetPath(const VmSet& vmset, std::string_view path);

// Normalizes a path within a VM set: strips leading '/', empty and "." components; rejects
// ".." (InvalidArgument). "windows_xp//./osdisk1.vmdk" -> "windows_xp/osdisk1.vmdk".
Result<std::string> NormalizePathWithinVmSet(std::string_view path);

// Whether `p` is an absolute path with no empty, "." or ".." components and no trailing '/'
// ("/" alone is): the rule for <mnt> and the paths of <audit-dest>.
bool IsCleanAbsolutePath(std::string_view p);

}  // namespace cafs::policy
