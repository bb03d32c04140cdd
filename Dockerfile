# svcproxy container image for deploy/daemonset.yaml and deploy/bpf/daemonset.yaml (Debian 12,
# as CI builds and tests on; built with the bpf dataplane, or not at all).
#   docker build -t svcproxy:0.1.0 .
# Stage 1 builds the binary with meson (CI runs the tests; cmocka and python3 are there only
# because configuring the tree looks for them). Stage 2 holds the binary and exactly the
# Debian packages of the shared libraries it links, found with ldd + dpkg -S at build time,
# so the image follows meson.build's dependencies without a second list to keep in step.
FROM debian:bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        meson ninja-build pkg-config gcc libc6-dev clang bpftool \
        libnftnl-dev libmnl-dev libyaml-dev libmicrohttpd-dev \
        libcurl4-openssl-dev libnetfilter-conntrack-dev libcap-dev libseccomp-dev \
        libbpf-dev libcmocka-dev python3 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN meson setup /build --buildtype=release -Dwerror=true -Dbpf=enabled --prefix=/usr \
    && ninja -C /build svcproxy \
    && install -D -m 0755 /build/svcproxy /out/usr/bin/svcproxy \
    && for lib in $(ldd /build/svcproxy | awk '$3 ~ /^\// { print $3 }'); do \
           dpkg -S "$lib" 2>/dev/null || dpkg -S "${lib#/usr}" 2>/dev/null \
           || dpkg -S "/usr$lib"; \
       done | cut -d: -f1 | sort -u > /out/runtime-packages

FROM debian:bookworm-slim
COPY --from=build /out/runtime-packages /tmp/runtime-packages
# ca-certificates: --master without a kubeconfig trusts the system CAs; nftables and
# conntrack: `nft` and `conntrack` for inspection (svcproxy itself talks netlink).
RUN apt-get update && apt-get install -y --no-install-recommends \
        $(cat /tmp/runtime-packages) ca-certificates nftables conntrack \
    && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages
COPY --from=build /out/usr/bin/svcproxy /usr/bin/svcproxy
ENTRYPOINT ["/usr/bin/svcproxy"]
CMD ["run", "--config=/var/lib/svcproxy/config.conf"]
