// Fabric frames: what two HBA ports exchange over a TCP byte stream.
//
// Wire: u32 LE length (header + payload) || 40-byte header || payload. Header layout and the
// secured DATA payload are in docs/edif-link.md. Decoders trust no length: a frame longer
// than kMaxFrame, a length that disagrees with payload_len, an unknown type or flag is
// Corruption, and a stream that produced one is not resynchronised (close the connection).
//
// Threading: free functions are pure; a FrameReader is not synchronized (one per connection).
#pragma once

#include <cstdint>
#include <optional>

#include "util/bytes.h"

namespace cafs::edif::link {

inline constexpr std::size_t kLengthPrefixSize = 4;
inline constexpr std::size_t kFrameHeaderSize = 40;
inline constexpr std::size_t kMaxFramePayload = 2 * 1024 * 1024 + 4096;  // 2 MiB data + room
inline constexpr std::uint8_t kFrameVersion = 1;
inline constexpr std::uint32_t kPortIdMask = 0x00FFFFFFu;

enum class FrameType : std::uint8_t {
  kLogin = 1,     // port login request (payload: opaque service parameters)
  kLoginAcc = 2,  // login accepted
  kLoginRjt = 3,  // login rejected
  kLogo = 4,      // logout
  kAuthEls = 5,   // authentication frame, relayed to / from the agents
  kData = 6,      // NBD-style request or reply for a LUN
};

// Header flags.
inline constexpr std::uint16_t kFrameSecured = 0x0001;  // payload is an ESP-like envelope
inline constexpr std::uint16_t kFrameKnownFlags = kFrameSecured;

struct FrameHeader {
  FrameType type = FrameType::kData;
  std::uint16_t flags = 0;
  std::uint32_t src_port_id = 0;  // 24 bits
  std::uint32_t dst_port_id = 0;  // 24 bits
  std::uint32_t exchange_id = 0;
  std::uint64_t src_wwpn = 0;
  std::uint64_t dst_wwpn = 0;
  std::uint32_t payload_len = 0;  // set by the encoders
  std::uint32_t lun = 0;
  bool operator==(const FrameHeader&) const = default;
};

struct Frame {
  FrameHeader header;
  Bytes payload;
};

// Writes the 40 header bytes (payload_len as given) to `out`.
void StoreFrameHeader(const FrameHeader& h, std::uint8_t* out);
// Parses and checks 40 header bytes (version, type, flags, port ids, payload_len limit).
Result<FrameHeader> LoadFrameHeader(ByteView header_bytes);

// Length prefix + header (payload_len = payload.size()) + payload.
// InvalidArgument if the payload is over kMaxFramePayload or a port id is over 24 bits.
Result<Bytes> EncodeFrame(const FrameHeader& header, ByteView payload);

// Decodes exactly one whole wire frame (length prefix included); `wire` must be exactly it.
Result<Frame> DecodeFrame(ByteView wire);

// Reassembles frames from a byte stream.
class FrameReader {
 public:
  // Appends received bytes.
  void Feed(ByteView bytes);
  // The next whole frame, nullopt if more bytes are needed, or Corruption (sticky: every
  // later call fails too).
  Result<std::optional<Frame>> Next();
  std::size_t buffered() const { return buf_.size() - off_; }

 private:
  Bytes buf_;
  std::size_t off_ = 0;
  Status error_;
};

}  // namespace cafs::edif::link
