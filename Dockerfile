# The serve image: the cipherscale binary and the servable artifacts of results/paper.
#   cipherscale run experiments/paper.yaml --only artifacts   # writes results/paper/artifacts
#   docker build -t registry.example/cipherscale:0.1 .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY benches benches
RUN cargo build --release --locked --bin cipherscale

FROM debian:bookworm-slim
RUN useradd --uid 10001 --no-create-home cipherscale && mkdir /keys && chown 10001 /keys
COPY --from=build /src/target/release/cipherscale /usr/local/bin/cipherscale
COPY results/paper/artifacts /artifacts
USER 10001
EXPOSE 8080
ENTRYPOINT ["cipherscale"]
CMD ["serve", "--artifacts", "/artifacts/glwe-argmax-4b", "--listen", "0.0.0.0:8080", "--key-store", "/keys/keys.sqlite"]
