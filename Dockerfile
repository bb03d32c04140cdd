# svcproxy container image for deploy/daemonset.yaml (Debian 12, as CI builds and tests on).
#   docker build -t svcproxy:0.1.0 .
# Stage 1 builds with meson; stage 2 holds the binary and its runtime libraries only.
FROM debian:bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        meson ninja-build pkg-config gcc libc6-dev \
        libnftnl-dev libmnl-dev libfyaml-dev libmicrohttpd-dev libjansson-dev \
        libnetfilter-conntrack-dev libcmocka-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN meson setup /build --buildtype=release -Dwerror=true --prefix=/usr \
    && ninja -C /build svcproxy \
    && meson test -C /build --suite unit --print-errorlogs \
    && install -D -m 0755 /build/svcproxy /out/usr/bin/svcproxy

FROM debian:bookworm-slim
# nftables: `nft` for inspection (svcproxy itself talks netlink); conntrack: the same.
RUN apt-get update && apt-get install -y --no-install-recommends \
        libnftnl11 libmnl0 libfyaml0 libmicrohttpd12 libjansson4 \
        libnetfilter-conntrack3 nftables conntrack \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /
ENTRYPOINT ["/usr/bin/svcproxy"]
CMD ["run", "--config=/var/lib/svcproxy/config.conf"]
