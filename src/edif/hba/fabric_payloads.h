// Payloads edifd carries inside link frames (docs/edif.md section 4): LOGIN, LOGIN_ACC,
// LOGIN_RJT, AUTH_ELS and the NBD-style DATA requests and replies.
//
// Decoders trust no length and return Corruption for anything malformed (a short buffer, a
// bad kind or command, trailing bytes, a WRITE whose data length disagrees with `length`).
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "util/bytes.h"
#include "util/result.h"

namespace cafs::edif::hba {

inline constexpr std::uint32_t kLoginVersion = 1;
inline constexpr std::size_t kMaxLuns = 1024;
// Largest READ/WRITE carried by one DATA frame (the LUN exports announce it as their maximum).
inline constexpr std::uint32_t kMaxDataLength = 1024 * 1024;

inline constexpr std::uint16_t kLunRequireSecure = 0x0001;
inline constexpr std::uint16_t kLunReadOnly = 0x0002;

struct LunInfo {
  std::uint32_t id = 0;
  std::uint16_t flags = 0;
  std::uint64_t size = 0;
  bool require_secure() const { return (flags & kLunRequireSecure) != 0; }
  bool read_only() const { return (flags & kLunReadOnly) != 0; }
  bool operator==(const LunInfo&) const = default;
};

Bytes EncodeLogin();
Status DecodeLogin(ByteView b);

Result<Bytes> EncodeLoginAcc(const std::vector<LunInfo>& luns);
Result<std::vector<LunInfo>> DecodeLoginAcc(ByteView b);

Bytes EncodeLoginRjt(std::uint32_t reason);
Result<std::uint32_t> DecodeLoginRjt(ByteView b);

struct AuthElsPayload {
  std::uint16_t els_flags = 0;  // mailbox kEls* flags
  Bytes frame;
  bool operator==(const AuthElsPayload&) const = default;
};
Bytes EncodeAuthEls(std::uint16_t els_flags, ByteView frame);
Result<AuthElsPayload> DecodeAuthEls(ByteView b);

// DATA commands (NBD numbers).
enum class DataCmd : std::uint8_t {
  kRead = 0,
  kWrite = 1,
  kFlush = 3,
  kTrim = 4,
  kWriteZeroes = 6
};
inline constexpr std::uint16_t kDataFua = 0x0001;
inline constexpr std::size_t kDataRequestHeader = 16;
inline constexpr std::size_t kDataReplyHeader = 8;

struct DataRequest {
  DataCmd cmd = DataCmd::kRead;
  std::uint16_t flags = 0;
  std::uint32_t length = 0;
  std::uint64_t offset = 0;
  Bytes data;  // WRITE only
};
// InvalidArgument if length > kMaxDataLength or a WRITE's data size is not `length`.
Result<Bytes> EncodeDataRequest(const DataRequest& r);
Result<DataRequest> DecodeDataRequest(ByteView b);

struct DataReply {
  DataCmd cmd = DataCmd::kRead;
  std::uint32_t err = 0;  // errno-style
  Bytes data;             // READ with err == 0
};
Bytes EncodeDataReply(const DataReply& r);
Result<DataReply> DecodeDataReply(ByteView b);

// Whether a DATA payload is a request (kind 1) or a reply (kind 2); Corruption otherwise.
Result<bool> IsDataRequest(ByteView b);

}  // namespace cafs::edif::hba
