# Torch-free safetensors reader/writer and checkpoint-directory loader.
# Included from server/model/CMakeLists.txt.
add_library(mamba_safetensors STATIC
  ${CMAKE_CURRENT_LIST_DIR}/safetensors.cc
  ${CMAKE_CURRENT_LIST_DIR}/safetensors_index.cc)
target_link_libraries(mamba_safetensors PUBLIC mamba_common PRIVATE nlohmann_json::nlohmann_json)
