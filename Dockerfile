# The paystream binary for docker-compose.yml. Multi-stage: build with the Rust toolchain, run slim.
FROM rust:1.88-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake libssl-dev pkg-config && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin paystream

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/paystream /usr/local/bin/paystream
COPY topology /etc/paystream/topology
ENV PAYSTREAM__TOPOLOGY__DIR=/etc/paystream/topology
USER 65532:65532
ENTRYPOINT ["paystream"]
