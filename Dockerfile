# syntax=docker/dockerfile:1
# One image for every Node service of the stack (gateway and the four
# subgraphs); docker-compose.yml picks the service with `command`.
FROM node:20-bookworm-slim

# Nothing phones home: no Apollo/Turbo telemetry, no npm update checks.
ENV APOLLO_TELEMETRY_DISABLED=true \
    TURBO_TELEMETRY_DISABLED=1 \
    DO_NOT_TRACK=1 \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

WORKDIR /app

# Package manifests first, so the dependency layer is rebuilt only when
# they change. The services run their TypeScript through `tsx` (a runtime
# dependency); docker-compose.yml sets NODE_ENV=production at run time.
COPY package.json package-lock.json ./
COPY platform/package.json platform/
COPY gateway/package.json gateway/
COPY launcher/package.json launcher/
COPY bench/package.json bench/
COPY subgraphs/core/package.json subgraphs/core/
COPY subgraphs/sports/package.json subgraphs/sports/
COPY subgraphs/entertainment/package.json subgraphs/entertainment/
COPY subgraphs/parks/package.json subgraphs/parks/
RUN --mount=type=cache,target=/root/.npm npm ci

COPY . .

# The gateway serves the committed schema/supergraph.graphql; a test keeps
# it in step with the subgraph SDLs, so the image does not recompose it.

# The code stays owned by root; the services run as the unprivileged
# `node` user and cannot change it.
USER node

EXPOSE 4000 4001 4002 4003 4004
CMD ["npm", "run", "start:gateway"]
