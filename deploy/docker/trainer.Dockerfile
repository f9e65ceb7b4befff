# syntax=docker/dockerfile:1.7
# The trainer (worker) image: CUDA torch and the training stack. The training service's
# KubernetesExecutor runs it as Jobs: `python -m foundry.training.worker --job-id ID`, or torchrun.
# Build from the repository root:
#   docker build -f deploy/docker/trainer.Dockerfile -t registry.example.com/sft-foundry/trainer:0.1.0 .
# Every package but torch comes from the hashed lock requirements/trainer.txt (extra train).
# CUDA comes from the torch wheels' nvidia-* dependencies (the driver from the node). A CPU trainer
# (the dev overlay): --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu, tag 0.1.0-cpu.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ARG LOCK=trainer
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PATH=/opt/foundry/bin:$PATH
RUN python -m venv /opt/foundry
WORKDIR /src
COPY pyproject.toml README.md ./
COPY requirements ./requirements
COPY services ./services
RUN pip install --index-url "$TORCH_INDEX_URL" "$TORCH_SPEC" \
 && pip install --no-deps --require-hashes -r "requirements/${LOCK}.txt" \
 && pip install --no-deps --no-build-isolation . \
 && pip check \
 && python -c "import torch, torch.distributed.run; print('torch', torch.__version__, 'cuda', torch.version.cuda)"

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="sft-foundry-trainer" \
      org.opencontainers.image.description="SFT Foundry training worker (torch, torchrun)" \
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
    FOUNDRY_HOME_DIR=/var/lib/foundry
USER 10001:10001
WORKDIR /var/lib/foundry
# no ENTRYPOINT: the Job gives the command (python -m foundry.training.worker ... or torchrun ...)
CMD ["python", "-m", "foundry.training.worker", "--help"]
