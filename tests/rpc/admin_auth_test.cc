// checkAdminToken (server/rpc/admin_auth.h): which metadata passes, and what the refusals say.
#include "server/rpc/admin_auth.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace mamba::rpc {
namespace {

using Metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

Metadata metadata(const std::vector<std::pair<std::string, std::string>>& entries) {
  Metadata m;
  for (const auto& [k, v] : entries) m.emplace(grpc::string_ref(k), grpc::string_ref(v));
  return m;
}

TEST(AdminAuth, NoTokenConfiguredLetsEveryCallThrough) {
  EXPECT_TRUE(checkAdminToken(Metadata{}, "").isOk());
}

TEST(AdminAuth, OnlyTheExactBearerTokenPasses) {
  const std::string token = "s3cret-Token_0123456789";
  struct Case {
    const char* name;
    std::vector<std::pair<std::string, std::string>> entries;
    const char* mentions;  // nullptr: accepted
  };
  const std::vector<Case> cases = {
      {"right token", {{"authorization", "Bearer " + token}}, nullptr},
      {"right token beside other metadata", {{"x-request-id", "7"}, {"authorization", "Bearer " + token}}, nullptr},
      {"no metadata", {}, "authorization: Bearer <token>"},
      {"other metadata only", {{"x-request-id", "7"}}, "authorization: Bearer <token>"},
      {"wrong token", {{"authorization", "Bearer s3cret-Token_0123456788"}}, "does not match"},
      {"prefix of the token", {{"authorization", "Bearer s3cret"}}, "does not match"},
      {"token plus more", {{"authorization", "Bearer " + token + "x"}}, "does not match"},
      {"empty token", {{"authorization", "Bearer "}}, "does not match"},
      {"another scheme", {{"authorization", "Basic " + token}}, "must be 'Bearer <token>'"},
      {"no scheme", {{"authorization", token}}, "must be 'Bearer <token>'"},
      {"two entries", {{"authorization", "Bearer " + token}, {"authorization", "Bearer x"}}, "more than one"},
  };
  for (const Case& c : cases) {
    // string_refs point into the case's own strings, which outlive the check.
    const Metadata m = metadata(c.entries);
    const Status s = checkAdminToken(m, token);
    if (c.mentions == nullptr) {
      EXPECT_TRUE(s.isOk()) << c.name << ": " << s.toString();
      continue;
    }
    EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << c.name << ": " << s.toString();
    EXPECT_NE(s.message().find(c.mentions), std::string::npos) << c.name << ": " << s.toString();
    EXPECT_EQ(s.message().find("s3cret"), std::string::npos) << c.name << " echoes a token: " << s.toString();
  }
}

}  // namespace
}  // namespace mamba::rpc
