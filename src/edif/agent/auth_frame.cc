#include "edif/agent/auth_frame.h"

#include <cstring>

namespace cafs::edif::agent {

Bytes EncodeAuthFrame(const AuthFrame& frame) {
  Bytes out(kAuthFrameHeader + frame.data.size(), 0);
  StoreLe32(out.data(), kAuthFrameMagic);
  out[4] = kAuthFrameVersion;
  out[5] = static_cast<std::uint8_t>(frame.kind);
  StoreLe64(out.data() + 8, frame.session_epoch);
  StoreLe32(out.data() + 16, static_cast<std::uint32_t>(frame.data.size()));
  if (!frame.data.empty())
    std::memcpy(out.data() + kAuthFrameHeader, frame.data.data(), frame.data.size());
  return out;
}

Result<AuthFrame> DecodeAuthFrame(ByteView b) {
  if (b.size() < kAuthFrameHeader) return Status::Corruption("auth frame: truncated header");
  if (LoadLe32(b.data()) != kAuthFrameMagic) return Status::Corruption("auth frame: bad magic");
  if (b[4] != kAuthFrameVersion) return Status::Corruption("auth frame: unsupported version");
  if (b[5] != 1 && b[5] != 2) return Status::Corruption("auth frame: unknown kind");
  if (LoadLe16(b.data() + 6) != 0) return Status::Corruption("auth frame: reserved bits set");
  const std::uint32_t len = LoadLe32(b.data() + 16);
  if (len != b.size() - kAuthFrameHeader) return Status::Corruption("auth frame: length mismatch");
  AuthFrame f;
  f.kind = static_cast<AuthFrameKind>(b[5]);
  if (f.kind == AuthFrameKind::kAbort && len > kMaxAbortReason) {
    return Status::Corruption("auth frame: abort reason too long");
  }
  f.session_epoch = LoadLe64(b.data() + 8);
  f.data.assign(b.begin() + kAuthFrameHeader, b.end());
  return f;
}

Bytes EncodeTunnelMessage(const TunnelMessage& m) {
  Bytes out(kTunnelMessageSize, 0);
  out[0] = static_cast<std::uint8_t>(m.type);
  StoreLe32(out.data() + 4, m.generation);
  StoreLe32(out.data() + 8, m.spi);
  return out;
}

Result<TunnelMessage> DecodeTunnelMessage(ByteView b) {
  if (b.size() != kTunnelMessageSize) return Status::Corruption("tunnel message: bad length");
  if (b[0] != static_cast<std::uint8_t>(TunnelType::kSpi)) {
    return Status::Corruption("tunnel message: unknown type");
  }
  if (b[1] != 0 || b[2] != 0 || b[3] != 0) return Status::Corruption("tunnel message: reserved");
  TunnelMessage m;
  m.generation = LoadLe32(b.data() + 4);
  m.spi = LoadLe32(b.data() + 8);
  if (m.generation == 0 || m.spi == 0) return Status::Corruption("tunnel message: zero field");
  return m;
}

}  // namespace cafs::edif::agent
