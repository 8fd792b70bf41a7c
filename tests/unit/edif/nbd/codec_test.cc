#include "edif/nbd/codec.h"

#include <gtest/gtest.h>

#include "edif/nbd/block_device.h"
#include "edif/nbd/errors.h"
#include "edif/nbd/memory_block_device.h"

namespace cafs::edif::nbd {
namespace {

TEST(NbdCodecTest, GreetingRoundTripAndBytes) {
  auto g = EncodeServerGreeting(kFlagFixedNewstyle | kFlagNoZeroes);
  EXPECT_EQ(ToHex(g),
            "4e42444d41474943"
            "49484156454f5054"
            "0003");
  Result<std::uint16_t> flags = DecodeServerGreeting(g);
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(*flags, 3);
  g[0] ^= 1;
  EXPECT_FALSE(DecodeServerGreeting(g).ok());
  EXPECT_FALSE(DecodeServerGreeting(ByteView(g.data(), 17)).ok());
}

TEST(NbdCodecTest, RequestRoundTripIsBigEndian) {
  Request r{kCmdFlagFua, kCmdWrite, 0x0102030405060708ULL, 0x1000, 512};
  auto bytes = EncodeRequest(r);
  EXPECT_EQ(ToHex(bytes),
            "25609513"
            "0001"
            "0001"
            "0102030405060708"
            "0000000000001000"
            "00000200");
  Result<Request> back = DecodeRequest(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->flags, r.flags);
  EXPECT_EQ(back->type, r.type);
  EXPECT_EQ(back->cookie, r.cookie);
  EXPECT_EQ(back->offset, r.offset);
  EXPECT_EQ(back->length, r.length);
}

TEST(NbdCodecTest, RequestRejectsWrongMagicAndSize) {
  auto bytes = EncodeRequest(Request{});
  bytes[3] = 0;
  EXPECT_TRUE(DecodeRequest(bytes).status().IsInvalidArgument());
  Bytes longer(29, 0);
  EXPECT_FALSE(DecodeRequest(longer).ok());
  EXPECT_FALSE(DecodeRequest({}).ok());
}

TEST(NbdCodecTest, SimpleReplyRoundTrip) {
  auto bytes = EncodeSimpleReply({kNbdEnospc, 42});
  EXPECT_EQ(ToHex(bytes),
            "67446698"
            "0000001c"
            "000000000000002a");
  Result<SimpleReply> r = DecodeSimpleReply(bytes);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->error, kNbdEnospc);
  EXPECT_EQ(r->cookie, 42u);
  // A structured reply chunk (never negotiated) is rejected.
  Bytes structured(16, 0);
  StoreBe32(structured.data(), 0x668e33ef);
  EXPECT_FALSE(DecodeSimpleReply(structured).ok());
}

TEST(NbdCodecTest, OptionHeaderLimitsLength) {
  Bytes opt = EncodeOption(kOptGo, Bytes(10, 1));
  Result<OptionHeader> h = DecodeOptionHeader(ByteView(opt.data(), kOptionHeaderSize));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->option, kOptGo);
  EXPECT_EQ(h->length, 10u);
  StoreBe32(opt.data() + 12, kMaxOptionLength + 1);
  EXPECT_FALSE(DecodeOptionHeader(ByteView(opt.data(), kOptionHeaderSize)).ok());
  StoreBe32(opt.data() + 12, 0xffffffff);
  EXPECT_FALSE(DecodeOptionHeader(ByteView(opt.data(), kOptionHeaderSize)).ok());
  opt[0] = 'X';
  StoreBe32(opt.data() + 12, 0);
  EXPECT_FALSE(DecodeOptionHeader(ByteView(opt.data(), kOptionHeaderSize)).ok());
}

TEST(NbdCodecTest, InfoRequestRoundTripAndHostileLengths) {
  InfoRequest in{"disk0", {kInfoBlockSize, kInfoName}};
  Bytes payload = EncodeInfoRequest(in);
  EXPECT_EQ(ToHex(payload), "00000005" + ToHex(AsBytes("disk0")) +
                                "0002"
                                "0003"
                                "0001");
  Result<InfoRequest> out = DecodeInfoRequest(payload);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->name, "disk0");
  EXPECT_EQ(out->infos, in.infos);

  Bytes bad = payload;
  StoreBe32(bad.data(), 0xfffffff0);  // name length far beyond the payload
  EXPECT_FALSE(DecodeInfoRequest(bad).ok());
  bad = payload;
  StoreBe32(bad.data(), 6);  // name swallows the count
  EXPECT_FALSE(DecodeInfoRequest(bad).ok());
  bad = payload;
  bad.pop_back();  // odd tail
  EXPECT_FALSE(DecodeInfoRequest(bad).ok());
  bad = payload;
  StoreBe16(bad.data() + 9, 3);  // count says 3, two present
  EXPECT_FALSE(DecodeInfoRequest(bad).ok());
  EXPECT_FALSE(DecodeInfoRequest(Bytes(5, 0)).ok());
  Bytes long_name = EncodeInfoRequest({std::string(kMaxStringLength + 1, 'a'), {}});
  EXPECT_FALSE(DecodeInfoRequest(long_name).ok());
}

TEST(NbdCodecTest, OptionReplyAndInfoItems) {
  Bytes reply = EncodeOptionReply(kOptGo, kRepInfo, EncodeInfoExport(1 << 20, 0x2d));
  Result<OptionReplyHeader> h = DecodeOptionReplyHeader(ByteView(reply.data(), 20));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->type, kRepInfo);
  EXPECT_EQ(h->length, 12u);
  ExportInfo info;
  ASSERT_TRUE(ApplyInfoReply(ByteView(reply).subspan(20), &info).ok());
  EXPECT_EQ(info.size, 1u << 20);
  EXPECT_EQ(info.transmission_flags, 0x2d);
  ASSERT_TRUE(ApplyInfoReply(EncodeInfoBlockSize({512, 4096, 1 << 20}), &info).ok());
  EXPECT_EQ(info.block_sizes, (BlockSizeConstraints{512, 4096, 1 << 20}));
  ASSERT_TRUE(ApplyInfoReply(EncodeInfoString(kInfoDescription, "scratch"), &info).ok());
  EXPECT_EQ(info.description, "scratch");
  // Wrong lengths for known items; unknown items ignored.
  Bytes short_export = EncodeInfoExport(1, 1);
  short_export.pop_back();
  EXPECT_FALSE(ApplyInfoReply(short_export, &info).ok());
  EXPECT_FALSE(ApplyInfoReply(Bytes{0, 3, 1}, &info).ok());
  EXPECT_TRUE(ApplyInfoReply(Bytes{0x12, 0x34, 1, 2, 3}, &info).ok());
  EXPECT_FALSE(ApplyInfoReply(Bytes{0}, &info).ok());
}

TEST(NbdCodecTest, ServerListingRoundTrip) {
  Bytes d = EncodeServerReplyData("lun1", "a disk");
  Result<ExportListing> l = DecodeServerReplyData(d);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->name, "lun1");
  EXPECT_EQ(l->description, "a disk");
  StoreBe32(d.data(), 100);
  EXPECT_FALSE(DecodeServerReplyData(d).ok());
}

TEST(NbdCodecTest, ExportNameReplyPadding) {
  EXPECT_EQ(EncodeExportNameReply(4096, 1, true).size(), 10u);
  Bytes padded = EncodeExportNameReply(4096, 1, false);
  EXPECT_EQ(padded.size(), 134u);
  EXPECT_EQ(LoadBe64(padded.data()), 4096u);
}

ExportInfo TestExport(std::uint16_t extra_flags = 0) {
  ExportInfo e;
  e.size = 1 << 20;
  e.transmission_flags =
      static_cast<std::uint16_t>(kFlagHasFlags | kFlagSendFlush | kFlagSendFua | kFlagSendTrim |
                                 kFlagSendWriteZeroes | extra_flags);
  e.block_sizes = {1, 4096, 64 * 1024};
  return e;
}

TEST(NbdCodecTest, CheckRequestBounds) {
  const ExportInfo e = TestExport();
  auto check = [&](std::uint16_t type, std::uint64_t offset, std::uint32_t length,
                   std::uint16_t flags = 0) {
    return CheckRequest(Request{flags, type, 1, offset, length}, e);
  };
  EXPECT_EQ(check(kCmdRead, 0, 4096).action, RequestAction::kExecute);
  EXPECT_EQ(check(kCmdRead, (1 << 20) - 4096, 4096).action, RequestAction::kExecute);
  EXPECT_EQ(check(kCmdRead, (1 << 20) - 4095, 4096).error, kNbdEinval);
  EXPECT_EQ(check(kCmdRead, ~0ULL, 4096).error, kNbdEinval);  // offset + length overflows
  EXPECT_EQ(check(kCmdRead, 0, 64 * 1024 + 1).error, kNbdEoverflow);
  EXPECT_EQ(check(kCmdWrite, (1 << 20) - 1, 2).error, kNbdEnospc);
  EXPECT_EQ(check(kCmdWrite, (1 << 20) - 1, 2).payload_length, 2u);  // still read the data
  EXPECT_EQ(check(kCmdWrite, 0, 64 * 1024 + 1).action, RequestAction::kDisconnect);
  EXPECT_EQ(check(kCmdWrite, 0, 0xffffffff).action, RequestAction::kDisconnect);
  EXPECT_EQ(check(kCmdWrite, 0, 512, kCmdFlagFua).action, RequestAction::kExecute);
  EXPECT_EQ(check(kCmdWrite, 0, 512, 0x80).error, kNbdEinval);
  EXPECT_EQ(check(kCmdTrim, 1 << 20, 1).error, kNbdEinval);
  EXPECT_EQ(check(kCmdTrim, 0, 0xffffffff).error, kNbdEinval);
  EXPECT_EQ(check(kCmdWriteZeroes, 0, 1 << 20, kCmdFlagNoHole).action, RequestAction::kExecute);
  EXPECT_EQ(check(kCmdWriteZeroes, 1, 1 << 20).error, kNbdEnospc);
  EXPECT_EQ(check(kCmdFlush, 0, 0).action, RequestAction::kExecute);
  EXPECT_EQ(check(kCmdDisc, 0, 0).action, RequestAction::kExecute);
  EXPECT_EQ(check(kCmdCache, 0, 1).error, kNbdEinval);
  EXPECT_EQ(check(kCmdBlockStatus, 0, 1).error, kNbdEinval);
  EXPECT_EQ(check(0xffff, 0, 1).error, kNbdEinval);
}

TEST(NbdCodecTest, CheckRequestReadOnlyAndMissingFeatures) {
  ExportInfo ro = TestExport(kFlagReadOnly);
  EXPECT_EQ(CheckRequest(Request{0, kCmdWrite, 1, 0, 512}, ro).error, kNbdEperm);
  EXPECT_EQ(CheckRequest(Request{0, kCmdTrim, 1, 0, 512}, ro).error, kNbdEperm);
  EXPECT_EQ(CheckRequest(Request{0, kCmdRead, 1, 0, 512}, ro).action, RequestAction::kExecute);
  ExportInfo bare;
  bare.size = 4096;
  EXPECT_EQ(CheckRequest(Request{0, kCmdFlush, 1, 0, 0}, bare).error, kNbdEinval);
  EXPECT_EQ(CheckRequest(Request{0, kCmdTrim, 1, 0, 512}, bare).error, kNbdEinval);
  EXPECT_EQ(CheckRequest(Request{0, kCmdWriteZeroes, 1, 0, 512}, bare).error, kNbdEinval);
}

TEST(NbdCodecTest, DescribeExportNormalizesBlockSizes) {
  MemoryBlockDevice odd(1 << 20, DeviceFeatures{.read_only = true}, {3, 1000, 1u << 30});
  ExportInfo e = DescribeExport("x", "", odd);
  EXPECT_EQ(e.block_sizes.minimum, 2u);
  EXPECT_EQ(e.block_sizes.preferred, 512u);
  EXPECT_EQ(e.block_sizes.maximum, kMaxPayload);
  EXPECT_TRUE(e.read_only());
  EXPECT_FALSE(e.can_trim());
  EXPECT_FALSE(e.can_write_zeroes());
  MemoryBlockDevice small(1 << 20, {}, {512, 65536, 4096});
  e = DescribeExport("y", "", small);
  EXPECT_EQ(e.block_sizes.maximum, 4096u);
  EXPECT_EQ(e.block_sizes.preferred, 4096u);
  EXPECT_TRUE(e.can_trim());
}

TEST(NbdErrorsTest, StatusToNbdAndBack) {
  EXPECT_EQ(ToNbdError(Status::OK()), kNbdOk);
  EXPECT_EQ(ToNbdError(Status::PermissionDenied("x")), kNbdEperm);
  EXPECT_EQ(ToNbdError(Status::FromErrno(EROFS, "x")), kNbdEperm);
  EXPECT_EQ(ToNbdError(Status::InvalidArgument("x")), kNbdEinval);
  EXPECT_EQ(ToNbdError(Status::NoSpace("x")), kNbdEnospc);
  EXPECT_EQ(ToNbdError(Status::NotSupported("x")), kNbdEnotsup);
  EXPECT_EQ(ToNbdError(Status::Corruption("x")), kNbdEio);
  EXPECT_EQ(ToNbdError(Status::Timeout("x")), kNbdEio);
  EXPECT_EQ(ToNbdError(Status::FromErrno(ESHUTDOWN, "x")), kNbdEshutdown);
  EXPECT_TRUE(FromNbdError(kNbdOk, "r").ok());
  EXPECT_TRUE(FromNbdError(kNbdEperm, "r").IsPermissionDenied());
  EXPECT_TRUE(FromNbdError(kNbdEnospc, "r").IsNoSpace());
  EXPECT_EQ(FromNbdError(kNbdEoverflow, "r").errno_value(), EOVERFLOW);
  EXPECT_EQ(FromNbdError(12345, "r").errno_value(), EIO);
  for (std::uint32_t e : {kNbdEperm, kNbdEio, kNbdEnomem, kNbdEinval, kNbdEnospc, kNbdEoverflow,
                          kNbdEnotsup, kNbdEshutdown}) {
    EXPECT_EQ(ToNbdError(FromNbdError(e, "r")), e) << e;
  }
}

}  // namespace
}  // namespace cafs::edif::nbd
