#include "server/tokenizer/utf8_stream_decoder.h"

#include "server/common/utf8.h"

namespace mamba {

std::string Utf8StreamDecoder::push(std::string_view bytes) {
  std::string data;
  if (!pending_.empty()) {
    data.reserve(pending_.size() + bytes.size());
    data.append(pending_);
    data.append(bytes);
    pending_.clear();
    bytes = data;
  }
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    const utf8::Scan s = utf8::scanAt(bytes, pos);
    if (s.kind == utf8::Scan::kTruncated) {
      pending_.assign(bytes.substr(pos));
      break;
    }
    if (s.kind == utf8::Scan::kValid) {
      out.append(bytes.substr(pos, s.length));
    } else {
      out.append(utf8::kReplacementUtf8);
    }
    pos += s.length;
  }
  return out;
}

std::string Utf8StreamDecoder::finish() {
  std::string out;
  if (!pending_.empty()) out.assign(utf8::kReplacementUtf8);
  pending_.clear();
  return out;
}

}  // namespace mamba
