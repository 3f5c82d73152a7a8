# reminderd in a container: a multi-stage build, a small non-root runtime image.
#
#   docker build -t reminderd .
#   docker run -d --name reminderd -p 8080:8080 -v reminderd-data:/var/lib/reminderd \
#     -v ./reminderd.toml:/etc/reminderd/reminderd.toml:ro \
#     --secret … (or REMINDERD_*_FILE variables pointing at mounted secrets) reminderd
#
# The image listens on 0.0.0.0:8080 (put a TLS-terminating proxy in front: Meta only
# calls https:// webhooks) and keeps its SQLite database in the /var/lib/reminderd volume.

# the oldest toolchain the locked dependencies accept (Cargo.toml rust-version)
FROM rust:1.89-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so a code change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src target/release/deps/reminderd* target/release/deps/libreminderd*
COPY . .
RUN cargo build --release --locked && strip target/release/reminderd

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/reminderd --shell /usr/sbin/nologin reminderd \
    && install -d -o reminderd -g reminderd -m 0700 /var/lib/reminderd \
    && install -d -m 0755 /etc/reminderd
COPY --from=build /src/target/release/reminderd /usr/local/bin/reminderd
COPY reminder-rules /etc/reminderd/reminder-rules
ENV REMINDERD_CONFIG=/etc/reminderd/reminderd.toml \
    REMINDERD_STATE_DIR=/var/lib/reminderd \
    REMINDERD_RULES_DIR=/etc/reminderd/reminder-rules \
    REMINDERD_SERVER__LISTEN=0.0.0.0:8080 \
    REMINDERD_LOG__FORMAT=json
# An empty config file, so the image starts from defaults + environment alone.
RUN touch /etc/reminderd/reminderd.toml
USER reminderd
WORKDIR /var/lib/reminderd
VOLUME ["/var/lib/reminderd"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/reminderd"]
CMD ["serve"]
