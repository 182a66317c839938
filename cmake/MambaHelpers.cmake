# add_gtest(<target> SOURCES <files...> LIBS <libs...> [LABELS <labels...>] [FIXTURES <names...>]
#           [ENVIRONMENT <VAR=value...>])
# One test binary per layer (few binaries keep LibTorch link times down); every TEST() in it
# becomes its own ctest entry through gtest_discover_tests. Every binary reports a crash with
# the running test's name (tests/common/crash_backtrace.cc; exported symbols name more
# frames) and links tests/common's mamba_test_support (temporary directories, removeTree,
# ports, processes).
include(GoogleTest)
function(add_gtest target)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS;FIXTURES;ENVIRONMENT" ${ARGN})
  add_executable(${target} ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE ${ARG_LIBS} mamba_test_support mamba_test_crash_backtrace GTest::gtest
                                          GTest::gtest_main Threads::Threads)
  set_target_properties(${target} PROPERTIES ENABLE_EXPORTS ON)
  target_compile_definitions(${target} PRIVATE
    MAMBA_SOURCE_DIR="${PROJECT_SOURCE_DIR}" MAMBA_BINARY_DIR="${PROJECT_BINARY_DIR}")
  set(props "")
  if(ARG_LABELS)
    list(APPEND props LABELS "${ARG_LABELS}")
  endif()
  if(ARG_FIXTURES)
    list(APPEND props FIXTURES_REQUIRED "${ARG_FIXTURES}")
  endif()
  if(ARG_ENVIRONMENT)
    list(APPEND props ENVIRONMENT "${ARG_ENVIRONMENT}")
  endif()
  gtest_discover_tests(${target} DISCOVERY_TIMEOUT 60 PROPERTIES ${props})
endfunction()

# add_layer_dirs(DIRS <folders...> SERVER_ONLY <folders...>)
# add_subdirectory() for each folder (relative to the calling CMakeLists.txt) that has a
# CMakeLists.txt, in the given (dependency) order; SERVER_ONLY folders only with
# MAMBA_BUILD_SERVER (they need gRPC/Protobuf), and `kernels` only with MAMBA_WITH_CUDA.
function(add_layer_dirs)
  cmake_parse_arguments(ARG "" "" "DIRS;SERVER_ONLY" ${ARGN})
  foreach(dir ${ARG_DIRS})
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/CMakeLists.txt)
      continue()
    endif()
    if(dir IN_LIST ARG_SERVER_ONLY AND NOT MAMBA_BUILD_SERVER)
      continue()
    endif()
    if(dir STREQUAL "kernels" AND NOT MAMBA_WITH_CUDA)
      continue()
    endif()
    add_subdirectory(${dir})
  endforeach()
endfunction()
