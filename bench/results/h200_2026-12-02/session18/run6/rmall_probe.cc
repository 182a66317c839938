#include <cstdint>
#include <cstdio>
#include <filesystem>
namespace fs = std::filesystem;
int main() {
  fs::create_directories("/tmp/rmall_test/a/b");
  std::error_code ec;
  auto n = fs::remove_all("/tmp/rmall_test", ec);
  std::printf("removed %ju ec=%d\n", (uintmax_t)n, ec.value());
}
