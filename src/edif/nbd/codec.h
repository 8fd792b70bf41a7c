// NBD wire codec: pure functions that encode and decode every NBD message we send or accept
// (fixed newstyle handshake, options and option replies, requests, simple replies).
//
// Decoders never trust a length from the wire: each takes exactly the bytes of one fixed-size
// part (or one option payload already bounded by kMaxOptionLength) and fails with
// InvalidArgument (wrong magic, wrong size, inconsistent inner lengths, a string longer than
// kMaxStringLength). Byte layouts: docs/nbd.md.
//
// Threading: stateless; safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "edif/nbd/export_info.h"
#include "edif/nbd/protocol.h"
#include "util/bytes.h"
#include "util/result.h"

namespace cafs::edif::nbd {

// --- Handshake greeting: NBDMAGIC, IHAVEOPT, 16-bit handshake flags ---
std::array<std::uint8_t, kServerGreetingSize> EncodeServerGreeting(std::uint16_t handshake_flags);
// Returns the handshake flags. Errors: not 18 bytes, wrong magic (oldstyle servers included).
Result<std::uint16_t> DecodeServerGreeting(ByteView data);

// --- Options (client -> server): IHAVEOPT, option, length, payload ---
struct OptionHeader {
  std::uint32_t option = 0;
  std::uint32_t length = 0;  // payload bytes that follow; <= kMaxOptionLength once decoded
};
Bytes EncodeOption(std::uint32_t option, ByteView payload);
// Errors: not 16 bytes, magic is not IHAVEOPT, length > kMaxOptionLength.
Result<OptionHeader> DecodeOptionHeader(ByteView data);

// NBD_OPT_EXPORT_NAME payload: the name itself. Errors: longer than kMaxStringLength.
Result<std::string> DecodeExportNameOption(ByteView payload);

// NBD_OPT_INFO / NBD_OPT_GO payload: 32-bit name length, name, 16-bit count, count x 16-bit
// NBD_INFO_* requests.
struct InfoRequest {
  std::string name;
  std::vector<std::uint16_t> infos;
};
Bytes EncodeInfoRequest(const InfoRequest& request);
// Errors: short payload, name length beyond the payload or > kMaxStringLength, count not
// matching the bytes left.
Result<InfoRequest> DecodeInfoRequest(ByteView payload);

// --- Option replies (server -> client): magic, option, type, length, data ---
struct OptionReplyHeader {
  std::uint32_t option = 0;
  std::uint32_t type = 0;
  std::uint32_t length = 0;  // <= kMaxOptionLength once decoded
};
Bytes EncodeOptionReply(std::uint32_t option, std::uint32_t type, ByteView data);
// Errors: not 20 bytes, wrong magic, length > kMaxOptionLength.
Result<OptionReplyHeader> DecodeOptionReplyHeader(ByteView data);

// NBD_REP_SERVER data: 32-bit name length, name, description (rest).
struct ExportListing {
  std::string name;
  std::string description;
};
Bytes EncodeServerReplyData(std::string_view name, std::string_view description);
Result<ExportListing> DecodeServerReplyData(ByteView data);

// NBD_REP_INFO data: 16-bit NBD_INFO_* type, then per type:
//   kInfoExport: 64-bit size, 16-bit transmission flags
//   kInfoName / kInfoDescription: string (rest)
//   kInfoBlockSize: 32-bit minimum, preferred, maximum
Bytes EncodeInfoExport(std::uint64_t size, std::uint16_t transmission_flags);
Bytes EncodeInfoString(std::uint16_t info_type, std::string_view text);
Bytes EncodeInfoBlockSize(const BlockSizeConstraints& sizes);
// Applies one NBD_REP_INFO item to `info`. Unknown info types are ignored (spec: clients
// MUST ignore them). Errors: a known type with the wrong length, data shorter than 2 bytes.
Status ApplyInfoReply(ByteView data, ExportInfo* info);

// Reply to NBD_OPT_EXPORT_NAME: 64-bit size, 16-bit transmission flags, then 124 zero bytes
// unless both sides agreed on NO_ZEROES.
Bytes EncodeExportNameReply(std::uint64_t size, std::uint16_t transmission_flags, bool no_zeroes);

// --- Transmission ---
struct Request {
  std::uint16_t flags = 0;
  std::uint16_t type = 0;
  std::uint64_t cookie = 0;  // the spec's "handle"; echoed in the reply
  std::uint64_t offset = 0;
  std::uint32_t length = 0;
};
std::array<std::uint8_t, kRequestSize> EncodeRequest(const Request& request);
// Errors: not 28 bytes, wrong magic. Semantic checks are CheckRequest's job.
Result<Request> DecodeRequest(ByteView data);

struct SimpleReply {
  std::uint32_t error = 0;  // NBD error value (kNbdE*), 0 on success
  std::uint64_t cookie = 0;
};
std::array<std::uint8_t, kSimpleReplySize> EncodeSimpleReply(const SimpleReply& reply);
// Errors: not 16 bytes, wrong magic (including a structured reply, which we never negotiate).
Result<SimpleReply> DecodeSimpleReply(ByteView data);

// What a server must do with a decoded request on a given export.
enum class RequestAction {
  kExecute,     // valid: run it (for kCmdWrite, read payload_length bytes first)
  kReplyError,  // invalid: read payload_length bytes (to stay in sync), reply `error`
  kDisconnect,  // cannot stay in sync (a WRITE payload beyond our limit): hard disconnect
};
struct RequestCheck {
  RequestAction action = RequestAction::kExecute;
  std::uint32_t error = kNbdOk;
  std::uint32_t payload_length = 0;  // bytes of WRITE data that follow the request header
};
// The server's validation of one request; rules and errors in docs/nbd.md "Request checks".
RequestCheck CheckRequest(const Request& request, const ExportInfo& export_info);

}  // namespace cafs::edif::nbd
