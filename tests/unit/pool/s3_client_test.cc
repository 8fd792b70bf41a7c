// The pure parts of the s3 kind's HTTP client (s3_client.h): the AWS URI encoding the SigV4
// signature depends on, and the reading of S3's XML answers (listings, errors, uploads).
#include "pool/s3/s3_client.h"

#include <gtest/gtest.h>

namespace cafs::pool {
namespace {

TEST(S3UriEncodeTest, KeepsOnlyUnreservedBytes) {
  EXPECT_EQ(S3UriEncode("Az09-_.~", false), "Az09-_.~");
  EXPECT_EQ(S3UriEncode("a/b c", true), "a/b%20c");
  EXPECT_EQ(S3UriEncode("a/b c", false), "a%2Fb%20c");
  EXPECT_EQ(S3UriEncode("x+y=z&\xC3\xA9", false), "x%2By%3Dz%26%C3%A9");
  EXPECT_EQ(S3UriEncode("", true), "");
}

TEST(S3XmlValuesTest, ReadsListingsAndErrors) {
  const std::string listing =
      "<?xml version=\"1.0\"?><ListBucketResult><Prefix>p/</Prefix><IsTruncated>true"
      "</IsTruncated><Contents><Key>p/a&amp;b</Key><Size>6</Size></Contents><Contents><Key>p/c"
      "</Key></Contents><CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes>"
      "<NextContinuationToken>t&lt;1&gt;</NextContinuationToken></ListBucketResult>";
  EXPECT_EQ(S3XmlValues(listing, "Key", "Contents"), (std::vector<std::string>{"p/a&b", "p/c"}));
  EXPECT_EQ(S3XmlValues(listing, "Prefix", "CommonPrefixes"), std::vector<std::string>{"p/d/"});
  EXPECT_EQ(S3XmlValues(listing, "Prefix").size(), 2u);  // not limited: the listing's own too
  EXPECT_EQ(S3XmlValues(listing, "NextContinuationToken"), std::vector<std::string>{"t<1>"});
  EXPECT_EQ(S3XmlValues(listing, "IsTruncated"), std::vector<std::string>{"true"});
  EXPECT_TRUE(S3XmlValues(listing, "UploadId").empty());
  EXPECT_TRUE(S3XmlValues("<Key>unterminated", "Key").empty());

  S3Response error{.status = 403,
                   .body = "<Error><Code>SignatureDoesNotMatch</Code><Message>m</Message></Error>"};
  EXPECT_EQ(error.ErrorCode(), "SignatureDoesNotMatch");
  EXPECT_EQ(S3Response{}.ErrorCode(), "");
}

}  // namespace
}  // namespace cafs::pool
