#include "edif/hba/fabric_payloads.h"

#include <string>

namespace cafs::edif::hba {
namespace {

constexpr std::uint8_t kKindRequest = 1;
constexpr std::uint8_t kKindReply = 2;
constexpr std::size_t kLunEntrySize = 16;

Status Bad(const std::string& what) { return Status::Corruption("fabric payload: " + what); }

bool KnownCmd(std::uint8_t c) { return c == 0 || c == 1 || c == 3 || c == 4 || c == 6; }

}  // namespace

Bytes EncodeLogin() {
  Bytes b(8, 0);
  StoreLe32(b.data(), kLoginVersion);
  return b;
}

Status DecodeLogin(ByteView b) {
  if (b.size() != 8) return Bad("LOGIN is not 8 bytes");
  if (LoadLe32(b.data()) != kLoginVersion) return Bad("LOGIN version unsupported");
  if (LoadLe32(b.data() + 4) != 0) return Bad("LOGIN reserved bytes not zero");
  return Status::OK();
}

Result<Bytes> EncodeLoginAcc(const std::vector<LunInfo>& luns) {
  if (luns.size() > kMaxLuns) return Status::InvalidArgument("too many LUNs");
  Bytes b(8 + kLunEntrySize * luns.size(), 0);
  StoreLe32(b.data(), kLoginVersion);
  StoreLe32(b.data() + 4, static_cast<std::uint32_t>(luns.size()));
  std::uint8_t* p = b.data() + 8;
  for (const LunInfo& l : luns) {
    StoreLe32(p, l.id);
    StoreLe16(p + 4, l.flags);
    StoreLe64(p + 8, l.size);
    p += kLunEntrySize;
  }
  return b;
}

Result<std::vector<LunInfo>> DecodeLoginAcc(ByteView b) {
  if (b.size() < 8) return Bad("LOGIN_ACC shorter than 8 bytes");
  if (LoadLe32(b.data()) != kLoginVersion) return Bad("LOGIN_ACC version unsupported");
  const std::uint32_t count = LoadLe32(b.data() + 4);
  if (count > kMaxLuns) return Bad("LOGIN_ACC lun_count over 1024");
  if (b.size() != 8 + kLunEntrySize * count) return Bad("LOGIN_ACC length disagrees");
  std::vector<LunInfo> luns;
  const std::uint8_t* p = b.data() + 8;
  for (std::uint32_t i = 0; i < count; ++i, p += kLunEntrySize) {
    LunInfo l;
    l.id = LoadLe32(p);
    l.flags = LoadLe16(p + 4);
    if ((l.flags & ~(kLunRequireSecure | kLunReadOnly)) != 0 || LoadLe16(p + 6) != 0) {
      return Bad("LOGIN_ACC unknown LUN flags");
    }
    l.size = LoadLe64(p + 8);
    luns.push_back(l);
  }
  return luns;
}

Bytes EncodeLoginRjt(std::uint32_t reason) {
  Bytes b(4, 0);
  StoreLe32(b.data(), reason);
  return b;
}

Result<std::uint32_t> DecodeLoginRjt(ByteView b) {
  if (b.size() != 4) return Bad("LOGIN_RJT is not 4 bytes");
  return LoadLe32(b.data());
}

Bytes EncodeAuthEls(std::uint16_t els_flags, ByteView frame) {
  Bytes b(4 + frame.size(), 0);
  StoreLe16(b.data(), els_flags);
  std::copy(frame.begin(), frame.end(), b.begin() + 4);
  return b;
}

Result<AuthElsPayload> DecodeAuthEls(ByteView b) {
  if (b.size() < 4) return Bad("AUTH_ELS shorter than 4 bytes");
  if (LoadLe16(b.data() + 2) != 0) return Bad("AUTH_ELS reserved bytes not zero");
  AuthElsPayload p;
  p.els_flags = LoadLe16(b.data());
  p.frame.assign(b.begin() + 4, b.end());
  return p;
}

Result<Bytes> EncodeDataRequest(const DataRequest& r) {
  if (r.length > kMaxDataLength) return Status::InvalidArgument("DATA request over 1 MiB");
  const bool write = r.cmd == DataCmd::kWrite;
  if (write ? r.data.size() != r.length : !r.data.empty()) {
    return Status::InvalidArgument("DATA request data size disagrees with its length");
  }
  Bytes b(kDataRequestHeader + r.data.size(), 0);
  b[0] = kKindRequest;
  b[1] = static_cast<std::uint8_t>(r.cmd);
  StoreLe16(b.data() + 2, r.flags);
  StoreLe32(b.data() + 4, r.length);
  StoreLe64(b.data() + 8, r.offset);
  std::copy(r.data.begin(), r.data.end(), b.begin() + kDataRequestHeader);
  return b;
}

Result<DataRequest> DecodeDataRequest(ByteView b) {
  if (b.size() < kDataRequestHeader || b[0] != kKindRequest) return Bad("not a DATA request");
  if (!KnownCmd(b[1])) return Bad("DATA request: unknown command");
  DataRequest r;
  r.cmd = static_cast<DataCmd>(b[1]);
  r.flags = LoadLe16(b.data() + 2);
  if ((r.flags & ~kDataFua) != 0) return Bad("DATA request: unknown flags");
  r.length = LoadLe32(b.data() + 4);
  r.offset = LoadLe64(b.data() + 8);
  if (r.length > kMaxDataLength) return Bad("DATA request over 1 MiB");
  const std::size_t data_len = b.size() - kDataRequestHeader;
  if (r.cmd == DataCmd::kWrite ? data_len != r.length : data_len != 0) {
    return Bad("DATA request: data length disagrees");
  }
  r.data.assign(b.begin() + kDataRequestHeader, b.end());
  return r;
}

Bytes EncodeDataReply(const DataReply& r) {
  Bytes b(kDataReplyHeader + r.data.size(), 0);
  b[0] = kKindReply;
  b[1] = static_cast<std::uint8_t>(r.cmd);
  StoreLe32(b.data() + 4, r.err);
  std::copy(r.data.begin(), r.data.end(), b.begin() + kDataReplyHeader);
  return b;
}

Result<DataReply> DecodeDataReply(ByteView b) {
  if (b.size() < kDataReplyHeader || b[0] != kKindReply) return Bad("not a DATA reply");
  if (!KnownCmd(b[1]) || LoadLe16(b.data() + 2) != 0) return Bad("DATA reply: bad header");
  DataReply r;
  r.cmd = static_cast<DataCmd>(b[1]);
  r.err = LoadLe32(b.data() + 4);
  r.data.assign(b.begin() + kDataReplyHeader, b.end());
  if (r.err != 0 && !r.data.empty()) return Bad("DATA reply: data with an error");
  return r;
}

Result<bool> IsDataRequest(ByteView b) {
  if (b.empty()) return Bad("empty DATA payload");
  if (b[0] == kKindRequest) return true;
  if (b[0] == kKindReply) return false;
  return Bad("DATA payload: unknown kind");
}

}  // namespace cafs::edif::hba
