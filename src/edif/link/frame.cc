#include "edif/link/frame.h"

#include <algorithm>

namespace cafs::edif::link {
namespace {

bool KnownType(std::uint8_t t) { return t >= 1 && t <= 6; }

}  // namespace

void StoreFrameHeader(const FrameHeader& h, std::uint8_t* p) {
  p[0] = kFrameVersion;
  p[1] = static_cast<std::uint8_t>(h.type);
  StoreLe16(p + 2, h.flags);
  StoreLe32(p + 4, h.src_port_id);
  StoreLe32(p + 8, h.dst_port_id);
  StoreLe32(p + 12, h.exchange_id);
  StoreLe64(p + 16, h.src_wwpn);
  StoreLe64(p + 24, h.dst_wwpn);
  StoreLe32(p + 32, h.payload_len);
  StoreLe32(p + 36, h.lun);
}

Result<FrameHeader> LoadFrameHeader(ByteView b) {
  if (b.size() < kFrameHeaderSize) return Status::Corruption("frame header truncated");
  const std::uint8_t* p = b.data();
  if (p[0] != kFrameVersion) return Status::Corruption("unsupported frame version");
  if (!KnownType(p[1])) return Status::Corruption("unknown frame type");
  FrameHeader h;
  h.type = static_cast<FrameType>(p[1]);
  h.flags = LoadLe16(p + 2);
  h.src_port_id = LoadLe32(p + 4);
  h.dst_port_id = LoadLe32(p + 8);
  h.exchange_id = LoadLe32(p + 12);
  h.src_wwpn = LoadLe64(p + 16);
  h.dst_wwpn = LoadLe64(p + 24);
  h.payload_len = LoadLe32(p + 32);
  h.lun = LoadLe32(p + 36);
  if ((h.flags & ~kFrameKnownFlags) != 0) return Status::Corruption("unknown frame flag");
  if (((h.src_port_id | h.dst_port_id) & ~kPortIdMask) != 0) {
    return Status::Corruption("frame port id wider than 24 bits");
  }
  if (h.payload_len > kMaxFramePayload) return Status::Corruption("frame payload too long");
  return h;
}

Result<Bytes> EncodeFrame(const FrameHeader& header, ByteView payload) {
  if (payload.size() > kMaxFramePayload) {
    return Status::InvalidArgument("frame payload too long");
  }
  if (((header.src_port_id | header.dst_port_id) & ~kPortIdMask) != 0) {
    return Status::InvalidArgument("frame port id wider than 24 bits");
  }
  FrameHeader h = header;
  h.payload_len = static_cast<std::uint32_t>(payload.size());
  Bytes out(kLengthPrefixSize + kFrameHeaderSize + payload.size());
  StoreLe32(out.data(), static_cast<std::uint32_t>(kFrameHeaderSize + payload.size()));
  StoreFrameHeader(h, out.data() + kLengthPrefixSize);
  std::copy(payload.begin(), payload.end(), out.begin() + kLengthPrefixSize + kFrameHeaderSize);
  return out;
}

Result<Frame> DecodeFrame(ByteView wire) {
  if (wire.size() < kLengthPrefixSize + kFrameHeaderSize) {
    return Status::Corruption("frame truncated");
  }
  const std::uint32_t len = LoadLe32(wire.data());
  if (len != wire.size() - kLengthPrefixSize) {
    return Status::Corruption("frame length prefix does not match");
  }
  CAFS_ASSIGN_OR_RETURN(FrameHeader h, LoadFrameHeader(wire.subspan(kLengthPrefixSize)));
  if (h.payload_len != len - kFrameHeaderSize) {
    return Status::Corruption("frame payload_len disagrees with the length prefix");
  }
  Frame f;
  f.header = h;
  const ByteView payload = wire.subspan(kLengthPrefixSize + kFrameHeaderSize);
  f.payload.assign(payload.begin(), payload.end());
  return f;
}

void FrameReader::Feed(ByteView bytes) {
  if (!error_.ok()) return;
  if (off_ > 0 && off_ == buf_.size()) {
    buf_.clear();
    off_ = 0;
  } else if (off_ > (1u << 20) && off_ * 2 > buf_.size()) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(off_));
    off_ = 0;
  }
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
}

Result<std::optional<Frame>> FrameReader::Next() {
  if (!error_.ok()) return error_;
  const ByteView avail = ByteView(buf_).subspan(off_);
  if (avail.size() < kLengthPrefixSize) return std::optional<Frame>();
  const std::uint32_t len = LoadLe32(avail.data());
  if (len < kFrameHeaderSize || len > kFrameHeaderSize + kMaxFramePayload) {
    error_ = Status::Corruption("frame length prefix out of range");
    return error_;
  }
  if (avail.size() >= kLengthPrefixSize + kFrameHeaderSize) {
    // Check the header as soon as it is here, before waiting for a large payload.
    Result<FrameHeader> h = LoadFrameHeader(avail.subspan(kLengthPrefixSize));
    if (!h.ok()) {
      error_ = h.status();
      return error_;
    }
  }
  if (avail.size() < kLengthPrefixSize + len) return std::optional<Frame>();
  Result<Frame> f = DecodeFrame(avail.first(kLengthPrefixSize + len));
  if (!f.ok()) {
    error_ = f.status();
    return error_;
  }
  off_ += kLengthPrefixSize + len;
  return std::optional<Frame>(std::move(f).value());
}

}  // namespace cafs::edif::link
