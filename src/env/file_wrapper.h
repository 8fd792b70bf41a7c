// FileWrapper: a File decorator that forwards every call to the File it owns; a subclass
// overrides only what it changes (cafs/dirty_map.h, cafs/change_log.h), as EnvWrapper does
// for Env. Threading: as the inner File. Ownership: owns `inner_` (non-null until a subclass
// moves it out).
#pragma once

#include <memory>

#include "env/file.h"

namespace cafs::env {

class FileWrapper : public File {
 public:
  explicit FileWrapper(std::unique_ptr<File> inner) : inner_(std::move(inner)) {}
  Result<std::size_t> ReadAt(std::uint64_t offset, MutableByteView out) override {
    return inner_->ReadAt(offset, out);
  }
  Result<std::size_t> ReadAtNoWait(std::uint64_t offset, MutableByteView out) override {
    return inner_->ReadAtNoWait(offset, out);
  }
  Status WriteAt(std::uint64_t offset, ByteView data) override {
    return inner_->WriteAt(offset, data);
  }
  Status Truncate(std::uint64_t size) override { return inner_->Truncate(size); }
  Status Sync() override { return inner_->Sync(); }
  Result<std::uint64_t> Size() override { return inner_->Size(); }
  Status PunchHole(std::uint64_t offset, std::uint64_t length) override {
    return inner_->PunchHole(offset, length);
  }
  Status Allocate(std::uint64_t offset, std::uint64_t length) override {
    return inner_->Allocate(offset, length);
  }
  Result<EntryStat> Stat() override { return inner_->Stat(); }
  Status SetTimes(const struct timespec times[2]) override { return inner_->SetTimes(times); }
  Status Chmod(std::uint32_t mode) override { return inner_->Chmod(mode); }
  Status Chown(std::uint32_t uid, std::uint32_t gid) override { return inner_->Chown(uid, gid); }
  const std::string& path() const override { return inner_->path(); }

 protected:
  std::unique_ptr<File> inner_;
};

}  // namespace cafs::env
