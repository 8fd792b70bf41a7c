// KMIP 1.x constants: the TTLV tags and enumeration values kpsd's KMIP service speaks.
// Values are from the KMIP 1.1 specification (OASIS, kmip-spec-v1.1, section 9.1.3 "Defined
// Values"); only the ones we use are named here, the wire carries any 3-byte tag.
// Threading: constants only.
#pragma once

#include <cstdint>

namespace cafs::kmip {

// Section 9.1.3.1 Tags.
enum class Tag : std::uint32_t {
  kActivationDate = 0x420001,
  kAttribute = 0x420008,
  kAttributeIndex = 0x420009,
  kAttributeName = 0x42000A,
  kAttributeValue = 0x42000B,
  kAuthentication = 0x42000C,
  kBatchCount = 0x42000D,
  kBatchErrorContinuationOption = 0x42000E,
  kBatchItem = 0x42000F,
  kBatchOrderOption = 0x420010,
  kCompromiseOccurrenceDate = 0x420021,
  kCryptographicAlgorithm = 0x420028,
  kCryptographicLength = 0x42002A,
  kCryptographicUsageMask = 0x42002C,
  kKey = 0x42003F,
  kKeyBlock = 0x420040,
  kKeyFormatType = 0x420042,
  kKeyMaterial = 0x420043,
  kKeyValue = 0x420045,
  kKeyWrappingSpecification = 0x420047,
  kMaximumItems = 0x42004F,
  kMaximumResponseSize = 0x420050,
  kName = 0x420053,
  kNameType = 0x420054,
  kNameValue = 0x420055,
  kObjectType = 0x420057,
  kOperation = 0x42005C,
  kProtocolVersion = 0x420069,
  kProtocolVersionMajor = 0x42006A,
  kProtocolVersionMinor = 0x42006B,
  kQueryFunction = 0x420074,
  kRequestHeader = 0x420077,
  kRequestMessage = 0x420078,
  kRequestPayload = 0x420079,
  kResponseHeader = 0x42007A,
  kResponseMessage = 0x42007B,
  kResponsePayload = 0x42007C,
  kResultMessage = 0x42007D,
  kResultReason = 0x42007E,
  kResultStatus = 0x42007F,
  kRevocationMessage = 0x420080,
  kRevocationReason = 0x420081,
  kRevocationReasonCode = 0x420082,
  kState = 0x42008D,
  kSymmetricKey = 0x42008F,
  kTemplateAttribute = 0x420091,
  kTimeStamp = 0x420092,
  kUniqueBatchItemId = 0x420093,
  kUniqueIdentifier = 0x420094,
  kVendorIdentification = 0x42009D,
  kServerInformation = 0x420088,
};

// 9.1.3.2.27 Operation.
enum class Operation : std::uint32_t {
  kCreate = 0x01,
  kLocate = 0x08,
  kGet = 0x0A,
  kGetAttributes = 0x0B,
  kGetAttributeList = 0x0C,
  kActivate = 0x12,
  kRevoke = 0x13,
  kDestroy = 0x14,
  kQuery = 0x18,
  kDiscoverVersions = 0x1E,
};

// 9.1.3.2.12 Object Type.
enum class ObjectType : std::uint32_t {
  kCertificate = 0x01,
  kSymmetricKey = 0x02,
  kPublicKey = 0x03,
  kPrivateKey = 0x04,
  kSplitKey = 0x05,
  kTemplate = 0x06,
  kSecretData = 0x07,
  kOpaqueObject = 0x08,
};

// 9.1.3.2.13 Cryptographic Algorithm (only AES is served).
enum class CryptographicAlgorithm : std::uint32_t { kAes = 0x03 };

// 9.1.3.2.3 Key Format Type.
enum class KeyFormatType : std::uint32_t { kRaw = 0x01, kTransparentSymmetricKey = 0x07 };

// 9.1.3.2.17 State.
enum class State : std::uint32_t {
  kPreActive = 0x01,
  kActive = 0x02,
  kDeactivated = 0x03,
  kCompromised = 0x04,
  kDestroyed = 0x05,
  kDestroyedCompromised = 0x06,
};

// 9.1.3.2.10 Name Type.
enum class NameType : std::uint32_t { kUninterpretedTextString = 0x01, kUri = 0x02 };

// 9.1.3.2.19 Revocation Reason Code.
enum class RevocationReasonCode : std::uint32_t {
  kUnspecified = 0x01,
  kKeyCompromise = 0x02,
  kCaCompromise = 0x03,
  kAffiliationChanged = 0x04,
  kSuperseded = 0x05,
  kCessationOfOperation = 0x06,
  kPrivilegeWithdrawn = 0x07,
};

// 9.1.3.2.24 Query Function.
enum class QueryFunction : std::uint32_t {
  kOperations = 0x01,
  kObjects = 0x02,
  kServerInformation = 0x03,
};

// 9.1.3.2.28 Result Status.
enum class ResultStatus : std::uint32_t {
  kSuccess = 0x00,
  kOperationFailed = 0x01,
  kOperationPending = 0x02,
  kOperationUndone = 0x03,
};

// 9.1.3.2.29 Result Reason.
enum class ResultReason : std::uint32_t {
  kItemNotFound = 0x01,
  kResponseTooLarge = 0x02,
  kAuthenticationNotSuccessful = 0x03,
  kInvalidMessage = 0x04,
  kOperationNotSupported = 0x05,
  kMissingData = 0x06,
  kInvalidField = 0x07,
  kFeatureNotSupported = 0x08,
  kOperationCanceledByRequester = 0x09,
  kCryptographicFailure = 0x0A,
  kIllegalOperation = 0x0B,
  kPermissionDenied = 0x0C,
  kObjectArchived = 0x0D,
  kIndexOutOfBounds = 0x0E,
  kApplicationNamespaceNotSupported = 0x0F,
  kKeyFormatTypeNotSupported = 0x10,
  kKeyCompressionTypeNotSupported = 0x11,
  kGeneralFailure = 0x100,
};

constexpr std::uint32_t Value(Tag t) { return static_cast<std::uint32_t>(t); }

}  // namespace cafs::kmip
