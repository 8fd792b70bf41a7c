// FileHandles: persistent, unforgeable handles for entries of the backing store (NFS file
// handles; docs/nfs.md "File handles" has the byte layout). A handle wraps the kernel file
// handle of the backing-store entry (`name_to_handle_at`: the redirector for a file — one
// handle for all its hard links —, the directory, symlink or special file itself) plus a truncated
// HMAC-SHA-256 under a per-store secret, so it survives renames and restarts and a client cannot
// make one up for an inode outside the store. Resolving (`open_by_handle_at` on the store's root,
// then the path the kernel reports for it, or for a path longer than PATH_MAX a walk up through
// ".." from the entry's directory: docs/nfs.md "File handles") yields the entry's current
// gateway path, each backing name turned into the caller's (redirector.h CallerNameOfEntry).
//
// Needs CAP_DAC_READ_SEARCH (open_by_handle_at) and a backing filesystem that exports file
// handles: Open() fails with PermissionDenied (EPERM) or NotSupported otherwise, with a message
// naming the reason, so a front-end that needs handles refuses to start.
//
// The secret: 32 random bytes in `<backing root>/.cafs-handle-key` (0600), created on first
// Open() and reused afterwards (a regular file without "##": the Volume never lists or finds
// it). Losing it makes every handle handed out stale.
//
// Errors of Resolve: Stale (errno ESTALE) for a malformed, altered or forged handle, a removed
// entry, or an entry that is not below the backing root; other errno for I/O failures.
// Threading: const methods are safe from many threads at once. Owns two file descriptors.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "util/bytes.h"
#include "util/secure_buffer.h"
#include "util/status.h"

namespace cafs::core {

class FileHandles {
 public:
  static constexpr std::size_t kMaxSize = 64;  // NFS3_FHSIZE
  static constexpr std::uint8_t kVersion = 1;
  static constexpr std::size_t kMacSize = 16;
  static constexpr std::size_t kMaxKernelHandle = 40;
  static constexpr std::string_view kSecretName = ".cafs-handle-key";

  static Result<std::unique_ptr<FileHandles>> Open(const std::string& backing_root);
  ~FileHandles();
  FileHandles(const FileHandles&) = delete;
  FileHandles& operator=(const FileHandles&) = delete;

  // The handle of the entry that serves the caller-visible path `components` (already checked
  // by Volume::SplitPath; empty: the root; walked by PlainBackingName): the directory, symlink
  // or special file of that name, else the redirector `name##<pool>` (RedirectorBackingName,
  // tried for each of `pools` first, then any pool). NotFound if there is none.
  Result<Bytes> HandleOf(const std::vector<std::string>& components,
                         const std::vector<std::string>& pools = {}) const;

  // HandleOf of each of `names` in the directory `dir_components`, which is opened once (a
  // listing: no path walk per entry). One result per name, in order.
  std::vector<Result<Bytes>> HandlesIn(const std::vector<std::string>& dir_components,
                                       const std::vector<std::string>& names,
                                       const std::vector<std::string>& pools = {}) const;

  // The caller-visible gateway path ("/", "/vs/vm/disk.vmdk") of the entry `handle` names now.
  Result<std::string> Resolve(ByteView handle) const;

 private:
  // A new descriptor (the caller closes it) of the directory `components[0..n)`, walked by
  // PlainBackingName without following symlinks.
  Result<int> OpenDirFd(const std::vector<std::string>& components, std::size_t n) const;
  // HandleOf the entry `name` of the open directory `dir_fd`.
  Result<Bytes> HandleIn(int dir_fd, const std::string& name,
                         const std::vector<std::string>& pools) const;
  FileHandles(int root_fd, std::string root_path, SecureBuffer secret)
      : root_fd_(root_fd), root_path_(std::move(root_path)), secret_(std::move(secret)) {}
  Result<Bytes> Encode(int dirfd, const char* name) const;

  const int root_fd_;
  const std::string root_path_;  // canonical (realpath)
  const SecureBuffer secret_;
};

}  // namespace cafs::core
