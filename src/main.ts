// Process entry point: parse config (a bad value exits with a message naming it), build
// services, serve, and drain gracefully on SIGTERM/SIGINT (a second signal forces exit).
import { ConfigError, loadConfig } from './config.js';
import { fitToOpenFileLimit, readOpenFileLimit } from './http/limits/file-limit.js';
import { ListenError, checkPortFree } from './http/port-check.js';
import { startServer } from './http/server.js';
import { createLogger } from './logger.js';
import { createServices } from './services.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`sluice: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const logger = createLogger(config);
  const openFileLimit = readOpenFileLimit();
  if (openFileLimit !== undefined) {
    const fit = fitToOpenFileLimit({
      openFileLimit,
      maxConnections: config.limits.maxConnections,
      maxOpenFiles: config.maxOpenFiles,
      otherDescriptors: config.dbPoolMax + config.webhookMaxConcurrency,
    });
    if (!fit.ok) {
      process.stderr.write(`sluice: ${fit.message}\n`);
      process.exit(2);
    }
    if (fit.lowered) {
      logger.warn(
        {
          open_file_limit: openFileLimit,
          max_connections: fit.maxConnections,
          max_open_files: fit.maxOpenFiles,
          configured: { max_connections: config.limits.maxConnections, max_open_files: config.maxOpenFiles },
        },
        'SLUICE_MAX_CONNECTIONS and SLUICE_MAX_OPEN_FILES lowered to fit the open-file limit (ulimit -n); raise it to use the configured caps',
      );
      config = {
        ...config,
        maxOpenFiles: fit.maxOpenFiles,
        limits: { ...config.limits, maxConnections: fit.maxConnections },
      };
    }
  }
  const listen = { host: config.host, port: config.port };
  try {
    // Before migrations and log recovery: a port in use is one line, not a stack after a slow start.
    await checkPortFree(listen.host, listen.port);
  } catch (e) {
    if (!(e instanceof ListenError)) throw e;
    process.stderr.write(`sluice: ${e.message}\n`);
    process.exit(1);
  }
  let services;
  try {
    services = await createServices(config, { logger });
  } catch (e) {
    logger.fatal({ err: e }, 'start-up failed');
    process.exitCode = 1;
    return;
  }
  let server;
  try {
    server = await startServer(services, listen);
  } catch (e) {
    // Taken between the check and the bind.
    if (e instanceof ListenError) process.stderr.write(`sluice: ${e.message}\n`);
    else logger.fatal({ err: e }, 'start-up failed');
    await services.close().catch(() => {});
    process.exit(1);
  }

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting without finishing shutdown');
      process.exit(1);
    }
    logger.info({ signal }, 'signal received: draining');
    server.close().then(
      () => process.exit(0),
      (e: unknown) => {
        logger.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

void main();
