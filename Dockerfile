# The server's image: built in one stage, run in another as a non-root user.
#
#   docker build -t crm .
#   docker run --rm -e DATABASE_URL=postgres://postgres@db:5432/crm -p 8080:8080 crm
#
# The image holds the `crm` binary only; it migrates the database on start (`crm serve`)
# or once (`crm migrate`, as the `migrate` service of docker-compose.yml does).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin crm \
 && cp target/release/crm /usr/local/bin/crm

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin crm
COPY --from=build /usr/local/bin/crm /usr/local/bin/crm
USER 10001:10001
WORKDIR /tmp
# Listen on every interface of the container; no private-cluster fallback in an image.
ENV CRM_SERVER__HOST=0.0.0.0 \
    CRM_SERVER__PORT=8080 \
    CRM_DATABASE__PRIVATE_CLUSTER_DIR=
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/crm"]
CMD ["serve"]
