# syntax=docker/dockerfile:1
# pgmill daemon image: production dependencies only, non-root, tini as PID 1
# so SIGTERM reaches node and pgmill drains before the pod goes away.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts also skips the `node` devDependency's download: no
# node_modules/.bin/node, so tsc runs on this image's own Node 24.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:24-bookworm-slim AS production-deps
WORKDIR /app
COPY package.json package-lock.json ./
# No dev tools, and no embedded Postgres: in production DATABASE_URL is required.
RUN npm ci --omit=dev --ignore-scripts

FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=production-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY sql ./sql
COPY crontab ./crontab
USER node
EXPOSE 8080
# Node 24's default young generation lets a busy daemon's RSS reach ~280 MB; 16 MB
# semi-spaces keep it near 200 MB at the same throughput (bench/README.md).
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=16", "dist/cli/bin.js"]
CMD ["run"]
