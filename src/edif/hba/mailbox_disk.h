// MailboxDisk: the emulated mailbox disk of one HBA port as an NBD BlockDevice: READs and
// WRITEs go to a MailboxEndpoint (docs/mailbox-protocol.md), which parks READs at LBA >= 64
// until the driver has something to say. WRITE buffers are wiped after decoding (they may
// carry SA keys). 8 MiB, 512-byte sectors, no TRIM / WRITE_ZEROES.
//
// Threading: as BlockDevice. Lifetime: `endpoint` must outlive the device and every request.
#pragma once

#include "edif/mailbox/endpoint.h"
#include "edif/nbd/block_device.h"

namespace cafs::edif::hba {

inline constexpr std::uint64_t kMailboxDiskSize = 8 * 1024 * 1024;

class MailboxDisk final : public nbd::BlockDevice {
 public:
  explicit MailboxDisk(mailbox::MailboxEndpoint& endpoint) : endpoint_(endpoint) {}

  std::uint64_t Size() const override { return kMailboxDiskSize; }
  nbd::DeviceFeatures Features() const override;
  nbd::BlockSizeConstraints BlockSizes() const override;

  void Read(std::uint64_t offset, std::uint32_t length, ReadCallback done) override;
  // A parked READ of a connection that closed is dropped, not handed a message.
  void ReadFor(const nbd::RequesterOpen& requester, std::uint64_t offset, std::uint32_t length,
               ReadCallback done) override;
  void Write(std::uint64_t offset, Bytes data, bool fua, DoneCallback done) override;
  void Flush(DoneCallback done) override;
  void Trim(std::uint64_t offset, std::uint32_t length, DoneCallback done) override;

 private:
  mailbox::MailboxEndpoint& endpoint_;
};

}  // namespace cafs::edif::hba
