#include "server/metrics/serving_metrics.h"

#include "server/metrics/buckets.h"

namespace mamba::metrics {

StatusOr<std::unique_ptr<ServingMetrics>> ServingMetrics::create(Registry& registry) {
  std::unique_ptr<ServingMetrics> m(new ServingMetrics());
  const std::vector<std::string> mv = {"model", "variant"};
  const auto lat = defaultLatencyBuckets();
  MAMBA_ASSIGN_OR_RETURN(m->ttft_, registry.histogram("mamba_request_ttft_seconds",
      "Time to first token: from arrival to the first generated token, in seconds.", mv, lat));
  MAMBA_ASSIGN_OR_RETURN(m->tpot_, registry.histogram("mamba_request_tpot_seconds",
      "Mean time per output token after the first, per request, in seconds.", mv, lat));
  MAMBA_ASSIGN_OR_RETURN(m->interToken_, registry.histogram("mamba_inter_token_seconds",
      "Time between consecutive generated tokens of a request, in seconds.", mv, lat));
  MAMBA_ASSIGN_OR_RETURN(m->e2e_, registry.histogram("mamba_request_e2e_seconds",
      "End-to-end request latency, from arrival to the final token, in seconds.", mv, lat));
  MAMBA_ASSIGN_OR_RETURN(m->queue_, registry.histogram("mamba_request_queue_seconds",
      "Time a request waited for a state slot before prefill, in seconds.", mv, lat));
  MAMBA_ASSIGN_OR_RETURN(m->prefillBatch_, registry.histogram("mamba_prefill_batch_seconds",
      "Duration of one prefill batch (or chunk), in seconds.", mv, lat));
  MAMBA_ASSIGN_OR_RETURN(m->decodeStep_, registry.histogram("mamba_decode_step_seconds",
      "Duration of one batched decode step, in seconds (pipelined steps: from the step's start, "
      "or the previous step's end if later, to its end).", mv, lat));
  MAMBA_ASSIGN_OR_RETURN(m->batchSize_, registry.histogram("mamba_batch_size",
      "Sequences per decode step.", mv, batchSizeBuckets()));
  MAMBA_ASSIGN_OR_RETURN(m->requests_, registry.counter("mamba_requests_total",
      "Finished requests by final status code.", {"model", "variant", "status"}));
  MAMBA_ASSIGN_OR_RETURN(m->promptTokens_, registry.counter("mamba_prompt_tokens_total",
      "Prompt tokens processed.", mv));
  MAMBA_ASSIGN_OR_RETURN(m->generationTokens_, registry.counter("mamba_generation_tokens_total",
      "Tokens generated.", mv));
  MAMBA_ASSIGN_OR_RETURN(m->running_, registry.gauge("mamba_requests_running",
      "Requests holding a state slot (prefilling or decoding).", mv));
  MAMBA_ASSIGN_OR_RETURN(m->waiting_, registry.gauge("mamba_requests_waiting",
      "Requests queued for a state slot.", mv));
  MAMBA_ASSIGN_OR_RETURN(m->slotsUsed_, registry.gauge("mamba_state_slots_used",
      "State slots in use.", mv));
  MAMBA_ASSIGN_OR_RETURN(m->slotsCapacity_, registry.gauge("mamba_state_slots_capacity",
      "State slots in the pool.", mv));
  MAMBA_ASSIGN_OR_RETURN(m->stateBytes_, registry.gauge("mamba_state_bytes_per_sequence",
      "Recurrent (SSM and conv) state size of one sequence, in bytes.", mv));
  MAMBA_ASSIGN_OR_RETURN(m->modelLoads_, registry.counter("mamba_model_loads_total",
      "Model loads at run time (admin hot swaps) by result: loaded, replaced, unloaded, failed.",
      {"model", "variant", "result"}));
  return m;
}

void ServingMetrics::modelLoad(const std::string& model, const std::string& variant, const std::string& result) {
  auto counter = modelLoads_->withLabels({model, variant, result});
  if (counter.isOk()) (*counter)->inc();
}

StatusOr<const ModelMetrics*> ServingMetrics::forModel(const std::string& model,
                                                       const std::string& variant) {
  std::lock_guard lock(mutex_);
  auto key = std::make_pair(model, variant);
  if (auto it = models_.find(key); it != models_.end()) return it->second.get();
  const std::vector<std::string> mv = {model, variant};
  auto mm = std::make_unique<ModelMetrics>();
  MAMBA_ASSIGN_OR_RETURN(mm->ttft, ttft_->withLabels(mv));
  MAMBA_ASSIGN_OR_RETURN(mm->tpot, tpot_->withLabels(mv));
  MAMBA_ASSIGN_OR_RETURN(mm->interToken, interToken_->withLabels(mv));
  MAMBA_ASSIGN_OR_RETURN(mm->e2e, e2e_->withLabels(mv));
  MAMBA_ASSIGN_OR_RETURN(mm->queue, queue_->withLabels(mv));
  MAMBA_ASSIGN_OR_RETURN(mm->prefillBatch, prefillBatch_->withLabels(mv));
  MAMBA_ASSIGN_OR_RETURN(mm->decodeStep, decodeStep_->withLabels(mv));
  MAMBA_ASSIGN_OR_RETURN(mm->batchSize, batchSize_->withLabels(mv));
  MAMBA_ASSIGN_OR_RETURN(mm->promptTokens, promptTokens_->withLabels(mv));
  MAMBA_ASSIGN_OR_RETURN(mm->generationTokens, generationTokens_->withLabels(mv));
  MAMBA_ASSIGN_OR_RETURN(mm->running, running_->withLabels(mv));
  MAMBA_ASSIGN_OR_RETURN(mm->waiting, waiting_->withLabels(mv));
  MAMBA_ASSIGN_OR_RETURN(mm->slotsUsed, slotsUsed_->withLabels(mv));
  MAMBA_ASSIGN_OR_RETURN(mm->slotsCapacity, slotsCapacity_->withLabels(mv));
  MAMBA_ASSIGN_OR_RETURN(mm->stateBytesPerSequence, stateBytes_->withLabels(mv));
  for (int c = 0; c < kNumStatusCodes; ++c) {
    MAMBA_ASSIGN_OR_RETURN(mm->requestsByCode[static_cast<size_t>(c)],
                           requests_->withLabels({model, variant,
                                                  statusCodeName(static_cast<StatusCode>(c))}));
  }
  const ModelMetrics* raw = mm.get();
  models_.emplace(std::move(key), std::move(mm));
  return raw;
}

}  // namespace mamba::metrics
