#include "edif/mailbox/message.h"

#include <algorithm>

#include "edif/mailbox/crc32c.h"

namespace cafs::edif::mailbox {
namespace {

std::size_t AlignUp(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }

bool AllZero(ByteView v) {
  return std::all_of(v.begin(), v.end(), [](std::uint8_t b) { return b == 0; });
}

}  // namespace

Result<Bytes> EncodeMessage(const Header& header, ByteView payload) {
  if (payload.size() > kMaxPayload) {
    return MailboxStatus(MailboxError::kPayloadTooLong, "payload exceeds 65472 bytes");
  }
  if ((header.port_id & ~kPortIdMask) != 0) {
    return MailboxStatus(MailboxError::kBadHeader, "port id wider than 24 bits");
  }
  Bytes out(kHeaderSize + payload.size(), 0);
  std::uint8_t* p = out.data();
  StoreLe32(p + kOffMagic, kMagic);
  StoreLe16(p + kOffVersion, header.version);
  StoreLe16(p + kOffType, static_cast<std::uint16_t>(header.type));
  StoreLe16(p + kOffFlags, header.flags);
  StoreLe16(p + kOffHeaderSize, static_cast<std::uint16_t>(kHeaderSize));
  StoreLe32(p + kOffPayloadLen, static_cast<std::uint32_t>(payload.size()));
  StoreLe64(p + kOffEpoch, header.epoch);
  StoreLe64(p + kOffSeq, header.seq);
  StoreLe64(p + kOffAckSeq, header.ack_seq);
  StoreLe64(p + kOffReqId, header.req_id);
  StoreLe64(p + kOffWwpn, header.wwpn);
  StoreLe32(p + kOffPortId, header.port_id);
  std::copy(payload.begin(), payload.end(), out.begin() + kHeaderSize);
  StoreLe32(p + kOffCrc, Crc32c(out));
  return out;
}

Result<Bytes> EncodeDownstream(const Header& header, ByteView payload) {
  CAFS_ASSIGN_OR_RETURN(Bytes out, EncodeMessage(header, payload));
  out.resize(AlignUp(out.size(), kSectorSize), 0);
  return out;
}

Result<Message> DecodeMessage(ByteView data, std::size_t* consumed) {
  if (data.size() < kHeaderSize) {
    return MailboxStatus(MailboxError::kTruncated, "buffer shorter than a header");
  }
  const std::uint8_t* p = data.data();
  if (LoadLe32(p + kOffMagic) != kMagic) {
    return MailboxStatus(MailboxError::kBadMagic, "header magic is not CMBX");
  }
  const std::uint32_t payload_len = LoadLe32(p + kOffPayloadLen);
  if (payload_len > kMaxPayload) {
    return MailboxStatus(MailboxError::kPayloadTooLong, "payload_len exceeds 65472");
  }
  if (payload_len > data.size() - kHeaderSize) {
    return MailboxStatus(MailboxError::kTruncated, "payload_len runs past the buffer");
  }
  const ByteView whole = data.first(kHeaderSize + payload_len);
  std::uint8_t zero_crc[4] = {0, 0, 0, 0};
  std::uint32_t crc = Crc32c(whole.first(kOffCrc));
  crc = Crc32cExtend(crc, ByteView(zero_crc, 4));
  crc = Crc32cExtend(crc, whole.subspan(kHeaderSize));
  if (crc != LoadLe32(p + kOffCrc)) {
    return MailboxStatus(MailboxError::kBadCrc, "CRC32C mismatch (torn or corrupt sector)");
  }
  // The CRC holds: the fields below are what the sender wrote, so a failure is a sender bug
  // or a newer protocol, reported precisely.
  Message m;
  m.header.version = LoadLe16(p + kOffVersion);
  if (m.header.version != kVersion) {
    return MailboxStatus(MailboxError::kBadVersion, "unsupported mailbox version");
  }
  if (LoadLe16(p + kOffHeaderSize) != kHeaderSize) {
    return MailboxStatus(MailboxError::kBadHeader, "header_size is not 64");
  }
  m.header.flags = LoadLe16(p + kOffFlags);
  if ((m.header.flags & ~kKnownFlags) != 0) {
    return MailboxStatus(MailboxError::kBadFlags, "unknown header flag set");
  }
  m.header.port_id = LoadLe32(p + kOffPortId);
  if ((m.header.port_id & ~kPortIdMask) != 0) {
    return MailboxStatus(MailboxError::kBadHeader, "port id wider than 24 bits");
  }
  m.header.payload_len = payload_len;
  m.header.epoch = LoadLe64(p + kOffEpoch);
  m.header.seq = LoadLe64(p + kOffSeq);
  m.header.ack_seq = LoadLe64(p + kOffAckSeq);
  m.header.req_id = LoadLe64(p + kOffReqId);
  m.header.wwpn = LoadLe64(p + kOffWwpn);
  const std::uint16_t type = LoadLe16(p + kOffType);
  m.header.type = static_cast<MessageType>(type);
  if (!IsKnownMessageType(type)) {
    return MailboxStatus(MailboxError::kUnknownType,
                         "unknown message type " + std::to_string(type));
  }
  m.payload.assign(whole.begin() + kHeaderSize, whole.end());
  if (consumed != nullptr) *consumed = whole.size();
  return m;
}

Result<Message> DecodeDownstream(ByteView write_data) {
  if (write_data.empty() || write_data.size() % kSectorSize != 0) {
    return MailboxStatus(MailboxError::kMisaligned, "write is not whole sectors");
  }
  std::size_t used = 0;
  CAFS_ASSIGN_OR_RETURN(Message m, DecodeMessage(write_data, &used));
  if (!AllZero(write_data.subspan(used))) {
    return MailboxStatus(MailboxError::kBadPadding, "non-zero bytes after the message");
  }
  if (!IsDownstream(m.header.type)) {
    return MailboxStatus(MailboxError::kWrongDirection, "upstream type written downstream");
  }
  return m;
}

std::size_t PackedSize(std::size_t encoded_size) { return AlignUp(encoded_size, kUpstreamAlign); }

std::size_t PackUpstream(const std::vector<Bytes>& encoded, std::size_t read_len, Bytes& out) {
  out.assign(read_len, 0);
  std::size_t off = 0;
  std::size_t n = 0;
  for (const Bytes& m : encoded) {
    if (m.size() > read_len - off) break;
    std::copy(m.begin(), m.end(), out.begin() + static_cast<std::ptrdiff_t>(off));
    off = std::min(read_len, off + PackedSize(m.size()));
    ++n;
  }
  return n;
}

Result<std::vector<Message>> DecodeUpstream(ByteView read_data) {
  std::vector<Message> out;
  std::size_t off = 0;
  while (off < read_data.size()) {
    const ByteView rest = read_data.subspan(off);
    if (rest.size() < kHeaderSize || LoadLe32(rest.data() + kOffMagic) == 0) {
      if (!AllZero(rest)) {
        return MailboxStatus(MailboxError::kBadPadding, "non-zero bytes after the terminator");
      }
      break;
    }
    std::size_t used = 0;
    CAFS_ASSIGN_OR_RETURN(Message m, DecodeMessage(rest, &used));
    if (IsDownstream(m.header.type)) {
      return MailboxStatus(MailboxError::kWrongDirection, "downstream type in a read");
    }
    const std::size_t padded = std::min(rest.size(), PackedSize(used));
    if (!AllZero(rest.subspan(used, padded - used))) {
      return MailboxStatus(MailboxError::kBadPadding, "non-zero alignment padding");
    }
    out.push_back(std::move(m));
    off += padded;
  }
  return out;
}

}  // namespace cafs::edif::mailbox
