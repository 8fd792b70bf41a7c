// Fabric payloads (docs/edif.md section 4): byte layouts, round trips and hostile inputs;
// host:port parsing; agent secret files.
#include "edif/hba/fabric_payloads.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>

#include "edif/hba/fabric_connection.h"
#include "edif/hba/hba_port.h"

namespace cafs::edif::hba {
namespace {

TEST(FabricPayloads, LoginAccLayoutAndRoundTrip) {
  std::vector<LunInfo> luns = {{0, kLunRequireSecure, 1ull << 30}, {7, kLunReadOnly, 4096}};
  auto b = EncodeLoginAcc(luns);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->size(), 8u + 2 * 16);
  EXPECT_EQ(LoadLe32(b->data()), 1u);
  EXPECT_EQ(LoadLe32(b->data() + 4), 2u);
  EXPECT_EQ(LoadLe32(b->data() + 24), 7u);
  EXPECT_EQ(LoadLe16(b->data() + 28), kLunReadOnly);
  EXPECT_EQ(LoadLe64(b->data() + 32), 4096u);
  auto d = DecodeLoginAcc(*b);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, luns);
  EXPECT_TRUE((*d)[0].require_secure());
  // Hostile: truncated, count too large, unknown flag, trailing byte.
  EXPECT_TRUE(DecodeLoginAcc(ByteView(b->data(), b->size() - 1)).status().IsCorruption());
  Bytes big = *b;
  StoreLe32(big.data() + 4, 5000);
  EXPECT_FALSE(DecodeLoginAcc(big).ok());
  Bytes flag = *b;
  flag[12] |= 0x80;
  EXPECT_FALSE(DecodeLoginAcc(flag).ok());
  Bytes trailing = *b;
  trailing.push_back(0);
  EXPECT_FALSE(DecodeLoginAcc(trailing).ok());
}

TEST(FabricPayloads, LoginAndReject) {
  EXPECT_TRUE(DecodeLogin(EncodeLogin()).ok());
  Bytes bad = EncodeLogin();
  bad[0] = 2;
  EXPECT_FALSE(DecodeLogin(bad).ok());
  EXPECT_FALSE(DecodeLogin(Bytes(7, 0)).ok());
  auto r = DecodeLoginRjt(EncodeLoginRjt(22));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 22u);
}

TEST(FabricPayloads, AuthEls) {
  const Bytes frame = {0x16, 0x03, 0x03};
  Bytes b = EncodeAuthEls(0x0009, frame);
  ASSERT_EQ(b.size(), 7u);
  EXPECT_EQ(LoadLe16(b.data()), 0x0009);
  auto d = DecodeAuthEls(b);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->els_flags, 0x0009);
  EXPECT_EQ(d->frame, frame);
  b[2] = 1;  // reserved
  EXPECT_FALSE(DecodeAuthEls(b).ok());
  EXPECT_FALSE(DecodeAuthEls(Bytes(3, 0)).ok());
}

TEST(FabricPayloads, DataRequestLayoutAndChecks) {
  DataRequest w;
  w.cmd = DataCmd::kWrite;
  w.flags = kDataFua;
  w.offset = 0x1122334455667788ull;
  w.length = 4;
  w.data = {1, 2, 3, 4};
  auto b = EncodeDataRequest(w);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->size(), 20u);
  EXPECT_EQ((*b)[0], 1);
  EXPECT_EQ((*b)[1], 1);
  EXPECT_EQ(LoadLe16(b->data() + 2), kDataFua);
  EXPECT_EQ(LoadLe32(b->data() + 4), 4u);
  EXPECT_EQ(LoadLe64(b->data() + 8), w.offset);
  auto d = DecodeDataRequest(*b);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->data, w.data);
  EXPECT_EQ(d->offset, w.offset);
  EXPECT_TRUE(*IsDataRequest(*b));
  // WRITE data shorter than its length, a READ carrying data, unknown command / kind / flags.
  Bytes short_write(b->begin(), b->end() - 1);
  EXPECT_FALSE(DecodeDataRequest(short_write).ok());
  DataRequest r;
  r.cmd = DataCmd::kRead;
  r.length = 512;
  auto rb = EncodeDataRequest(r);
  ASSERT_TRUE(rb.ok());
  Bytes with_data = *rb;
  with_data.push_back(0);
  EXPECT_FALSE(DecodeDataRequest(with_data).ok());
  Bytes cmd = *rb;
  cmd[1] = 2;  // NBD_CMD_DISC is not a DATA command
  EXPECT_FALSE(DecodeDataRequest(cmd).ok());
  Bytes kind = *rb;
  kind[0] = 9;
  EXPECT_FALSE(IsDataRequest(kind).ok());
  Bytes flags = *rb;
  flags[2] = 0x80;
  EXPECT_FALSE(DecodeDataRequest(flags).ok());
  r.length = kMaxDataLength + 1;
  EXPECT_FALSE(EncodeDataRequest(r).ok());
  Bytes huge = *rb;
  StoreLe32(huge.data() + 4, kMaxDataLength + 1);
  EXPECT_FALSE(DecodeDataRequest(huge).ok());
}

TEST(FabricPayloads, DataReply) {
  DataReply r;
  r.cmd = DataCmd::kRead;
  r.data = {9, 8, 7};
  Bytes b = EncodeDataReply(r);
  ASSERT_EQ(b.size(), 11u);
  EXPECT_EQ(b[0], 2);
  auto d = DecodeDataReply(b);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->data, r.data);
  EXPECT_FALSE(*IsDataRequest(b));
  StoreLe32(b.data() + 4, 5);  // an error with data attached
  EXPECT_FALSE(DecodeDataReply(b).ok());
  EXPECT_FALSE(DecodeDataReply(Bytes(7, 0)).ok());
}

TEST(FabricConnection, ParseHostPort) {
  auto hp = ParseHostPort("127.0.0.1:3260");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->first, "127.0.0.1");
  EXPECT_EQ(hp->second, 3260);
  EXPECT_FALSE(ParseHostPort("127.0.0.1").ok());
  EXPECT_FALSE(ParseHostPort("127.0.0.1:70000").ok());
  EXPECT_FALSE(ParseHostPort(":1").ok());
  EXPECT_FALSE(ParseHostPort("h:1x").ok());
}

TEST(SecretFile, TrailingNewlineStrippedAndShortRefused) {
  char tmpl[] = "/tmp/edif_secret.XXXXXX";
  const int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(tmpl) << "0123456789abcdefXYZ\n";
  auto s = ReadSecretFile(tmpl);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(s->data()), s->size()),
            "0123456789abcdefXYZ");
  std::ofstream(tmpl, std::ios::trunc) << "short\n";
  EXPECT_FALSE(ReadSecretFile(tmpl).ok());
  ::unlink(tmpl);
  EXPECT_FALSE(ReadSecretFile(tmpl).ok());
}

}  // namespace
}  // namespace cafs::edif::hba
