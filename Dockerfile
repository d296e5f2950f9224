# syntax=docker/dockerfile:1
# berth's container image. Build: docker build -t berth . ; run: see manifests/compose.yaml and docs/deploy.md.

# --- build: all dependencies, TypeScript compiled to dist/ (and each workspace package's to its own dist/) -------
FROM node:24-bookworm-slim AS build
WORKDIR /app
# npm ci links the workspace packages (packages/*), so their package.json files come before it.
COPY package.json package-lock.json ./
COPY packages/slack-emulator/package.json ./packages/slack-emulator/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY commands ./commands
COPY packages ./packages
RUN npm run build

# --- deps: production dependencies only, so no compiler or test tool reaches the runtime image ------------------
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/slack-emulator/package.json ./packages/slack-emulator/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime ----------------------------------------------------------------------------------------------------
FROM node:24-bookworm-slim
WORKDIR /app
# A fixed, non-root uid that no host user is likely to share; Kubernetes' runAsUser and fsGroup name the same one.
RUN groupadd --gid 10001 berth \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin berth \
 && mkdir /data && chown 10001:10001 /data
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json package-lock.json ./
# The Slack emulator, which the playground (no Slack credentials) runs on: node_modules/@berth/slack-emulator links
# here, and the start flag `--conditions=berth-compiled` picks its compiled dist/ over its TypeScript sources.
COPY packages ./packages
COPY --from=build /app/packages/slack-emulator/dist ./packages/slack-emulator/dist
COPY manifests ./manifests
# The operator CLI (bin/berth.js) runs its TypeScript directly with Node's type stripping, like `npx berth` in a
# checkout: `docker exec berth node bin/berth.js audit verify`.
COPY bin ./bin
COPY src ./src
COPY commands ./commands
# The embedded store (SQLite) and log spool: the only place berth writes.
ENV BERTH_DATA_DIR=/data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 3000
# Healthy while berth answers /healthz ({"ok":true}, nothing more without a token); one unreachable remote engine
# does not fail it (docs/security.md "Health and metrics endpoints").
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The same flags as `npm start`: a small young generation keeps the resident memory low (docs/benchmarks.md), and
# workspace packages load compiled, since stripping types at run time costs memory too.
ENTRYPOINT ["node", "--max-semi-space-size=1", "--conditions=berth-compiled", "dist/src/main.js"]
