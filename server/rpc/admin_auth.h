// Bearer-token authentication of the Admin service. The Admin service loads checkpoints from
// and writes pruned ones to the server's file system, so where its address can be reached by
// more than the operators (a cluster network), the server requires a shared token:
// metadata "authorization: Bearer <token>" (mamba-server --admin-token-file / admin.token_file;
// mamba-cli admin --token-file). Plain-text gRPC carries it in the clear: use it on trusted
// networks or behind TLS termination.
#pragma once

#include <grpcpp/support/string_ref.h>

#include <map>
#include <string_view>

#include "server/common/status.h"

namespace mamba::rpc {

// OK when `token` is empty (no token required) or the metadata carries exactly
// "authorization: Bearer <token>"; else UNAUTHENTICATED saying what is missing or wrong (never
// echoing the token sent). The comparison takes the same time wherever the tokens differ.
Status checkAdminToken(const std::multimap<grpc::string_ref, grpc::string_ref>& clientMetadata,
                       std::string_view token);

}  // namespace mamba::rpc
