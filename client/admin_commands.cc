// admin load | unload | prune: the Admin service (hot swap, unload, prune-and-swap). The
// response is printed as JSON (protobuf's JSON mapping, field names as in admin.proto).
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <iostream>

#include "client/admin_commands.h"
#include "client/call_deadline.h"
#include "client/channel.h"
#include "client/cli_error.h"
#include "client/flag_file.h"
#include "mamba/serving/v1/admin.grpc.pb.h"

namespace mamba::client {
namespace {

namespace pb = ::mamba::serving::v1;

void printJson(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &text, options);
  std::cout << text << std::flush;
}

// The token in `path` without surrounding whitespace (as mamba-server reads admin.token_file).
std::string readToken(const std::string& path) {
  const std::string t = readFlagFile(path, "--token-file");
  const char* space = " \t\r\n";
  const size_t begin = t.find_first_not_of(space);
  if (begin == std::string::npos) throw CliError("--token-file: '" + path + "' is empty");
  return t.substr(begin, t.find_last_not_of(space) - begin + 1);
}

}  // namespace

void addAdminCommands(CLI::App& app, AdminOptions* o) {
  auto* admin = app.add_subcommand("admin", "the Admin service: hot swap (load), unload, prune")->require_subcommand(1);
  o->command = admin;
  admin->add_option("--admin-target", o->target, "Admin service address HOST:PORT")->capture_default_str();
  admin->add_option("--token-file", o->tokenFile,
                    "file holding the server's admin token (mamba-server --admin-token-file)");

  auto* load = admin->add_subcommand("load", "load a checkpoint as (model, variant); replaces a hosted one atomically");
  o->load = load;
  load->add_option("--model", o->model, "model name")->required();
  load->add_option("--variant", o->variant, "dense | masked | compacted (default dense)");
  load->add_option("--path", o->path, "checkpoint directory on the server")->required();
  load->add_option_function<std::string>("--dtype", [o](const std::string& v) { o->dtype = v; }, "fp32 | bf16 | fp16");
  load->add_option_function<std::string>("--state-dtype", [o](const std::string& v) { o->stateDtype = v; }, "fp32 | bf16");
  load->add_option_function<std::string>("--device", [o](const std::string& v) { o->device = v; }, "cpu | cuda[:N]");
  load->add_option_function<int32_t>("--slots", [o](int32_t v) { o->slots = v; }, "concurrent sequences");
  load->add_option("--tokenizer", o->tokenizer, "tokenizer.json on the server (default <path>/tokenizer.json)");

  auto* unload = admin->add_subcommand("unload", "stop hosting (model, variant) once its requests finish");
  o->unload = unload;
  unload->add_option("--model", o->model, "model name")->required();
  unload->add_option("--variant", o->variant, "variant")->required();

  auto* prune = admin->add_subcommand("prune", "prune a hosted model's SSM states and hot-swap the result in");
  o->prune = prune;
  prune->add_option("--model", o->model, "hosted model")->required();
  prune->add_option("--source-variant", o->sourceVariant, "variant to prune (default dense)");
  prune->add_option("--ratio", o->ratio, "fraction of states removed, in [0, 1)")->required();
  prune->add_option("--method", o->method, "delta_b | output | weight | random (default delta_b)");
  prune->add_option("--mode", o->mode, "per-layer | global (default per-layer)");
  prune->add_option("--variant", o->variant, "compacted | masked (default compacted)");
  prune->add_option("--scores", o->scoresPath, "scores.json from mamba-tool calibrate (on the server)");
  prune->add_option("--calibration-text", o->calibrationText, "calibrate on this text file (on the server)");
  prune->add_option("--calibration-tokens", o->calibrationTokens, "first tokens only (0: all)");
  prune->add_option("--calibration-context", o->calibrationContext, "window length (default 512)");
  prune->add_option("--calibration-batch", o->calibrationBatch, "windows per prefill (default 4)");
  prune->add_option("--seed", o->seed, "seed of the random method");
  prune->add_option("--out", o->outputDir, "output directory on the server (absent or empty)")->required();
  prune->add_flag("--no-load", o->noLoad, "write the checkpoint only; do not hot-swap it in");
}

int runAdmin(const AdminOptions& o, double timeoutSeconds, const ConnectOptions& connect) {
  auto channel = connectedChannel(o.target, connect);
  auto stub = pb::Admin::NewStub(channel);
  grpc::ClientContext ctx;
  setTimeout(&ctx, timeoutSeconds);
  if (!o.tokenFile.empty()) ctx.AddMetadata("authorization", "Bearer " + readToken(o.tokenFile));
  if (o.load && o.load->parsed()) {
    pb::LoadModelRequest req;
    req.set_model(o.model);
    req.set_variant(o.variant);
    req.set_path(o.path);
    if (o.dtype) req.set_dtype(*o.dtype);
    if (o.stateDtype) req.set_state_dtype(*o.stateDtype);
    if (o.device) req.set_device(*o.device);
    if (o.slots) req.set_slots(*o.slots);
    req.set_tokenizer(o.tokenizer);
    pb::LoadModelResponse resp;
    grpc::Status s = stub->LoadModel(&ctx, req, &resp);
    if (!s.ok()) throw CliError("LoadModel: " + describe(s));
    printJson(resp);
    return 0;
  }
  if (o.unload && o.unload->parsed()) {
    pb::UnloadModelRequest req;
    req.set_model(o.model);
    req.set_variant(o.variant);
    pb::UnloadModelResponse resp;
    grpc::Status s = stub->UnloadModel(&ctx, req, &resp);
    if (!s.ok()) throw CliError("UnloadModel: " + describe(s));
    std::cout << "unloaded " << o.model << " (" << o.variant << ")\n";
    return 0;
  }
  pb::PruneModelRequest req;
  req.set_model(o.model);
  req.set_source_variant(o.sourceVariant);
  req.set_ratio(o.ratio);
  req.set_method(o.method);
  req.set_mode(o.mode);
  req.set_variant(o.variant);
  if (!o.scoresPath.empty() && !o.calibrationText.empty()) {
    throw CliError("admin prune: give --scores or --calibration-text, not both");
  }
  if (!o.scoresPath.empty()) {
    req.set_scores_path(o.scoresPath);
  } else if (!o.calibrationText.empty()) {
    pb::CalibrationSpec* c = req.mutable_calibration();
    c->set_text_path(o.calibrationText);
    c->set_max_tokens(o.calibrationTokens);
    c->set_context(o.calibrationContext);
    c->set_batch(o.calibrationBatch);
    c->set_seed(o.seed);
  } else {
    throw CliError("admin prune: give --scores FILE or --calibration-text FILE");
  }
  req.set_output_dir(o.outputDir);
  req.set_load(!o.noLoad);
  pb::PruneModelResponse resp;
  grpc::Status s = stub->PruneModel(&ctx, req, &resp);
  if (!s.ok()) throw CliError("PruneModel: " + describe(s));
  printJson(resp);
  return 0;
}

}  // namespace mamba::client
