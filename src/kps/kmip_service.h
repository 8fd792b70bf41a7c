// KmipService: kpsd's KMIP 1.x operations (docs/kmip.md) on the same key objects the REST
// API serves, independent of the transport: KmipServer (kmip_server.h) hands each framed
// request message with the verified client certificate's identity; tests call Handle().
//
// Operations: DiscoverVersions, Query, Create (AES-128/256 symmetric key), Get (Raw or
// Transparent Symmetric Key), GetAttributes, GetAttributeList, Locate (Name, Object Type),
// Activate, Revoke, Destroy (crypto-shred, as REST's destroy). Others answer Operation Not
// Supported. A KMIP object is one KeyRecord; its KMIP State is the state of the record's
// newest version, and Activate / Revoke change that version.
//
// Authentication and authorization are the REST API's: the certificate's CN/OU/serial must
// match an enrolled, unrevoked admin or gateway record, and every operation maps to an rbac
// Action (docs/kmip.md has the table). A refusal is the batch item's Permission Denied (or
// Authentication Not Successful) result and an audit record; every change and every Get of
// key material is audited too ("KMIP <operation>").
//
// A message that does not decode or parse gets one Invalid Message batch item; the caller
// (KmipServer) then closes the connection (`close` is set). A batch item with a Text String
// that is not UTF-8 (in any field, at any depth) is refused as Invalid Field before it
// reaches the store, JSON or a log. No exception escapes Handle(): an operation that throws
// answers General Failure in its batch item (audited as error), and anything else thrown
// while answering gives a one-item General Failure response; the connection goes on.
//
// Threading: Handle() may be called from many threads at once (the Store serializes).
// `keyring`, `store` and `clock` must outlive the service.
#pragma once

#include <string>

#include "kmip/message.h"
#include "kps/ca.h"
#include "kps/keyring.h"
#include "kps/rbac.h"

namespace cafs::kps {

struct KmipOptions {
  // The VM set whose KEK wraps the keys created over KMIP (need not exist as a record).
  std::string vmset = "kmip";
  kmip::DecodeLimits limits;  // max_size is the largest request message accepted
};

class KmipService {
 public:
  KmipService(Keyring& keyring, Store& store, const Clock& clock, KmipOptions options = {})
      : keyring_(keyring), store_(store), clock_(clock), options_(std::move(options)) {}

  struct Reply {
    Bytes message;       // the encoded Response Message (may hold key material: wipe it)
    bool close = false;  // the request was malformed: close the connection after sending
  };
  Reply Handle(ByteView request, const PeerIdentity& peer);

  const KmipOptions& options() const { return options_; }

 private:
  Reply HandleMessage(ByteView request, const PeerIdentity& peer);
  Result<Principal> Authenticate(const PeerIdentity& peer);
  kmip::ResponseBatchItem Run(const Principal& who, const kmip::RequestBatchItem& item,
                              const kmip::ProtocolVersion& version);
  Result<kmip::Item> Dispatch(const Principal& who, kmip::Operation op, const kmip::Item& payload,
                              const kmip::ProtocolVersion& version, std::string* object);
  Result<kmip::Item> Create(const Principal& who, const kmip::Item& payload, std::string* object);
  Result<kmip::Item> Get(const Principal& who, const kmip::Item& payload, std::string* object);
  Result<kmip::Item> GetAttributes(const Principal& who, const kmip::Item& payload, bool names_only,
                                   std::string* object);
  Result<kmip::Item> Locate(const Principal& who, const kmip::Item& payload);
  Result<kmip::Item> ChangeState(const Principal& who, kmip::Operation op,
                                 const kmip::Item& payload, std::string* object);
  void Audit(const PeerIdentity& peer, std::string_view role, std::string_view action,
             std::string_view object, std::string_view result, std::string_view reason);
  std::int64_t Now() const;

  Keyring& keyring_;
  Store& store_;
  const Clock& clock_;
  KmipOptions options_;
};

}  // namespace cafs::kps
