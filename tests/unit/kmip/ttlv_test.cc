// TTLV codec tests. The byte examples are the KMIP specification's own:
//  - "9.1.2 Examples" of the Key Management Interoperability Protocol Specification
//    Version 1.1 (OASIS, http://docs.oasis-open.org/kmip/spec/v1.1/os/kmip-spec-v1.1-os.html),
//    one per item type, tag 0x420020 (Application Specific Information is not what they mean:
//    the spec uses it as an arbitrary tag);
//  - the DiscoverVersions request of test case 3.1.1 of the KMIP Test Cases Version 1.1
//    (http://docs.oasis-open.org/kmip/testcases/v1.1/cn01/kmip-testcases-v1.1-cn01.html).
#include "kmip/ttlv.h"

#include <gtest/gtest.h>

#include "kmip/message.h"

namespace cafs::kmip {
namespace {

Bytes Hex(std::string_view hex) {
  std::string clean;
  for (char c : hex) {
    if (c != ' ' && c != '|' && c != '\n') clean += c;
  }
  auto b = FromHex(clean);
  EXPECT_TRUE(b.ok()) << hex;
  return b.ok() ? *b : Bytes{};
}

constexpr Tag kT = static_cast<Tag>(0x420020);

struct Example {
  const char* name;
  Item item;
  const char* hex;
};

TEST(TtlvTest, SpecificationExamplesEncodeAndDecode) {
  const std::vector<Example> examples = {
      {"Integer 8", Item::Integer(kT, 8), "420020 02 00000004 00000008 00000000"},
      {"Long Integer", Item::LongInteger(kT, 123456789000000000),
       "420020 03 00000008 01B69B4BA5749200"},
      {"Big Integer",
       Item::BigInteger(kT, std::string("\x00\x00\x00\x00\x03\xFD\x35\xEB\x6B\xC2\xDF\x46\x18"
                                        "\x08\x00\x00",
                                        16)),
       "420020 04 00000010 0000000003FD35EB 6BC2DF4618080000"},
      {"Enumeration 255", Item::Enumeration(kT, 255), "420020 05 00000004 000000FF 00000000"},
      {"Boolean true", Item::Boolean(kT, true), "420020 06 00000008 0000000000000001"},
      {"Text String", Item::TextString(kT, "Hello World"),
       "420020 07 0000000B 48656C6C6F20576F 726C640000000000"},
      {"Byte String", Item::ByteString(kT, std::string("\x01\x02\x03", 3)),
       "420020 08 00000003 0102030000000000"},
      // Friday, March 14, 2008, 11:56:40 GMT.
      {"Date-Time", Item::DateTime(kT, 1205495800), "420020 09 00000008 0000000047DA67F8"},
      {"Interval 10 days", Item::Interval(kT, 864000), "420020 0A 00000004 000D2F00 00000000"},
      {"Structure",
       Item::Structure(kT, {Item::Enumeration(static_cast<Tag>(0x420004), 254),
                            Item::Integer(static_cast<Tag>(0x420005), 255)}),
       "420020 01 00000020 420004 05 00000004 000000FE 00000000"
       "420005 02 00000004 000000FF 00000000"},
  };
  for (const auto& ex : examples) {
    SCOPED_TRACE(ex.name);
    const Bytes wire = Hex(ex.hex);
    EXPECT_EQ(Encode(ex.item), wire);
    auto decoded = Decode(wire);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, ex.item);
    auto size = EncodedSize(wire);
    ASSERT_TRUE(size.ok());
    EXPECT_EQ(*size, wire.size());
  }
}

TEST(TtlvTest, DiscoverVersionsTestCase) {
  const Bytes wire =
      Hex("42007801000000604200770100000038420069010000002042006a02000000040000000100000000"
          "42006b0200000004000000010000000042000d02000000040000000100000000"
          "42000f010000001842005c05000000040000001e000000004200790100000000");
  auto item = Decode(wire);
  ASSERT_TRUE(item.ok()) << item.status().ToString();
  auto req = ParseRequest(*item);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_EQ(req->version, (ProtocolVersion{1, 1}));
  ASSERT_EQ(req->items.size(), 1u);
  EXPECT_EQ(req->items[0].operation, static_cast<std::uint32_t>(Operation::kDiscoverVersions));
  EXPECT_TRUE(req->items[0].payload.children.empty());
  // Our encoder builds the same bytes from the parsed request.
  EXPECT_EQ(Encode(BuildRequest(req->version, req->items)), wire);
}

TEST(TtlvTest, NegativeIntegers) {
  Item i = Item::Integer(kT, -2);
  auto d = Decode(Encode(i));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->integer, -2);
  Item l = Item::LongInteger(kT, -3);
  d = Decode(Encode(l));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->integer, -3);
}

void ExpectRejected(const Bytes& wire, std::string_view why, DecodeLimits limits = {}) {
  auto d = Decode(wire, limits);
  ASSERT_FALSE(d.ok()) << why;
  EXPECT_TRUE(d.status().IsInvalidArgument()) << d.status().ToString();
  EXPECT_NE(d.status().message().find(why), std::string::npos) << d.status().ToString();
}

TEST(TtlvTest, StrictDecoding) {
  ExpectRejected(Hex("420020 02 000000"), "truncated item header");
  ExpectRejected(Hex("420020 02 00000008 00000008 00000000"), "must be 4");
  ExpectRejected(Hex("420020 03 00000004 00000008 00000000"), "must be 8");
  ExpectRejected(Hex("420020 02 00000004 00000008 00000001"), "non-zero padding");
  ExpectRejected(Hex("420020 07 00000003 414243 0000000001"), "non-zero padding");
  ExpectRejected(Hex("420020 06 00000008 0000000000000002"), "boolean");
  ExpectRejected(Hex("420020 0B 00000000"), "unknown item type");
  ExpectRejected(Hex("420020 00 00000000"), "unknown item type");
  ExpectRejected(Hex("420020 04 00000004 00000001 00000000"), "multiple of 8");
  ExpectRejected(Hex("420020 08 00000010 0102030000000000"), "overruns");
  ExpectRejected(Hex("420020 08 FFFFFFFF 0102030000000000"), "overruns");
  // The child ends beyond its structure (structure says 8, child needs 16).
  ExpectRejected(Hex("420020 01 00000008 420004 02 00000004 00000001 00000000"), "overruns");
  // A structure whose declared length is not a multiple of 8.
  ExpectRejected(Hex("420020 01 00000004 00000000 00000000"), "not a multiple of 8");
  ExpectRejected(Hex("420020 01 00000004 00000000"), "padding overruns");
  ExpectRejected(Hex("420020 02 00000004 00000008 00000000 00"), "trailing");
  ExpectRejected(Hex(""), "truncated");
}

TEST(TtlvTest, Limits) {
  // Nesting: 20 structures, one inside the other.
  Item deep = Item::Integer(kT, 1);
  for (int i = 0; i < 20; ++i) deep = Item::Structure(kT, {deep});
  ExpectRejected(Encode(deep), "nesting deeper");
  DecodeLimits roomy;
  roomy.max_depth = 32;
  EXPECT_TRUE(Decode(Encode(deep), roomy).ok());

  DecodeLimits small;
  small.max_size = 16;
  ExpectRejected(Encode(Item::TextString(kT, "0123456789")), "exceeds the limit", small);

  Item many = Item::Structure(kT, {});
  for (int i = 0; i < 10; ++i) many.children.push_back(Item::Integer(kT, i));
  DecodeLimits few;
  few.max_items = 5;
  ExpectRejected(Encode(many), "more than 5 items", few);
}

TEST(TtlvTest, DescribeHidesByteStrings) {
  Item s = Item::Structure(Tag::kKeyMaterial, {Item::ByteString(Tag::kKeyMaterial, "SECRET")});
  const std::string d = Describe(s);
  EXPECT_EQ(d.find("SECRET"), std::string::npos);
  EXPECT_NE(d.find("6 bytes"), std::string::npos);
}

TEST(MessageTest, ResponseRoundTrip) {
  Response r;
  r.version = {1, 2};
  r.time_stamp = 1205495800;
  ResponseBatchItem ok;
  ok.operation = static_cast<std::uint32_t>(Operation::kGet);
  ok.batch_id = std::string("\x01", 1);
  ok.payload =
      Item::Structure(Tag::kResponsePayload, {Item::TextString(Tag::kUniqueIdentifier, "abc")});
  r.items.push_back(ok);
  r.items.push_back(Failure(std::nullopt, ResultReason::kInvalidMessage, "bad"));
  auto decoded = Decode(Encode(BuildResponse(r)));
  ASSERT_TRUE(decoded.ok());
  auto back = ParseResponse(*decoded);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->version, r.version);
  EXPECT_EQ(back->time_stamp, r.time_stamp);
  ASSERT_EQ(back->items.size(), 2u);
  EXPECT_EQ(back->items[0].operation, ok.operation);
  EXPECT_EQ(back->items[0].batch_id, ok.batch_id);
  EXPECT_EQ(back->items[0].status, ResultStatus::kSuccess);
  ASSERT_TRUE(back->items[0].payload.has_value());
  EXPECT_EQ(back->items[0].payload->Find(Tag::kUniqueIdentifier)->bytes, "abc");
  EXPECT_FALSE(back->items[1].operation.has_value());
  EXPECT_EQ(back->items[1].status, ResultStatus::kOperationFailed);
  EXPECT_EQ(back->items[1].reason, ResultReason::kInvalidMessage);
  EXPECT_EQ(back->items[1].message, "bad");
}

TEST(MessageTest, MalformedRequests) {
  RequestBatchItem get;
  get.operation = static_cast<std::uint32_t>(Operation::kGet);
  Item good = BuildRequest({1, 1}, {get});
  ASSERT_TRUE(ParseRequest(good).ok());

  Item wrong_count = good;
  wrong_count.children[0].children[1].integer = 2;  // Batch Count
  EXPECT_FALSE(ParseRequest(wrong_count).ok());

  Item no_items = good;
  no_items.children.resize(1);
  no_items.children[0].children[1].integer = 0;
  EXPECT_FALSE(ParseRequest(no_items).ok());

  Item no_op = good;
  no_op.children[1].children.erase(no_op.children[1].children.begin());
  EXPECT_FALSE(ParseRequest(no_op).ok());

  Item not_request = good;
  not_request.tag = Value(Tag::kResponseMessage);
  EXPECT_FALSE(ParseRequest(not_request).ok());

  Item no_version = good;
  no_version.children[0].children.erase(no_version.children[0].children.begin());
  EXPECT_FALSE(ParseRequest(no_version).ok());
}

}  // namespace
}  // namespace cafs::kmip
