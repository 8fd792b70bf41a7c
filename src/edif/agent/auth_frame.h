// What two agents put inside mailbox AUTH_ELS frames (ElsFrame.frame), and the messages they
// exchange inside the TLS tunnel. Byte tables: docs/edif-agent.md. Little-endian.
//
// AuthFrame (20 + data_len bytes):
//   0  u32 magic "CAUT" (0x54554143)   4 u8 version 1   5 u8 kind (1 TLS records, 2 ABORT)
//   6  u16 reserved (0)                8 u64 session_epoch   16 u32 data_len   20 data
// kind TLS: data = TLS records. kind ABORT: data = UTF-8 reason (<= 256 bytes).
// session_epoch: chosen by the initiator's agent (its mailbox epoch); the target's agent adopts
// it from the exchange's first frame; it goes into the key exporter context.
//
// TunnelMessage (12 bytes, inside TLS): 0 u8 type (1 SPI)  1 u8[3] reserved
//   4 u32 generation (1 = keys of the handshake, +1 per rekey)  8 u32 spi (sender's RX SPI).
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "util/bytes.h"
#include "util/result.h"

namespace cafs::edif::agent {

inline constexpr std::uint32_t kAuthFrameMagic = 0x54554143u;  // "CAUT"
inline constexpr std::uint8_t kAuthFrameVersion = 1;
inline constexpr std::size_t kAuthFrameHeader = 20;
inline constexpr std::size_t kMaxAbortReason = 256;

enum class AuthFrameKind : std::uint8_t { kTls = 1, kAbort = 2 };

struct AuthFrame {
  AuthFrameKind kind = AuthFrameKind::kTls;
  std::uint64_t session_epoch = 0;
  Bytes data;
};

Bytes EncodeAuthFrame(const AuthFrame& frame);
// Corruption on a bad magic, version, kind, reserved bits or length.
Result<AuthFrame> DecodeAuthFrame(ByteView bytes);

inline constexpr std::size_t kTunnelMessageSize = 12;
enum class TunnelType : std::uint8_t { kSpi = 1 };
struct TunnelMessage {
  TunnelType type = TunnelType::kSpi;
  std::uint32_t generation = 0;
  std::uint32_t spi = 0;
};
Bytes EncodeTunnelMessage(const TunnelMessage& m);
Result<TunnelMessage> DecodeTunnelMessage(ByteView bytes);

}  // namespace cafs::edif::agent
