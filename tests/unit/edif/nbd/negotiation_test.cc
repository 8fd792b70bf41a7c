#include "edif/nbd/negotiation.h"

#include <gtest/gtest.h>

#include "edif/nbd/codec.h"

namespace cafs::edif::nbd {
namespace {

struct ParsedReply {
  OptionReplyHeader header;
  Bytes data;
};

// Splits a stream of option replies.
std::vector<ParsedReply> Parse(const Bytes& stream) {
  std::vector<ParsedReply> out;
  std::size_t at = 0;
  while (at < stream.size()) {
    Result<OptionReplyHeader> h = DecodeOptionReplyHeader(ByteView(stream).subspan(at, 20));
    EXPECT_TRUE(h.ok());
    if (!h.ok()) break;
    out.push_back({*h, Bytes(stream.begin() + static_cast<std::ptrdiff_t>(at + 20),
                             stream.begin() + static_cast<std::ptrdiff_t>(at + 20 + h->length))});
    at += 20 + h->length;
  }
  return out;
}

ExportCatalog Catalog() {
  ExportCatalog c;
  ExportInfo a;
  a.name = "lun0";
  a.description = "first";
  a.size = 1 << 20;
  a.transmission_flags = kFlagHasFlags | kFlagSendFlush;
  a.block_sizes = {512, 4096, 1 << 20};
  ExportInfo b = a;
  b.name = "mailbox";
  b.description = "";
  c.exports = {a, b};
  c.default_export = "lun0";
  return c;
}

TEST(NbdNegotiationTest, GoSendsExportAndBlockSizeThenAck) {
  OptionOutcome o =
      HandleOption(kOptGo, EncodeInfoRequest({"lun0", {kInfoBlockSize}}), Catalog(), true);
  EXPECT_EQ(o.next, OptionOutcome::Next::kTransmission);
  EXPECT_EQ(o.export_name, "lun0");
  auto replies = Parse(o.reply);
  ASSERT_EQ(replies.size(), 3u);
  ExportInfo info;
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(replies[i].header.type, kRepInfo);
    ASSERT_TRUE(ApplyInfoReply(replies[i].data, &info).ok());
  }
  EXPECT_EQ(replies[2].header.type, kRepAck);
  EXPECT_EQ(info.size, 1u << 20);
  EXPECT_EQ(info.block_sizes.minimum, 512u);
}

TEST(NbdNegotiationTest, BlockSizeMinimumIsOneWhenNotRequested) {
  OptionOutcome o = HandleOption(kOptInfo, EncodeInfoRequest({"", {kInfoName, kInfoDescription}}),
                                 Catalog(), true);
  EXPECT_EQ(o.next, OptionOutcome::Next::kContinue);
  ExportInfo info;
  auto replies = Parse(o.reply);
  ASSERT_EQ(replies.size(), 5u);  // export, block size, name, description, ack
  for (std::size_t i = 0; i + 1 < replies.size(); ++i) {
    ASSERT_TRUE(ApplyInfoReply(replies[i].data, &info).ok());
  }
  EXPECT_EQ(info.block_sizes.minimum, 1u);
  EXPECT_EQ(info.name, "lun0");  // "" resolved to the default
  EXPECT_EQ(info.description, "first");
}

TEST(NbdNegotiationTest, UnknownExportAndMalformedPayload) {
  OptionOutcome o = HandleOption(kOptGo, EncodeInfoRequest({"nope", {}}), Catalog(), true);
  EXPECT_EQ(o.next, OptionOutcome::Next::kContinue);
  auto replies = Parse(o.reply);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].header.type, kRepErrUnknown);

  o = HandleOption(kOptGo, Bytes{0, 0, 0, 9, 'a'}, Catalog(), true);
  replies = Parse(o.reply);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].header.type, kRepErrInvalid);
  EXPECT_EQ(o.next, OptionOutcome::Next::kContinue);
}

TEST(NbdNegotiationTest, ListAbortExportNameAndUnsupported) {
  auto replies = Parse(HandleOption(kOptList, {}, Catalog(), true).reply);
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0].header.type, kRepServer);
  EXPECT_EQ(DecodeServerReplyData(replies[0].data)->name, "lun0");
  EXPECT_EQ(DecodeServerReplyData(replies[1].data)->name, "mailbox");
  EXPECT_EQ(replies[2].header.type, kRepAck);
  EXPECT_EQ(Parse(HandleOption(kOptList, Bytes{1}, Catalog(), true).reply)[0].header.type,
            kRepErrInvalid);

  OptionOutcome abort = HandleOption(kOptAbort, {}, Catalog(), true);
  EXPECT_EQ(abort.next, OptionOutcome::Next::kClose);
  EXPECT_EQ(Parse(abort.reply)[0].header.type, kRepAck);

  OptionOutcome en = HandleOption(kOptExportName, AsBytes("mailbox"), Catalog(), false);
  EXPECT_EQ(en.next, OptionOutcome::Next::kTransmission);
  EXPECT_EQ(en.reply.size(), 134u);
  OptionOutcome missing = HandleOption(kOptExportName, AsBytes("zzz"), Catalog(), false);
  EXPECT_EQ(missing.next, OptionOutcome::Next::kClose);
  EXPECT_TRUE(missing.reply.empty());

  for (std::uint32_t opt : {kOptStartTls, kOptStructuredReply, 10u, 11u, 0u, 0xffffffffu}) {
    OptionOutcome u = HandleOption(opt, {}, Catalog(), true);
    EXPECT_EQ(u.next, OptionOutcome::Next::kContinue);
    auto r = Parse(u.reply);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].header.type, kRepErrUnsup);
    EXPECT_EQ(r[0].header.option, opt);
  }
}

}  // namespace
}  // namespace cafs::edif::nbd
