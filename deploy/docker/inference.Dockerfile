# syntax=docker/dockerfile:1.7
# The inference service: ONNX Runtime, tokenizers and numpy, never torch (a build step checks).
# Build from the repository root:
#   docker build -f deploy/docker/inference.Dockerfile -t registry.example.com/sft-foundry/inference:0.1.0 .
# LOCK=gpu (default) installs the hashed lock requirements/gpu.txt: onnxruntime-gpu with the CUDA and
# cuDNN libraries it names (the driver comes from the node); --build-arg LOCK=infer builds the CPU
# variant (tag 0.1.0-cpu).
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1

FROM ${PYTHON_IMAGE} AS build
ARG LOCK=gpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PATH=/opt/foundry/bin:$PATH
RUN python -m venv /opt/foundry
WORKDIR /src
COPY pyproject.toml README.md ./
COPY requirements ./requirements
COPY services ./services
RUN pip install --no-deps --require-hashes -r "requirements/${LOCK}.txt" \
 && pip install --no-deps --no-build-isolation . \
 && pip check \
 && python -c "import importlib.util as u, sys; bad = [m for m in ('torch', 'transformers') if u.find_spec(m)]; sys.exit(f'{bad} must not be in the inference image' if bad else 0)" \
 && python -c "import foundry.inference.__main__"  # the service's whole import graph is installed

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="sft-foundry-inference" \
      org.opencontainers.image.description="SFT Foundry inference service (ONNX Runtime, no torch)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 foundry \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin foundry \
 && install -d -o 10001 -g 10001 /var/lib/foundry
COPY --from=build /opt/foundry /opt/foundry
ARG NV=/opt/foundry/lib/python3.11/site-packages/nvidia
ENV PATH=/opt/foundry/bin:$PATH \
    LD_LIBRARY_PATH=${NV}/cublas/lib:${NV}/cuda_runtime/lib:${NV}/cudnn/lib:${NV}/cufft/lib:${NV}/curand/lib:${NV}/cuda_nvrtc/lib \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    FOUNDRY_GRPC_HOST=0.0.0.0 \
    FOUNDRY_HOME_DIR=/var/lib/foundry
USER 10001:10001
WORKDIR /var/lib/foundry
EXPOSE 50055 9105
ENTRYPOINT ["python", "-m"]
CMD ["foundry.inference"]
