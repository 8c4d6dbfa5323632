# syntax=docker/dockerfile:1
# The fine-tuning image: the gateway's sources (for `medseg finetune`, which encodes through Triton and
# publishes into the model repository) on a CUDA PyTorch image (for trainer/). Build from the repository root:
#   docker build -f deploy/finetune.Dockerfile -t medseg-finetune:0.1.0 .
# Pinned: PyTorch 2.5.1 with CUDA 12.4; the trainer also runs on Debian's CPU torch 1.13 (CI).
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime
ENV DEBIAN_FRONTEND=noninteractive \
  ONNXRUNTIME_NODE_INSTALL=skip \
  TRAINER_PYTHON=python \
  NODE_ENV=production
RUN apt-get update \
  && apt-get install -y --no-install-recommends curl ca-certificates xz-utils make g++ \
  && curl -fsSL https://nodejs.org/dist/v20.19.0/node-v20.19.0-linux-x64.tar.xz | tar -xJ -C /usr/local --strip-components=1 \
  && pip install --no-cache-dir onnx==1.17.0 \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY gateway ./gateway
COPY proto ./proto
COPY schema ./schema
COPY trainer ./trainer
USER 1000
