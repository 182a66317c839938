#include "server/rpc/admin_auth.h"

#include <cstddef>
#include <iterator>

namespace mamba::rpc {
namespace {

constexpr std::string_view kScheme = "Bearer ";

// Equal contents, in time that depends on the lengths only.
bool sameBytes(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = a.size() < b.size() ? a.size() : b.size();
  for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

Status checkAdminToken(const std::multimap<grpc::string_ref, grpc::string_ref>& clientMetadata,
                       std::string_view token) {
  if (token.empty()) return Status::ok();
  const auto [first, last] = clientMetadata.equal_range("authorization");
  if (first == last) {
    return unauthenticated("the admin service requires metadata 'authorization: Bearer <token>' "
                           "(mamba-cli admin --token-file)");
  }
  if (std::next(first) != last) return unauthenticated("more than one 'authorization' metadata entry");
  const std::string_view value(first->second.data(), first->second.size());
  if (value.substr(0, kScheme.size()) != kScheme) {
    return unauthenticated("the 'authorization' metadata must be 'Bearer <token>'");
  }
  if (!sameBytes(value.substr(kScheme.size()), token)) return unauthenticated("the admin token does not match");
  return Status::ok();
}

}  // namespace mamba::rpc
