# One image for the three Node services (command-api, query-api, projectors) and compose's setup
# and provision steps; each compose service picks its entry point with `command`. TypeScript
# runs through tsx, a runtime dependency, so there is no build stage.
FROM node:24-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

# openssl: docker-compose.yml's setup step makes the cluster's CA and certificates with it.
RUN apt-get update && apt-get install -y --no-install-recommends openssl && rm -rf /var/lib/apt/lists/*

COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY tsconfig.json ./
COPY shared ./shared
COPY schemas ./schemas
COPY command-api ./command-api
COPY query-api ./query-api
COPY projectors ./projectors
COPY infra ./infra

USER node
