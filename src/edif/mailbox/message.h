// Mailbox messages: the 64-byte header, one message per downstream WRITE, several packed
// messages per upstream READ. Decoders trust no length and fail with a MailboxStatus whose
// ErrorOf() names the exact reason (see format.h).
//
// Layouts: docs/mailbox-protocol.md. Threading: pure functions, safe from any thread.
#pragma once

#include <cstdint>
#include <vector>

#include "edif/mailbox/format.h"
#include "util/bytes.h"

namespace cafs::edif::mailbox {

struct Header {
  std::uint16_t version = kVersion;
  MessageType type = MessageType::kNop;
  std::uint16_t flags = 0;
  std::uint32_t payload_len = 0;  // set by the encoders
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
  std::uint64_t ack_seq = 0;
  std::uint64_t req_id = 0;
  std::uint64_t wwpn = 0;
  std::uint32_t port_id = 0;  // 24 bits used
  bool operator==(const Header&) const = default;
};

struct Message {
  Header header;
  Bytes payload;
};

// Header + payload, unpadded, with payload_len and CRC filled in.
// InvalidArgument (kPayloadTooLong / kBadHeader) if payload > kMaxPayload or port_id > 24 bits.
Result<Bytes> EncodeMessage(const Header& header, ByteView payload);

// A downstream WRITE buffer: the message zero-padded to whole sectors.
Result<Bytes> EncodeDownstream(const Header& header, ByteView payload);

// Decodes the message at the start of `data` (exactly as long as its payload says; `data`
// may be longer). Checks magic, version, header size, flags, port id, payload_len, CRC, and
// that the type is known. On success *consumed (if given) is kHeaderSize + payload_len.
Result<Message> DecodeMessage(ByteView data, std::size_t* consumed = nullptr);

// Decodes one downstream WRITE buffer (whole sectors): exactly one message, every byte after
// it zero (kBadPadding otherwise), and a downstream type (kWrongDirection otherwise).
Result<Message> DecodeDownstream(ByteView write_data);

// Packs upstream messages (already encoded with EncodeMessage) into a READ buffer of
// `read_len` bytes: each message starts at a multiple of kUpstreamAlign, the rest is zero.
// Returns how many of `encoded` fit (in order); fills `out` (resized to read_len).
std::size_t PackUpstream(const std::vector<Bytes>& encoded, std::size_t read_len, Bytes& out);

// Size one encoded message takes in a packed READ buffer (aligned).
std::size_t PackedSize(std::size_t encoded_size);

// Decodes a READ buffer: messages back-to-back at kUpstreamAlign boundaries, ended by a zero
// magic (or the end of the buffer). Everything after the terminator must be zero. Every
// message must have an upstream type (kWrongDirection otherwise). An all-zero buffer (the
// reserved region) decodes to no messages.
Result<std::vector<Message>> DecodeUpstream(ByteView read_data);

}  // namespace cafs::edif::mailbox
