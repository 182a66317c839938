// The Admin service over loopback: PruneModel calibrates the served model on a real text,
// prunes it, writes the checkpoint and hot-swaps it in; LoadModel hot-swaps a checkpoint under
// streaming load without failing a stream (streams accepted before finish on the old model);
// a prune past its deadline stops; a token, when set, is required; a table of bad admin calls, each with its code and a message
// naming the field, after which the server still serves.
#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <thread>

#include "server/engine/offline.h"
#include "server/tokenizer/tokenizer.h"
#include "tests/common/test_support.h"
#include "tests/rpc/loopback_server.h"
#include "tests/rpc/rpc_calls.h"
#include "tests/rpc/test_model.h"

namespace mamba::rpctest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string corpus() { return (fs::path(MAMBA_SOURCE_DIR) / "tests" / "data" / "wikitext2_heldout_4k.txt").string(); }

pb::PruneModelRequest pruneRequest(double ratio, const std::string& outputDir) {
  pb::PruneModelRequest r;
  r.set_model(kModelName);
  r.set_ratio(ratio);
  r.set_output_dir(outputDir);
  pb::CalibrationSpec* c = r.mutable_calibration();
  c->set_text_path(corpus());
  c->set_max_tokens(1024);
  c->set_context(128);
  return r;
}

template <typename Request, typename Response>
grpc::Status call(grpc::Status (pb::Admin::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                  pb::Admin::Stub& stub, const Request& request, Response* response) {
  grpc::ClientContext ctx;
  ctx.set_deadline(deadlineIn(120s));
  return (stub.*method)(&ctx, request, response);
}

// What `prompt` generates greedily, alone, on the checkpoint in `dir`.
std::vector<int32_t> solo(const std::string& dir, const std::vector<int32_t>& prompt, int32_t tokens) {
  BackendOptions o;
  o.modelDir = dir;
  o.numSlots = 1;
  auto backend = loadTorchBackend(o);
  EXPECT_TRUE(backend.isOk()) << backend.status().toString();
  auto tok = Tokenizer::fromFile((fs::path(dir) / "tokenizer.json").string());
  EXPECT_TRUE(tok.isOk()) << tok.status().toString();
  if (!backend.isOk() || !tok.isOk()) return {};
  SamplingParams p;
  p.temperature = 0.f;
  p.maxNewTokens = tokens;
  p.ignoreEos = true;
  auto r = generate(**backend, **tok, prompt, p);
  EXPECT_TRUE(r.isOk()) << r.status().toString();
  return r.isOk() ? r->tokens : std::vector<int32_t>{};
}

std::vector<int32_t> ids(const google::protobuf::RepeatedField<int32_t>& f) { return {f.begin(), f.end()}; }

TEST(Admin, PruneModelCalibratesPrunesAndHotSwapsTheCompactedVariantIn) {
  LoopbackOptions o;
  o.admin = true;
  LoopbackServer server(o);
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  testing::TempDir tmp;
  const std::string out = (tmp.path() / "pruned").string();
  auto admin = server.adminStub();
  pb::PruneModelResponse resp;
  grpc::Status s = call(&pb::Admin::Stub::PruneModel, *admin, pruneRequest(0.5, out), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();

  EXPECT_EQ(resp.output_dir(), out);
  EXPECT_EQ(resp.calibration_tokens(), 1024);
  EXPECT_EQ(resp.corpus_fnv1a64().size(), 16u);
  ASSERT_EQ(resp.state_sizes_before_size(), 2);
  ASSERT_EQ(resp.state_sizes_size(), 2);
  for (int l = 0; l < 2; ++l) {
    EXPECT_EQ(resp.state_sizes_before(l), 16);
    EXPECT_EQ(resp.state_sizes(l), 8);
  }
  EXPECT_LT(resp.state_bytes_per_sequence(), resp.state_bytes_per_sequence_before());
  EXPECT_GT(resp.calibration_seconds(), 0.0);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "scores.json", "pruning.json"}) {
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  }
  ASSERT_TRUE(resp.has_load());
  EXPECT_FALSE(resp.load().replaced());
  EXPECT_EQ(resp.load().loaded().variant(), "compacted");
  EXPECT_EQ(resp.load().loaded().path(), out);

  // Served: ListModels shows both variants, and the compacted one generates what the written
  // checkpoint generates alone.
  auto stub = server.stub();
  pb::ListModelsResponse models;
  grpc::ClientContext lctx;
  ASSERT_TRUE(stub->ListModels(&lctx, pb::ListModelsRequest(), &models).ok());
  ASSERT_EQ(models.models_size(), 1);
  ASSERT_EQ(models.models(0).variants_size(), 2);
  EXPECT_EQ(models.models(0).variants(1).variant(), "compacted");
  EXPECT_EQ(models.models(0).variants(1).state_sizes(0), 8);
  const auto prompt = promptIds(9, 4);
  pb::GenerateRequest req = greedyRequest(prompt, 12);
  req.set_variant("compacted");
  UnaryResult r = runUnary(*stub, req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.variant(), "compacted");
  EXPECT_EQ(ids(r.response.token_ids()), solo(out, prompt, 12));
  // The random tiny model's greedy tokens barely depend on its SSM states; its logprobs do.
  pb::GenerateRequest withLogprobs = greedyRequest(prompt, 1);
  withLogprobs.set_logprobs(true);
  UnaryResult dense = runUnary(*stub, withLogprobs);
  withLogprobs.set_variant("compacted");
  UnaryResult compacted = runUnary(*stub, withLogprobs);
  ASSERT_TRUE(dense.status.ok() && compacted.status.ok());
  ASSERT_EQ(dense.response.logprobs_size(), 1);
  ASSERT_EQ(compacted.response.logprobs_size(), 1);
  EXPECT_NE(dense.response.logprobs(0).logprob(), compacted.response.logprobs(0).logprob())
      << "pruning half the states changed nothing?";
}

TEST(Admin, LoadModelHotSwapsUnderStreamingLoadWithoutFailingAStream) {
  LoopbackOptions o;
  o.admin = true;
  o.slots = 4;
  o.scheduler.maxBatch = 4;
  LoopbackServer server(o);
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  auto admin = server.adminStub();
  testing::TempDir tmp;
  const std::string other = (tmp.path() / "r03").string();
  pb::PruneModelRequest pr = pruneRequest(0.3, other);
  pr.set_variant("masked");
  pr.set_load(false);
  pb::PruneModelResponse pruned;
  grpc::Status s = call(&pb::Admin::Stub::PruneModel, *admin, pr, &pruned);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(pruned.has_load());

  // Eight streams (four running, four queued), then the swap while they run.
  constexpr int kStreams = 8;
  constexpr int32_t kTokens = 400;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::future<StreamResult>> streams;
  for (int i = 0; i < kStreams; ++i) {
    prompts.push_back(promptIds(3 + i, 70 + i));
    streams.push_back(std::async(std::launch::async, [&server, req = greedyRequest(prompts.back(), kTokens)] {
      auto stub = server.stub();
      return runStream(*stub, req);
    }));
  }
  // Swap once every slot is busy (the rest queued or about to be).
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (counterValue(server.registry(), "mamba_requests_running{model=\"tiny\",variant=\"dense\"}") < 4 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(1ms);
  }
  pb::LoadModelRequest lr;
  lr.set_model(kModelName);
  lr.set_path(other);
  pb::LoadModelResponse loaded;
  s = call(&pb::Admin::Stub::LoadModel, *admin, lr, &loaded);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(loaded.replaced());
  EXPECT_EQ(loaded.previous().path(), tinyModelDir());
  EXPECT_EQ(loaded.loaded().path(), other);
  EXPECT_EQ(loaded.loaded().num_slots(), 4) << "unset slots keep the replaced variant's";

  const std::vector<int32_t> after = promptIds(6, 99);
  UnaryResult next = runUnary(*server.stub(), greedyRequest(after, 10));
  ASSERT_TRUE(next.status.ok()) << next.status.error_message();
  EXPECT_EQ(ids(next.response.token_ids()), solo(other, after, 10));

  int onOld = 0, onNew = 0;
  for (int i = 0; i < kStreams; ++i) {
    StreamResult r = streams[i].get();
    ASSERT_TRUE(r.status.ok()) << "stream " << i << ": " << r.status.error_message();
    ASSERT_EQ(r.tokens.size(), static_cast<size_t>(kTokens)) << "stream " << i;
    // Each stream ran entirely on one model: the old one if it was accepted before the swap.
    if (r.tokens == solo(tinyModelDir(), prompts[i], kTokens)) {
      ++onOld;
    } else {
      EXPECT_EQ(r.tokens, solo(other, prompts[i], kTokens)) << "stream " << i << " matches neither model";
      ++onNew;
    }
  }
  EXPECT_GE(onOld, 1) << "the swap came after every stream had finished; nothing was tested";
  EXPECT_EQ(onOld + onNew, kStreams);
}

TEST(Admin, PruneModelPastItsDeadlineStopsCalibratingWritesNothingAndFreesTheWorker) {
  LoopbackOptions o;
  o.admin = true;
  LoopbackServer server(o);
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  testing::TempDir tmp;
  // A corpus whose calibration takes about a minute (2M tokens; 262k took 6.5 s on the 2-core
  // development box): 512 copies of the 4k-token held-out text.
  const std::string text = testing::readFile(corpus());
  std::string big;
  for (int i = 0; i < 512; ++i) big += text;
  const fs::path bigPath = tmp.path() / "big.txt";
  testing::writeFile(bigPath, big);
  pb::PruneModelRequest r = pruneRequest(0.5, (tmp.path() / "pruned").string());
  r.mutable_calibration()->set_text_path(bigPath.string());
  r.mutable_calibration()->set_max_tokens(0);  // all of it
  r.mutable_calibration()->set_context(64);
  r.mutable_calibration()->set_batch(1);
  auto admin = server.adminStub();
  pb::PruneModelResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(deadlineIn(1500ms));
  grpc::Status s = admin->PruneModel(&ctx, r, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << s.error_message();

  // The worker is free again within a calibration batch: the next admin call runs at once.
  const auto t0 = std::chrono::steady_clock::now();
  pb::UnloadModelRequest u;
  u.set_model(kModelName);
  u.set_variant("compacted");
  pb::UnloadModelResponse uresp;
  grpc::ClientContext uctx;
  uctx.set_deadline(deadlineIn(10s));
  grpc::Status next = admin->UnloadModel(&uctx, u, &uresp);
  EXPECT_EQ(next.error_code(), grpc::StatusCode::NOT_FOUND) << next.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_FALSE(fs::exists(tmp.path() / "pruned")) << "a cancelled prune wrote its output";
  EXPECT_EQ(server.engine().listModels().size(), 1u);
}

TEST(Admin, WithATokenEveryCallNeedsItAndARefusedCallIsNotQueued) {
  LoopbackOptions o;
  o.admin = true;
  o.adminToken = "loopback-admin-token";
  LoopbackServer server(o);
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  auto admin = server.adminStub();
  auto unload = [&](const char* authorization) {
    pb::UnloadModelRequest r;
    r.set_model(kModelName);
    r.set_variant("compacted");
    pb::UnloadModelResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(deadlineIn(30s));
    if (authorization) ctx.AddMetadata("authorization", authorization);
    return admin->UnloadModel(&ctx, r, &resp);
  };
  grpc::Status none = unload(nullptr);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED) << none.error_message();
  EXPECT_NE(none.error_message().find("authorization: Bearer <token>"), std::string::npos) << none.error_message();
  grpc::Status wrong = unload("Bearer loopback-admin-tokeN");
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED) << wrong.error_message();
  EXPECT_NE(wrong.error_message().find("does not match"), std::string::npos) << wrong.error_message();
  // Refused calls never reach the worker: a prune with the wrong token writes nothing.
  testing::TempDir tmp;
  pb::PruneModelResponse presp;
  grpc::ClientContext pctx;
  pctx.AddMetadata("authorization", "Bearer nope");
  grpc::Status prune = admin->PruneModel(&pctx, pruneRequest(0.5, (tmp.path() / "p").string()), &presp);
  EXPECT_EQ(prune.error_code(), grpc::StatusCode::UNAUTHENTICATED) << prune.error_message();
  EXPECT_FALSE(fs::exists(tmp.path() / "p"));
  // The right token: the call runs (and finds no compacted variant to unload).
  grpc::Status right = unload("Bearer loopback-admin-token");
  EXPECT_EQ(right.error_code(), grpc::StatusCode::NOT_FOUND) << right.error_message();
  // Inference calls need no token.
  UnaryResult gen = runUnary(*server.stub(), greedyRequest(promptIds(4, 2), 4));
  EXPECT_TRUE(gen.status.ok()) << gen.status.error_message();
}

struct BadAdminCall {
  const char* name;
  std::function<grpc::Status(pb::Admin::Stub&)> run;
  grpc::StatusCode code;
  const char* mentions;
};

TEST(Admin, BadCallsGetTheirCodeNameTheFieldAndHarmNothing) {
  LoopbackOptions o;
  o.admin = true;
  LoopbackServer server(o);
  ASSERT_TRUE(server.status().isOk()) << server.status().toString();
  testing::TempDir tmp;
  fs::create_directories(tmp.path() / "occupied");
  testing::writeFile(tmp.path() / "occupied" / "file", "x");
  const std::string occupied = (tmp.path() / "occupied").string();
  const std::string fresh = (tmp.path() / "fresh").string();
  auto load = [](auto edit) {
    return [edit](pb::Admin::Stub& stub) {
      pb::LoadModelRequest r;
      r.set_model(kModelName);
      r.set_path(tinyModelDir());
      edit(r);
      pb::LoadModelResponse resp;
      return call(&pb::Admin::Stub::LoadModel, stub, r, &resp);
    };
  };
  auto prune = [fresh](auto edit) {
    return [edit, fresh](pb::Admin::Stub& stub) {
      pb::PruneModelRequest r = pruneRequest(0.5, fresh);
      edit(r);
      pb::PruneModelResponse resp;
      return call(&pb::Admin::Stub::PruneModel, stub, r, &resp);
    };
  };
  auto unload = [](const char* model, const char* variant) {
    return [model, variant](pb::Admin::Stub& stub) {
      pb::UnloadModelRequest r;
      r.set_model(model);
      r.set_variant(variant);
      pb::UnloadModelResponse resp;
      return call(&pb::Admin::Stub::UnloadModel, stub, r, &resp);
    };
  };
  using C = grpc::StatusCode;
  const std::vector<BadAdminCall> table = {
      {"load without model", load([](auto& r) { r.clear_model(); }), C::INVALID_ARGUMENT, "model"},
      {"load without path", load([](auto& r) { r.clear_path(); }), C::INVALID_ARGUMENT, "path"},
      {"load missing path", load([](auto& r) { r.set_path("/nonexistent/ckpt"); }), C::NOT_FOUND, "/nonexistent/ckpt"},
      {"load bad variant", load([](auto& r) { r.set_variant("sparse"); }), C::INVALID_ARGUMENT, "variant"},
      {"load bad dtype", load([](auto& r) { r.set_dtype("fp8"); }), C::INVALID_ARGUMENT, "fp8"},
      {"load zero slots", load([](auto& r) { r.set_slots(0); }), C::INVALID_ARGUMENT, "slots"},
      {"load missing tokenizer", load([](auto& r) { r.set_tokenizer("/nonexistent/tok.json"); }), C::NOT_FOUND,
       "tokenizer"},
      {"load not a checkpoint", load([&](auto& r) { r.set_path(occupied); }), C::NOT_FOUND, "config.json"},
      {"unload default", unload(kModelName, "dense"), C::FAILED_PRECONDITION, "default model"},
      {"unload unknown variant", unload(kModelName, "masked"), C::NOT_FOUND, "masked"},
      {"unload without variant", unload(kModelName, ""), C::INVALID_ARGUMENT, "variant"},
      {"prune ratio 1.5", prune([](auto& r) { r.set_ratio(1.5); }), C::INVALID_ARGUMENT, "ratio"},
      {"prune negative ratio", prune([](auto& r) { r.set_ratio(-0.1); }), C::INVALID_ARGUMENT, "ratio"},
      {"prune bad method", prune([](auto& r) { r.set_method("magic"); }), C::INVALID_ARGUMENT, "method"},
      {"prune bad mode", prune([](auto& r) { r.set_mode("sideways"); }), C::INVALID_ARGUMENT, "mode"},
      {"prune to dense", prune([](auto& r) { r.set_variant("dense"); }), C::INVALID_ARGUMENT, "variant"},
      {"prune unknown model", prune([](auto& r) { r.set_model("nope"); }), C::NOT_FOUND, "nope"},
      {"prune unknown source", prune([](auto& r) { r.set_source_variant("masked"); }), C::NOT_FOUND, "masked"},
      {"prune without scores", prune([](auto& r) { r.clear_calibration(); }), C::INVALID_ARGUMENT, "scores"},
      {"prune missing scores file", prune([](auto& r) { r.set_scores_path("/nonexistent/scores.json"); }),
       C::NOT_FOUND, "scores_path"},
      {"prune missing text", prune([](auto& r) { r.mutable_calibration()->set_text_path("/nonexistent/t.txt"); }),
       C::NOT_FOUND, "calibration.text_path"},
      {"prune bad context", prune([](auto& r) { r.mutable_calibration()->set_context(-3); }), C::INVALID_ARGUMENT,
       "calibration.context"},
      {"prune without output_dir", prune([](auto& r) { r.clear_output_dir(); }), C::INVALID_ARGUMENT, "output_dir"},
      {"prune into a non-empty dir", prune([&](auto& r) { r.set_output_dir(occupied); }), C::ALREADY_EXISTS,
       "output_dir"},
  };
  auto admin = server.adminStub();
  // A good request runs throughout and must not notice.
  auto good = std::async(std::launch::async, [&server] {
    auto stub = server.stub();
    return runStream(*stub, greedyRequest(promptIds(5, 1), 200));
  });
  for (const BadAdminCall& c : table) {
    grpc::Status s = c.run(*admin);
    EXPECT_EQ(s.error_code(), c.code) << c.name << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(c.mentions), std::string::npos) << c.name << ": " << s.error_message();
  }
  StreamResult g = good.get();
  ASSERT_TRUE(g.status.ok()) << g.status.error_message();
  EXPECT_EQ(g.tokens.size(), 200u);
  EXPECT_FALSE(fs::exists(fresh)) << "a refused prune wrote its output";
  ASSERT_EQ(server.engine().listModels().size(), 1u);
  EXPECT_EQ(server.engine().listModels()[0].path, tinyModelDir());
  UnaryResult after = runUnary(*server.stub(), greedyRequest(promptIds(4, 2), 4));
  EXPECT_TRUE(after.status.ok()) << after.status.error_message();
}

}  // namespace
}  // namespace mamba::rpctest
