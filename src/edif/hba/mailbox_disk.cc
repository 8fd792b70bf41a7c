#include "edif/hba/mailbox_disk.h"

#include <string.h>

namespace cafs::edif::hba {

nbd::DeviceFeatures MailboxDisk::Features() const {
  nbd::DeviceFeatures f;
  f.trim = false;
  f.write_zeroes = false;
  return f;
}

nbd::BlockSizeConstraints MailboxDisk::BlockSizes() const {
  return {static_cast<std::uint32_t>(mailbox::kSectorSize), 4096, 1024 * 1024};
}

void MailboxDisk::Read(std::uint64_t offset, std::uint32_t length, ReadCallback done) {
  ReadFor(nullptr, offset, length, std::move(done));
}

void MailboxDisk::ReadFor(const nbd::RequesterOpen& requester, std::uint64_t offset,
                          std::uint32_t length, ReadCallback done) {
  auto shared = std::make_shared<ReadCallback>(std::move(done));
  mailbox::MailboxEndpoint::StillWanted wanted;
  if (requester != nullptr) wanted = [requester] { return requester->load(); };
  Status s = endpoint_.Read(
      offset, length, [shared](Bytes data) { (*shared)(Status::OK(), std::move(data)); },
      std::move(wanted));
  if (!s.ok()) (*shared)(s, {});
}

void MailboxDisk::Write(std::uint64_t offset, Bytes data, bool /*fua*/, DoneCallback done) {
  Status s = endpoint_.Write(offset, data);
  if (!data.empty()) explicit_bzero(data.data(), data.size());
  done(s);
}

void MailboxDisk::Flush(DoneCallback done) { done(Status::OK()); }

void MailboxDisk::Trim(std::uint64_t, std::uint32_t, DoneCallback done) {
  done(Status::NotSupported("the mailbox disk does not trim"));
}

}  // namespace cafs::edif::hba
