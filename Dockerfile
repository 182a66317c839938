# mamba-server image: the server, mamba-cli, mamba-tool and the default model (mamba2-ref).
#
# CPU image (default; Debian 12, the same packages as scripts/setup.sh):
#   docker build -t mamba-server .
#   docker run --rm -p 50051:50051 -p 9400:9400 mamba-server
# GPU image (CUDA 13 base images; the kernels are built for sm_80 and sm_90):
#   docker build -t mamba-server:cuda \
#     --build-arg BUILD_BASE=nvidia/cuda:13.0.0-cudnn-devel-ubuntu24.04 \
#     --build-arg RUN_BASE=nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04 \
#     --build-arg WITH_CUDA=ON .
#   docker run --rm --gpus all -p 50051:50051 -p 9400:9400 mamba-server:cuda --device cuda --dtype bf16
#
# Ports: 50051 gRPC inference, 9400 Prometheus /metrics, 50052 the Admin service (hot swap,
# prune: publish it only on a trusted network). The entrypoint listens on 0.0.0.0; any
# mamba-server flag can be appended (docker run ... mamba-server --slots 32).
# The runtime stage carries the server's shared libraries copied from the build stage (ldd),
# so it needs no -dev packages and no Python; LibTorch comes from the PyPI torch wheel as in
# scripts/setup.sh.
ARG BUILD_BASE=debian:12
ARG RUN_BASE=debian:12-slim

FROM ${BUILD_BASE} AS build
ARG WITH_CUDA=OFF
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      build-essential cmake ninja-build ccache pkg-config git python3-venv ca-certificates \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libyaml-cpp-dev libutf8proc-dev nlohmann-json3-dev libgtest-dev libgmock-dev \
      libcpp-httplib-dev libcli11-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# scripts/setup.sh without apt (done above): the venv with the torch wheel, then the build.
RUN SKIP_APT=1 MAMBA_CMAKE_ARGS="-DMAMBA_BUILD_TESTS=OFF -DMAMBA_WITH_CUDA=${WITH_CUDA} -DCMAKE_INSTALL_PREFIX=/opt/mamba" \
      scripts/setup.sh \
    && cmake --install build \
    && mkdir -p /opt/mamba/lib \
    && . scripts/env.sh \
    && for b in /opt/mamba/bin/*; do ldd "$b"; done \
       | awk '$3 ~ /^\// {print $3}' | sort -u \
       | grep -v -E '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*)\.so' \
       | xargs -r cp -L -t /opt/mamba/lib

FROM ${RUN_BASE}
RUN useradd --system --uid 10001 --home /var/lib/mamba --create-home mamba
COPY --from=build /opt/mamba /opt/mamba
ENV PATH=/opt/mamba/bin:$PATH \
    LD_LIBRARY_PATH=/opt/mamba/lib \
    MAMBA_DEFAULT_MODEL=/opt/mamba/share/mamba/models/mamba2-ref
USER mamba
WORKDIR /var/lib/mamba
EXPOSE 50051 50052 9400
# Liveness: grpc.health.v1 through the bundled client.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s CMD ["mamba-cli", "--connect-timeout", "2", "health"]
ENTRYPOINT ["mamba-server", "--listen", "0.0.0.0:50051", "--metrics-listen", "0.0.0.0:9400", \
            "--admin-listen", "0.0.0.0:50052"]
