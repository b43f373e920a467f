# syntax=docker/dockerfile:1
# Quartet container image: one binary for the four Ory roles.
#
#   docker build -t quartet .
#   docker run --rm -p 4433:4433 -p 4444:4444 -p 4455:4455 -p 4466:4466 \
#       -v $PWD/my-quartet.yml:/etc/quartet/quartet.yml:ro -e DSN=postgres://... quartet
#
# The image's default config (deploy/docker/quartet.yml) keeps its data in SQLite under
# /var/lib/quartet; mount your own config at /etc/quartet/quartet.yml for anything real.

# --- build ---------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the crates.io index and the target dir between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin quartet \
    && install -D -m 0755 target/release/quartet /out/quartet

# --- runtime -------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 quartet \
    && useradd --system --uid 10001 --gid quartet --home-dir /var/lib/quartet \
        --shell /usr/sbin/nologin quartet \
    && install -d -o quartet -g quartet -m 0750 /var/lib/quartet \
    && install -d -m 0755 /etc/quartet
COPY --from=build /out/quartet /usr/local/bin/quartet
COPY deploy/docker/quartet.yml deploy/docker/identity.schema.json /etc/quartet/
USER 10001:10001
WORKDIR /var/lib/quartet
# identity 4433 public / 4434 admin; oauth2 4444 public / 4445 admin;
# permission 4466 read / 4467 write / 4468 metrics / 4469 OPL; proxy 4455 proxy / 4456 API
EXPOSE 4433 4434 4444 4445 4455 4456 4466 4467 4468 4469
STOPSIGNAL SIGTERM
ENTRYPOINT ["quartet"]
CMD ["serve", "-c", "/etc/quartet/quartet.yml"]
