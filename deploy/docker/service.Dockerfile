# syntax=docker/dockerfile:1.7
# The CPU image of the ingestion, augmentation, labeling and training (control plane) services.
# Build from the repository root:
#   docker build -f deploy/docker/service.Dockerfile -t registry.example.com/sft-foundry/service:0.1.0 .
# It carries CPU torch because the training service (and augmentation's masked-LM operator) import
# it; a slimmer image for ingestion and labeling only: --build-arg LOCK=slim --build-arg TORCH_SPEC=
# Every package but torch comes from the hashed lock requirements/$LOCK.txt (extras train,k8s,label).
# The Deployment names the service: args: ["foundry.ingestion"] (python -m foundry.<service>).
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG LOCK=service
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PATH=/opt/foundry/bin:$PATH
RUN python -m venv /opt/foundry
WORKDIR /src
COPY pyproject.toml README.md ./
COPY requirements ./requirements
COPY services ./services
RUN if [ -n "$TORCH_SPEC" ]; then pip install --index-url "$TORCH_INDEX_URL" "$TORCH_SPEC"; fi \
 && pip install --no-deps --require-hashes -r "requirements/${LOCK}.txt" \
 && pip install --no-deps --no-build-isolation . \
 && pip check \
 && python -c "import foundry.ingestion.__main__, foundry.labeling.__main__"  # also in the slim image

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="sft-foundry-service" \
      org.opencontainers.image.description="SFT Foundry gRPC services (CPU)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 foundry \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin foundry \
 && install -d -o 10001 -g 10001 /var/lib/foundry
COPY --from=build /opt/foundry /opt/foundry
ENV PATH=/opt/foundry/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    FOUNDRY_GRPC_HOST=0.0.0.0 \
    FOUNDRY_HOME_DIR=/var/lib/foundry
USER 10001:10001
WORKDIR /var/lib/foundry
EXPOSE 50051 50052 50053 50054 9101 9102 9103 9104
ENTRYPOINT ["python", "-m"]
CMD ["foundry.ingestion"]
